"""rewrite: passes over a translated model - legalization for the target runtime (kernel gaps,
type legalization), weight folding, constant folding, module functions, runtime versions.

May import write (weight records), emit (the GraphBuilder rewrites build with), codegen.shared
(ONNX schemas) and the root modules.
"""
