"""The exporter: capture a model, translate it through the generated functions, rewrite, write.

Imported as `aten2onnx.exporter`; the public API is `aten2onnx` (aten2onnx/__init__.py).
"""
