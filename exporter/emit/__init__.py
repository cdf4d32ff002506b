"""emit: what generated functions call - the GraphBuilder `g`, the emit helpers `h`, `@declared`,
arithmetic on symbolic sizes, and lib/ (the Python mappings of spec `impl:`).

The bottom layer: imports only aten2onnx.exporter.errors, aten2onnx.exporter.dtypes and codegen.shared; the registry
of generated functions reaches it through the GraphBuilder (`g.registry`), never by import.
"""
