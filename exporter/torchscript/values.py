"""What a TorchScript value holds during translation, besides ONNX values and Python numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import onnx_ir as ir


@dataclass(frozen=True)
class ModuleRef:
    """A submodule the graph reads attributes of (`prim::GetAttr`); `path` is its dotted name."""

    path: str
    module: Any


class Missing:
    """What an op without a mapping produced: translation goes on (to list every gap), nothing uses it."""

    def __repr__(self) -> str:
        return "<no mapping>"


MISSING = Missing()


def is_missing(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(is_missing(v) for v in value)
    return isinstance(value, Missing)


def is_sequence(value: Any) -> bool:
    """An ONNX sequence: a TorchScript list whose length is only known at run time."""
    return isinstance(value, ir.Value) and isinstance(value.type, ir.SequenceType)
