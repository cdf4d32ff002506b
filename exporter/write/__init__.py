"""write: the .onnx file and its weights - streaming serialization, O_DIRECT files, the weights a
model holds (weight_sources.py), applying checkpoints, weights as graph inputs.

May import only the root modules (errors, progress).
"""
