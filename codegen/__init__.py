"""Reads opspecs/, validates them against torch and onnx.defs, renders generated/."""
