"""Python helpers for mappings an emit expression cannot express (spec `impl:`)."""
