"""aten2onnx: export PyTorch models to ONNX through declarative ATen op specs.

This is the distribution's one top-level package. Its sub-packages are links to the repository's
folders (`aten2onnx.exporter` is `exporter/`, `aten2onnx.codegen` is `codegen/`,
`aten2onnx.generated` is `generated/`), so the import path mirrors the folder path.

The public API follows torch.onnx: `export` (same arguments, same meaning), the deprecated
`dynamo_export`, `enable_fake_mode`, `is_in_onnx_export`, `TrainingMode`, `OperatorExportTypes`,
`OnnxExporterError`, and `register_custom_op_symbolic` / `unregister_custom_op_symbolic`.
On top: `load_opspecs` for a user's own YAML specs and `supported_ops`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module defining it. Loaded on first use (PEP 562) so that `import aten2onnx`
# (and every submodule import, which runs this file first) stays cheap: torch, onnx and the
# generated functions load only when a public name is used.
_PUBLIC = {
    "DEFAULT_OPSET": "aten2onnx.exporter.api.export", "export": "aten2onnx.exporter.api.export", "dynamo_export": "aten2onnx.exporter.api.export",
    "supported_ops": "aten2onnx.exporter.api.export", "enable_fake_mode": "aten2onnx.exporter.capture.fake_mode",
    "register_custom_op_symbolic": "aten2onnx.exporter.translate.custom_ops", "unregister_custom_op_symbolic": "aten2onnx.exporter.translate.custom_ops",
    "CaptureError": "aten2onnx.exporter.errors", "CheckpointMismatchError": "aten2onnx.exporter.errors", "ConstraintError": "aten2onnx.exporter.errors",
    "ExportArgumentError": "aten2onnx.exporter.errors", "OnnxExporterError": "aten2onnx.exporter.errors",
    "OpspecError": "aten2onnx.exporter.errors", "TranslationError": "aten2onnx.exporter.errors",
    "UnsupportedOpsError": "aten2onnx.exporter.errors", "VerificationError": "aten2onnx.exporter.errors",
    "WeightsNotAppliedError": "aten2onnx.exporter.errors",
    "RuntimeVersionError": "aten2onnx.exporter.errors", "DtypeOpsetError": "aten2onnx.exporter.errors",
    "is_in_onnx_export": "aten2onnx.exporter.api.export_state",
    "OperatorExportTypes": "aten2onnx.exporter.options", "TrainingMode": "aten2onnx.exporter.options",
    "DynamicAxisWarning": "aten2onnx.exporter.capture.legacy_dynamic_axes",
    "ONNXProgram": "aten2onnx.exporter.api.program",
    "load_opspecs": "aten2onnx.exporter.api.user_specs", "unload_opspecs": "aten2onnx.exporter.api.user_specs",
    "TracedValueWarning": "aten2onnx.exporter.torchscript.capture",
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'aten2onnx' has no attribute '{name}'")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


if TYPE_CHECKING:
    from aten2onnx.exporter.api.export import DEFAULT_OPSET, dynamo_export, export, supported_ops  # noqa: F401
    from aten2onnx.exporter.api.export_state import is_in_onnx_export  # noqa: F401
    from aten2onnx.exporter.api.program import ONNXProgram  # noqa: F401
    from aten2onnx.exporter.api.user_specs import load_opspecs, unload_opspecs  # noqa: F401
    from aten2onnx.exporter.capture.fake_mode import enable_fake_mode  # noqa: F401
    from aten2onnx.exporter.capture.legacy_dynamic_axes import DynamicAxisWarning  # noqa: F401
    from aten2onnx.exporter.errors import (  # noqa: F401
        CaptureError,
        CheckpointMismatchError,
        ConstraintError,
        DtypeOpsetError,
        ExportArgumentError,
        OnnxExporterError,
        OpspecError,
        RuntimeVersionError,
        TranslationError,
        UnsupportedOpsError,
        VerificationError,
        WeightsNotAppliedError,
    )
    from aten2onnx.exporter.options import OperatorExportTypes, TrainingMode  # noqa: F401
    from aten2onnx.exporter.torchscript.capture import TracedValueWarning  # noqa: F401
    from aten2onnx.exporter.translate.custom_ops import register_custom_op_symbolic, unregister_custom_op_symbolic  # noqa: F401

__all__ = [
    "DEFAULT_OPSET", "export", "dynamo_export", "supported_ops", "is_in_onnx_export", "ONNXProgram",
    "TrainingMode", "OperatorExportTypes", "register_custom_op_symbolic", "unregister_custom_op_symbolic",
    "load_opspecs", "unload_opspecs", "OnnxExporterError", "UnsupportedOpsError", "ConstraintError",
    "CaptureError", "ExportArgumentError", "OpspecError", "TranslationError", "VerificationError",
    "TracedValueWarning", "DynamicAxisWarning",
    "enable_fake_mode", "CheckpointMismatchError", "WeightsNotAppliedError",
    "RuntimeVersionError", "DtypeOpsetError",
]
