"""`make bench`: aten2onnx against torch.onnx.export(dynamo=True) and torch.export.export alone."""
