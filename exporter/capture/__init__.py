"""capture: a model and its example inputs -> a torch.export ExportedProgram whose ops have mappings.

torch_export.py runs torch.export and decomposes what has no mapping; model_inputs.py flattens the
example inputs; dim_names.py names symbolic dimensions; legacy_dynamic_axes.py and dynamic_hints.py
turn torch.onnx's dynamic_axes into dynamic shapes. May import translate/registry.py (which ops
have a mapping decides what is decomposed), options, rewrite, write, generated, emit and the root
modules; not the rest of translate, torchscript, api or tools (tests/test_layers.py).
"""
