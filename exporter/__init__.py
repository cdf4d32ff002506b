"""aten2onnx: export PyTorch models to ONNX through declarative ATen op specs.

The public API follows torch.onnx: `export` (same arguments, same meaning), the deprecated
`dynamo_export`, `enable_fake_mode`, `is_in_onnx_export`, `TrainingMode`, `OperatorExportTypes`,
`OnnxExporterError`, and `register_custom_op_symbolic` / `unregister_custom_op_symbolic`.
On top: `load_opspecs` for a user's own YAML specs and `supported_ops`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module defining it. Loaded on first use (PEP 562) so that importing a
# submodule such as exporter.emit_helpers (which generated code does) stays cheap and
# cannot close an import cycle through generated.registry.
_PUBLIC = {
    "DEFAULT_OPSET": "exporter.api", "export": "exporter.api", "dynamo_export": "exporter.api",
    "supported_ops": "exporter.api", "enable_fake_mode": "exporter.fake_mode",
    "register_custom_op_symbolic": "exporter.custom_ops", "unregister_custom_op_symbolic": "exporter.custom_ops",
    "CaptureError": "exporter.errors", "CheckpointMismatchError": "exporter.errors", "ConstraintError": "exporter.errors",
    "ExportArgumentError": "exporter.errors", "OnnxExporterError": "exporter.errors",
    "OpspecError": "exporter.errors", "TranslationError": "exporter.errors",
    "UnsupportedOpsError": "exporter.errors", "VerificationError": "exporter.errors",
    "WeightsNotAppliedError": "exporter.errors",
    "RuntimeVersionError": "exporter.errors",
    "is_in_onnx_export": "exporter.export_state",
    "OperatorExportTypes": "exporter.options", "TrainingMode": "exporter.options",
    "DynamicAxisWarning": "exporter.dynamic_axes",
    "ONNXProgram": "exporter.program",
    "load_opspecs": "exporter.user_specs", "unload_opspecs": "exporter.user_specs",
    "TracedValueWarning": "exporter.torchscript.capture",
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'exporter' has no attribute '{name}'")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


if TYPE_CHECKING:
    from exporter.api import DEFAULT_OPSET, dynamo_export, export, supported_ops  # noqa: F401
    from exporter.custom_ops import register_custom_op_symbolic, unregister_custom_op_symbolic  # noqa: F401
    from exporter.dynamic_axes import DynamicAxisWarning  # noqa: F401
    from exporter.errors import (  # noqa: F401
        CaptureError,
        CheckpointMismatchError,
        ConstraintError,
        ExportArgumentError,
        OnnxExporterError,
        OpspecError,
        RuntimeVersionError,
        TranslationError,
        UnsupportedOpsError,
        VerificationError,
        WeightsNotAppliedError,
    )
    from exporter.export_state import is_in_onnx_export  # noqa: F401
    from exporter.fake_mode import enable_fake_mode  # noqa: F401
    from exporter.options import OperatorExportTypes, TrainingMode  # noqa: F401
    from exporter.program import ONNXProgram  # noqa: F401
    from exporter.torchscript.capture import TracedValueWarning  # noqa: F401
    from exporter.user_specs import load_opspecs, unload_opspecs  # noqa: F401

__all__ = [
    "DEFAULT_OPSET", "export", "dynamo_export", "supported_ops", "is_in_onnx_export", "ONNXProgram",
    "TrainingMode", "OperatorExportTypes", "register_custom_op_symbolic", "unregister_custom_op_symbolic",
    "load_opspecs", "unload_opspecs", "OnnxExporterError", "UnsupportedOpsError", "ConstraintError",
    "CaptureError", "ExportArgumentError", "OpspecError", "TranslationError", "VerificationError",
    "TracedValueWarning", "DynamicAxisWarning",
    "enable_fake_mode", "CheckpointMismatchError", "WeightsNotAppliedError",
    "RuntimeVersionError",
]
