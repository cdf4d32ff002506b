"""Building blocks shared by the exporter/lib mappings: opset-dependent ops and shape reads.

Not mappings themselves (no spec names a function here). Each takes the GraphBuilder `g`
first and hides an opset change: Unsqueeze/Squeeze axes and ReduceSum axes become inputs at
13, the other Reduce* ops' axes at 18, Pad's pads and value at 11.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

import onnx_ir as ir

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder


def unsqueeze(g: GraphBuilder, x: ir.Value, axes: Sequence[int]) -> ir.Value:
    if g.opset >= 13:
        return g.op("Unsqueeze", x, h.ints(g, axes))
    if g.opset < 11 and any(a < 0 for a in axes):  # negative axes from 11: count them from the output's rank
        out_rank = g.rank(x) + len(axes)
        axes = [a + out_rank if a < 0 else a for a in axes]
    return g.op("Unsqueeze", x, axes=list(axes))


def squeeze(g: GraphBuilder, x: ir.Value, axes: Sequence[int]) -> ir.Value:
    if g.opset >= 13:
        return g.op("Squeeze", x, h.ints(g, axes))
    return g.op("Squeeze", x, axes=list(axes))


def reduce(g: GraphBuilder, op: str, x: ir.Value, axes: Sequence[int] | None, keepdims: bool) -> ir.Value:
    """`op` (ReduceSum, ReduceMax, ...) over `axes`; None reduces every axis."""
    if axes is None:
        return g.op(op, x, keepdims=int(keepdims))
    if g.opset >= (13 if op == "ReduceSum" else 18):
        return g.op(op, x, h.ints(g, axes), keepdims=int(keepdims))
    return g.op(op, x, axes=list(axes), keepdims=int(keepdims))


def reduce_axes(g: GraphBuilder, dims: Any, x: ir.Value) -> list[int] | None:
    """ONNX axes of `x` for torch's `dim` argument (an int or a list); None (every axis) for None or []."""
    if dims is None:
        return None
    dims = [dims] if isinstance(dims, int) else list(dims)
    return [h.norm_dim(g, d, x) for d in dims] or None


def pad_constant(g: GraphBuilder, x: ir.Value, pads: Sequence[int], value: float) -> ir.Value:
    """Constant padding; `pads` is ONNX-style [begins..., ends...] over every axis."""
    if g.opset >= 11:
        return g.op("Pad", x, h.ints(g, pads), g.constant(value, g.known_dtype(x)), mode="constant")
    return g.op("Pad", x, pads=list(pads), value=float(value), mode="constant")


def is_static(dims: Sequence[Any]) -> TypeGuard[Sequence[int]]:
    """True when every size is a known int (no dynamic dimension)."""
    return all(isinstance(d, int) for d in dims)


def static_dims(dims: Sequence[Any]) -> list[int] | None:
    """The sizes as ints when every one is known, None when one is dynamic."""
    return list(dims) if is_static(dims) else None


def static_shape(g: GraphBuilder, x: ir.Value, refusal: str) -> list[int]:
    """x's shape, which must be static; else the spec's constraint `refusal` (its id)."""
    dims = g.shape(x)
    if not is_static(dims):
        raise g.refuse(refusal, detail=f"'{x.name}' has shape {dims}")
    return [int(d) for d in dims]


def static_size(g: GraphBuilder, x: ir.Value, axis: int, refusal: str) -> int:
    """x's size along `axis`, which must be static; else the spec's constraint `refusal` (its id)."""
    size = h.static_size(g, x, axis)
    if size is None:
        raise g.refuse(refusal, detail=f"'{x.name}' has shape {g.shape(x)}")
    return size


def as_1d(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """0-d becomes [1] (torch's gather, scatter and put treat 0-d tensors as 1-element vectors)."""
    if g.rank(x) != 0:
        return x
    out = g.op("Reshape", x, h.ints(g, [1]))
    out.shape = ir.Shape([1])
    out.dtype = x.dtype
    return out


def batched(g: GraphBuilder, x: ir.Value, n: int) -> tuple[ir.Value, bool]:
    """(x with a batch axis, whether one was added): torch accepts unbatched (C, *spatial) inputs
    to its n-D convolutions and poolings."""
    if g.rank(x) == n + 1:
        return unsqueeze(g, x, [0]), True
    return x, False


def unbatched(g: GraphBuilder, values: Sequence[ir.Value], added: bool) -> tuple[ir.Value, ...]:
    """The results of an op run on `batched` input, without the batch axis it added."""
    return tuple(squeeze(g, v, [0]) for v in values) if added else tuple(values)

