"""aten2onnx: export PyTorch models to ONNX through declarative ATen op specs."""

from exporter.api import DEFAULT_OPSET, export, supported_ops
from exporter.errors import (
    CaptureError,
    ConstraintError,
    ExportArgumentError,
    OnnxExporterError,
    UnsupportedOpsError,
)
from exporter.program import ONNXProgram

__all__ = [
    "DEFAULT_OPSET", "export", "supported_ops", "ONNXProgram", "OnnxExporterError",
    "UnsupportedOpsError", "ConstraintError", "CaptureError", "ExportArgumentError",
]
