"""shared: what codegen and the exporter both read - torch op schemas and ONNX op schemas.

The only part of codegen the exporter imports at run time; imports nothing of the project.
"""
