"""api: what users call - export() (export.py), ONNXProgram (program.py), verify, report, verbose
text, the input checks of a run, load_opspecs (user_specs.py). aten2onnx/__init__.py re-exports
the public names.

May import every stage (capture, translate, rewrite, write, torchscript) and codegen's public
pipeline (only when a user loads spec files); not tools.
"""
