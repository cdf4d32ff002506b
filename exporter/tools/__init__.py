"""tools: the `aten2onnx` command line (cli.py, cli_export.py), the demo and its model, and hf/
(transformers models to ONNX files for a task). The top layer: may import anything below.
"""
