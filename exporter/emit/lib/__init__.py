"""Python helpers for mappings an emit expression cannot express (spec `impl:`).

Part of the emit layer: imports emit, the root modules and codegen.shared only; another op's
mapping comes from `g.registry`, never from an import of the registry.
"""
