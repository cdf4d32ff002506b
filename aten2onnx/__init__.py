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

# The module defining each public name. Loaded on first use (PEP 562) so that `import aten2onnx`
# (and every submodule import, which runs this file first) stays cheap: torch, onnx and the
# generated functions load only when a public name is used.
_DEFINED_IN = {
    "aten2onnx.exporter.api.export": ("DEFAULT_OPSET", "export", "dynamo_export", "supported_ops"),
    "aten2onnx.exporter.api.export_state": ("is_in_onnx_export",),
    "aten2onnx.exporter.api.program": ("ONNXProgram",),
    "aten2onnx.exporter.api.user_specs": ("load_opspecs", "unload_opspecs"),
    "aten2onnx.exporter.options": ("TrainingMode", "OperatorExportTypes"),
    "aten2onnx.exporter.translate.custom_ops": ("register_custom_op_symbolic", "unregister_custom_op_symbolic"),
    "aten2onnx.exporter.capture.fake_mode": ("enable_fake_mode",),
    "aten2onnx.exporter.errors": (
        "OnnxExporterError", "UnsupportedOpsError", "ConstraintError", "CaptureError", "ExportArgumentError",
        "ModelInputError", "OpspecError", "TranslationError", "VerificationError", "CheckpointMismatchError",
        "WeightsNotAppliedError", "RuntimeVersionError", "DtypeOpsetError",
    ),
    "aten2onnx.exporter.torchscript.capture": ("TracedValueWarning",),
    "aten2onnx.exporter.capture.legacy_dynamic_axes": ("DynamicAxisWarning",),
}
_PUBLIC = {name: module for module, names in _DEFINED_IN.items() for name in names}


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
        ModelInputError,
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
    from aten2onnx.exporter.translate.custom_ops import (  # noqa: F401
        register_custom_op_symbolic,
        unregister_custom_op_symbolic,
    )

__all__ = list(_PUBLIC)
