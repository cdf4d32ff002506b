"""Shape and indexing mappings that need Python: slice.Tensor before Slice took steps (opset 10)
and scatter_add before ScatterElements took a reduction (16), plus the index ranges other lib
modules build (arange, slice_positions).

Each public function takes `(g, <every schema argument in order>)` and is referenced from
opspecs/shape.yaml or opspecs/indexing.yaml as `impl: aten2onnx.exporter.emit.lib.shape_ops.<name>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c


# -- small version-aware builders --------------------------------------------------------------
def _axis(g: GraphBuilder, dim: int, value: ir.Value) -> int:
    return h.norm_dim(g, dim, value)


def _pad_end(g: GraphBuilder, value: ir.Value, shape: Sequence[int], amounts: Sequence[int]) -> ir.Value:
    """Zeros appended after the end of each axis of a `shape`-shaped value (Concat: any dtype)."""
    shape = list(shape)
    for axis, amount in enumerate(amounts):
        if amount:
            zeros = _zeros(g, [*shape[:axis], amount, *shape[axis + 1:]], value)
            value = g.op("Concat", value, zeros, axis=axis)
            shape[axis] += amount
    return value


def _reshape_back(g: GraphBuilder, value: ir.Value, like: ir.Value) -> ir.Value:
    return g.op("Reshape", value, h.ints(g, [])) if g.rank(like) == 0 else value


def _shape_of(g: GraphBuilder, value: ir.Value) -> list[int]:
    """A static shape, with 0-d counted as [1]."""
    return c.static_shape(g, value, refusal="dynamic_sizes") or [1]


def _fit(g: GraphBuilder, src: ir.Value, index: ir.Value) -> ir.Value:
    """The leading corner of src shaped like index, whose shape is static here (torch reads src
    only where index points)."""
    value = c.as_1d(g, src)
    have, want = g.shape(src) or [1], g.shape(index) or [1]
    if have == want:
        return value
    return h.slice_axes(g, value, [0] * len(want), want, list(range(len(want))))


# -- shape ops ---------------------------------------------------------------------------------
def _zeros(g: GraphBuilder, shape: Sequence[int], like: ir.Value) -> ir.Value:
    """Zeros of `shape` with `like`'s dtype (also zero-size results before opset 14)."""
    return h.zeros_of_shape(g, shape, like)


def slice_tensor_opset9(g: GraphBuilder, self: ir.Value, dim: int, start: Any, end: Any, step: Any) -> ir.Value:
    """Slice-1 has no steps and takes bounds as attributes: static bounds with step 1 slice; else
    a Gather of the slice's positions (static, or computed in the graph for dynamic sizes)."""
    axis = _axis(g, dim, self)
    begin = 0 if start is None else start
    stop = h.INT64_MAX if end is None else end
    if h.all_known(g, begin, stop, step) and step == 1:
        return h.slice_axes(g, self, [begin], [stop], [axis])
    size = g.shape(self)[axis]
    if isinstance(size, int) and h.all_known(g, begin, stop, step):
        picked = list(range(size))[slice(begin, stop, step)]
        return g.op("Gather", self, g.constant(picked, torch.int64), axis=axis)
    length = size if isinstance(size, int) else g.op("Gather", g.op("Shape", self), h.scalar(g, axis, "int64"), axis=0)
    return g.op("Gather", self, slice_positions(g, length, begin, stop, step), axis=axis)


def arange(g: GraphBuilder, count: int | ir.Value) -> ir.Value:
    """0..count-1 as a 1-D int64 value (Range from 11; before, NonZero of `count` ones)."""
    if isinstance(count, int):
        return g.constant(list(range(count)), torch.int64)
    if g.opset >= 11:
        return g.op("Range", h.scalar(g, 0, "int64"), count, h.scalar(g, 1, "int64"))
    ones = g.op("ConstantOfShape", g.op("Reshape", count, h.ints(g, [1])), value=torch.tensor([1], dtype=torch.int64))
    return g.op("Reshape", g.op("NonZero", ones), h.ints(g, [-1]))


def slice_positions(g: GraphBuilder, length: int | ir.Value, start: Any, end: Any, step: Any) -> ir.Value:
    """range(length)[start:end:step] (step > 0; any argument may be a 0-d value) as 1-D int64.

    From opset 10 a Slice of 0..length-1 (its inputs wrap and clamp as Python does). Before,
    NonZero of the positions p with start' <= p < end' and (p - start') divisible by step,
    the bounds wrapped and clamped by hand.
    """
    positions = arange(g, length)
    if g.opset >= 10:
        return g.op("Slice", positions, h.ints(g, [start]), h.ints(g, [end]), h.ints(g, [0]), h.ints(g, [step]))
    n = length if isinstance(length, ir.Value) else h.scalar(g, length, "int64")
    zero = h.scalar(g, 0, "int64")

    def bound(value: Any) -> ir.Value:
        v = h.scalar(g, min(value, h.INT64_MAX // 2), "int64") if h.all_known(g, value) else g.cast(value, torch.int64)
        v = g.op("Where", g.op("Less", v, zero), g.op("Add", v, n), v)
        return g.op("Where", g.op("Less", v, zero), zero, v)

    first, last = bound(start), bound(end)
    stride = h.scalar(g, step, "int64") if h.all_known(g, step) else g.cast(step, torch.int64)
    offset = g.op("Sub", positions, first)
    on_grid = g.op("Equal", g.op("Mul", g.op("Div", offset, stride), stride), offset)
    inside = g.op("And", g.op("Not", g.op("Less", positions, first)), g.op("Less", positions, last))
    return g.op("Reshape", g.op("NonZero", g.op("And", inside, on_grid)), h.ints(g, [-1]))


# -- indexing ----------------------------------------------------------------------------------
def scatter_add_opset9(g: GraphBuilder, self: ir.Value, dim: int, index: ir.Value, src: ir.Value) -> ir.Value:
    """Before ScatterElements had `reduction`: sum src through a one-hot mask of index.

    mask[..., j] = (index == j) for j < size along dim; contributions = ReduceSum over dim of
    where(mask, src, 0), moved back to dim and zero-padded to self's shape. Bool adds as logical or.
    """
    data_shape, index_shape = _shape_of(g, self), _shape_of(g, index)
    axis = _axis(g, dim, self)
    r = len(data_shape)
    dtype = g.known_dtype(self)
    compute = torch.int64 if dtype == torch.bool else dtype
    data, idx = g.cast(c.as_1d(g, self), compute), c.as_1d(g, index)
    updates = g.cast(_fit(g, src, index), compute)
    positions = g.constant(list(range(data_shape[axis])), g.known_dtype(idx))
    mask = g.op("Equal", c.unsqueeze(g, idx, [r]), positions)
    picked = g.op("Where", mask, c.unsqueeze(g, updates, [r]), g.constant(0, compute))  # not Mul: inf * 0
    summed = c.reduce(g, "ReduceSum", picked, [axis], False)
    if r > 1:
        perm = [*range(axis), r - 1, *range(axis, r - 1)]
        summed = g.op("Transpose", summed, perm=perm)
    padding = [0 if k == axis else data_shape[k] - index_shape[k] for k in range(r)]
    summed_shape = [data_shape[k] if k == axis else index_shape[k] for k in range(r)]
    out = g.op("Add", data, _pad_end(g, summed, summed_shape, padding))
    return _reshape_back(g, g.cast(out, dtype), self)
