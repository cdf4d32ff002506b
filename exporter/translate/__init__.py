"""translate: an ExportedProgram's FX graph -> an onnx_ir model, one generated function per node.

registry.py is where translation finds an op's function (custom table, custom symbolics, user
specs, generated/); translator.py walks the graph; control_flow.py, complex_values.py,
aten_fallback.py, custom_ops.py and translation_table.py handle what is not one op to one function.
May import capture, rewrite, write, emit, generated and the root modules; not api or tools.
"""
