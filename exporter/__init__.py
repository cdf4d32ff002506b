"""The exporter: capture a model, translate it through the generated functions, rewrite, write.

Imported as `aten2onnx.exporter`; the public API is `aten2onnx` (aten2onnx/__init__.py). Its
sub-packages are layers, each importing only those below it (tests/test_layers.py):
tools > api > torchscript > translate > capture > translate/registry.py > options > rewrite >
write > generated > emit > the root modules (errors, dtypes, progress, names) and codegen/shared.
"""
