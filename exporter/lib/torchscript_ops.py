"""Mappings of ops only TorchScript graphs hold that an emit expression cannot write: range lengths
(Python's rounding of numbers) and `x.size()` as a list. Python's `//` and `%` on numbers are
exporter/symint_ops.py's."""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from exporter import symint_ops


def size(g: Any, self: ir.Value) -> list[Any]:
    """aten::size.default (`x.size()`): one 0-d value per dimension (the frontend keeps the static ones as
    numbers, from the metadata, and only the dynamic ones read the shape at run time)."""
    shape = g.op("Shape", self)
    return [g.op("Gather", shape, g.constant(axis, torch.int64), axis=0) for axis in range(g.rank(self))]


def range_length(g: Any, lo: Any, hi: Any, step: Any) -> ir.Value:
    """aten::__range_length: len(range(lo, hi, step)), the trip count of a scripted `for ... in range(...)`."""
    if isinstance(step, ir.Value):
        raise g.refuse("dynamic_step")
    low, high = _int(g, lo), _int(g, hi)
    span = g.op("Sub", high, low) if step > 0 else g.op("Sub", low, high)
    size = abs(int(step))
    count = symint_ops.floordiv(g, g.op("Add", span, g.constant(size - 1, torch.int64)), size)
    zero = g.constant(0, torch.int64)
    return g.op("Where", g.op("Less", count, zero), zero, count)


def _int(g: Any, value: Any) -> ir.Value:
    return value if isinstance(value, ir.Value) else g.constant(int(value), torch.int64)
