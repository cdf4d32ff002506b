"""is_in_onnx_export(): True while export() runs, as torch.onnx's function of the same name.

Models written for torch.onnx ask `torch.onnx.is_in_onnx_export()`; that flag is raised too,
so such a model takes the same export-time branch here as under torch.onnx.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator

_depth = 0


def is_in_onnx_export() -> bool:
    """Whether an aten2onnx export is under way (the model is being captured or translated)."""
    return _depth > 0


@contextlib.contextmanager
def exporting() -> Iterator[None]:
    global _depth
    torch_flags = _torch_flags()
    saved = getattr(torch_flags, "_is_onnx_exporting", None)
    _depth += 1
    if torch_flags is not None:
        setattr(torch_flags, "_is_onnx_exporting", True)  # noqa: B010 - a private module's flag
    try:
        yield
    finally:
        _depth -= 1
        if torch_flags is not None:
            setattr(torch_flags, "_is_onnx_exporting", saved)  # noqa: B010 - a private module's flag


def _torch_flags() -> types.ModuleType | None:
    """torch.onnx's private flag module, or None where this torch lays it out differently."""
    try:
        from torch.onnx._internal.exporter import _flags
    except ImportError:
        return None
    return _flags if hasattr(_flags, "_is_onnx_exporting") else None
