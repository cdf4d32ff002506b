"""emit: what generated functions call - the GraphBuilder `g`, the emit helpers `h`, `@declared`,
arithmetic on symbolic sizes, and lib/ (the Python mappings of spec `impl:`).

The bottom layer: imports only exporter.errors, exporter.dtypes and codegen.shared; the registry
of generated functions reaches it through the GraphBuilder (`g.registry`), never by import.
"""
