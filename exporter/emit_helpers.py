"""Helpers callable from `emit:` expressions in opspecs (`ints([dim])` -> `h.ints(g, [dim])`).

Each takes the GraphBuilder `g` first. Codegen reads this file's function names to check
specs, so a new helper is available to specs as soon as it is defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from exporter.dtypes import from_torch_dtype, parse_dtype

INT64_MAX = 2**63 - 1


def ints(g: Any, values: Sequence[Any]) -> ir.Value:
    """A 1-D int64 tensor from ints; symbolic sizes (values) are concatenated in."""
    values = list(values)
    if all(not isinstance(v, ir.Value) for v in values):
        return g.constant([int(v) for v in values], torch.int64)
    parts = [g.op("Reshape", v if isinstance(v, ir.Value) else g.constant(int(v), torch.int64),
                  g.constant([1], torch.int64)) for v in values]
    return g.op("Concat", *parts, axis=0)


def ints_or_none(g: Any, values: Sequence[Any] | None) -> ir.Value | None:
    return None if values is None else ints(g, values)


def like(g: Any, value: Any, reference: ir.Value) -> ir.Value | None:
    """A 0-d constant with `reference`'s dtype (None stays None: an omitted input)."""
    if value is None:
        return None
    if isinstance(value, ir.Value):
        return g.cast(value, g.dtype(reference))
    return g.constant(value, g.dtype(reference))


def scalar(g: Any, value: Any, dtype: Any) -> ir.Value:
    """A 0-d constant of a given dtype ('int64', torch.float32, ...)."""
    return g.constant(value, parse_dtype(dtype))


def cast(g: Any, value: ir.Value, dtype: Any) -> ir.Value:
    return g.cast(value, parse_dtype(dtype))


def cast_like(g: Any, value: ir.Value, reference: ir.Value) -> ir.Value:
    return g.cast(value, g.dtype(reference))


def onnx_dtype(g: Any, dtype: Any) -> int:
    """The ONNX enum for a dtype, for attributes such as Cast's `to`."""
    return int(from_torch_dtype(parse_dtype(dtype)))


def rank(g: Any, value: ir.Value) -> int:
    return g.rank(value)


def shape(g: Any, value: ir.Value) -> list[int | str]:
    return g.shape(value)


def dtype(g: Any, value: ir.Value) -> torch.dtype:
    return g.dtype(value)


def is_float(g: Any, value: ir.Value) -> bool:
    return g.dtype(value).is_floating_point


def norm_dim(g: Any, dim: int, value: ir.Value) -> int:
    """A non-negative axis for `value` (torch allows dim -1 on 0-d tensors: axis 0)."""
    r = max(g.rank(value), 1)
    return dim + r if dim < 0 else dim


def norm_dims(g: Any, dims: Sequence[int] | None, value: ir.Value) -> list[int]:
    """Axes for `value`; None or [] means every axis, as torch's reductions do."""
    if not dims:
        return list(range(g.rank(value)))
    return [norm_dim(g, d, value) for d in dims]
