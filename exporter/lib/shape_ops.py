"""Shape and indexing mappings that need Python: static shapes, output counts, opset switches.

Each public function takes `(g, <every schema argument in order>)` and is referenced from
opspecs/shape.yaml or opspecs/indexing.yaml as `impl: exporter.lib.shape_ops.<name>`. The
ONNX ops they use change form at these opsets, which the specs mark as variants:
Slice (attributes -> inputs at 10), Squeeze/Unsqueeze/Split/ReduceSum (axes or split
attribute -> input at 13), Scatter -> ScatterElements (11), GatherElements (from 11),
ScatterElements `reduction` (from 16).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter import symint_ops
from exporter.lib import common as c


# -- small version-aware builders --------------------------------------------------------------
def _axis(g: Any, dim: int, value: ir.Value) -> int:
    return h.norm_dim(g, dim, value)


def _static_shape(g: Any, value: ir.Value, why: str) -> list[int]:
    dims = g.shape(value)
    if not all(isinstance(d, int) for d in dims):
        raise g.constraint_error(f"{why} needs a static shape, but '{value.name}' has shape {dims} (sizes known "
                                 "only at run time): drop those axes from dynamic_shapes/dynamic_axes, or export "
                                 "at a newer opset", "exporter/lib/shape_ops.py")
    return [int(d) for d in dims]


def _split(g: Any, value: ir.Value, sizes: Sequence[int], axis: int) -> list[ir.Value]:
    """Chunks of the given sizes along `axis` (a list, even for one chunk)."""
    if len(sizes) == 1:
        return [value]
    if 0 in sizes:  # zero-length chunks: slice each one (not every runtime takes 0 in Split sizes)
        edges = [0, *np.cumsum(sizes).tolist()]
        return [h.slice_axes(g, value, [a], [b], [axis]) for a, b in zip(edges, edges[1:])]
    if g.opset >= 13:
        return list(g.op("Split", value, h.ints(g, sizes), axis=axis, _outputs=len(sizes)))
    return list(g.op("Split", value, axis=axis, split=list(sizes), _outputs=len(sizes)))


def _pad_end(g: Any, value: ir.Value, shape: Sequence[int], amounts: Sequence[int]) -> ir.Value:
    """Zeros appended after the end of each axis of a `shape`-shaped value (Concat: any dtype)."""
    shape = list(shape)
    for axis, amount in enumerate(amounts):
        if amount:
            zeros = _zeros(g, [*shape[:axis], amount, *shape[axis + 1:]], value)
            value = g.op("Concat", value, zeros, axis=axis)
            shape[axis] += amount
    return value


def _as_1d(g: Any, value: ir.Value) -> ir.Value:
    """0-d tensors become [1] (torch's gather/scatter treat them as 1-element vectors)."""
    if g.rank(value) != 0:
        return value
    out = g.op("Reshape", value, h.ints(g, [1]))
    out.shape = ir.Shape([1])
    return out


def _reshape_back(g: Any, value: ir.Value, like: ir.Value) -> ir.Value:
    return g.op("Reshape", value, h.ints(g, [])) if g.rank(like) == 0 else value


def _shape_of(g: Any, value: ir.Value) -> list[int]:
    """A static shape, with 0-d counted as [1]."""
    return _static_shape(g, value, "this mapping") or [1]


def _fit(g: Any, src: ir.Value, index: ir.Value) -> ir.Value:
    """The leading corner of src shaped like index (torch reads src only where index is)."""
    value = _as_1d(g, src)
    same = src.shape is not None and index.shape is not None and g.shape(src) == g.shape(index)
    if same and "None" not in g.shape(src):  # equal dims, named dynamic ones included: nothing to cut
        return value
    have, want = g.shape(src) or [1], g.shape(index) or [1]
    if have == want:
        return value
    axes = list(range(len(want)))
    if all(isinstance(d, int) for d in want):
        return h.slice_axes(g, value, [0] * len(want), want, axes)
    if g.opset < 10:
        raise g.constraint_error("scatter with a src larger than index along a dynamic dimension needs Slice's "
                                 "inputs (opset 10); export at opset 10 or later, or give src index's shape",
                                 "exporter/lib/shape_ops.py")
    return g.op("Slice", value, h.ints(g, [0] * len(want)), g.op("Shape", _as_1d(g, index)), h.ints(g, axes))


# -- shape ops ---------------------------------------------------------------------------------
def flatten_using_ints(g: Any, self: ir.Value, start_dim: int, end_dim: int) -> ir.Value:
    """Reshape merging dims start..end; 0-d becomes [1]."""
    r = g.rank(self)
    if r == 0:
        return g.op("Reshape", self, h.ints(g, [1]))
    start, end = _axis(g, start_dim, self), _axis(g, end_dim, self)
    if start == end:
        return self
    dims = g.shape(self)
    if all(isinstance(d, int) for d in dims):
        shape = [*dims[:start], math.prod(dims[start:end + 1]), *dims[end + 1:]]
        if 0 in shape:
            if g.opset >= 14:
                return g.op("Reshape", self, h.ints(g, shape), allowzero=1)
            return _zeros(g, shape, self)
        return g.op("Reshape", self, h.ints(g, shape))
    # Symbolic sizes: each read at run time, the merged one their product (no -1: it cannot be
    # inferred when another size is 0, and a size 0 stays 0)
    sizes = [c.dim_size(g, self, a) for a in range(r)]
    merged = sizes[start]
    for size in sizes[start + 1:end + 1]:
        merged = merged * size if isinstance(merged, int) and isinstance(size, int) else symint_ops.mul(g, merged, size)
    return h.reshape_to(g, self, [*sizes[:start], merged, *sizes[end + 1:]])


def _zeros(g: Any, shape: Sequence[int], like: ir.Value) -> ir.Value:
    """Zeros of `shape` with `like`'s dtype (also zero-size results before opset 14)."""
    return h.zeros_of_shape(g, shape, like)


def stack(g: Any, tensors: Sequence[ir.Value], dim: int) -> ir.Value:
    """Unsqueeze each tensor at `dim` (of the output rank) and concatenate (after promotion). A list grown
    in a scripted loop is an ONNX sequence (opset 11+): ConcatFromSequence with a new axis."""
    if h.is_sequence(g, tensors):
        return g.op("ConcatFromSequence", tensors, axis=dim, new_axis=1)
    tensors = h.promoted_list(g, tensors)
    out_rank = g.rank(tensors[0]) + 1
    axis = dim + out_rank if dim < 0 else dim
    parts = [c.unsqueeze(g, t, [axis]) for t in tensors]
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=axis)


def select_int_opset9(g: Any, self: ir.Value, dim: int, index: Any) -> ir.Value:
    """Gather takes no negative index before opset 11: the size is added to a negative one
    (in the graph when the index is symbolic, e.g. a 0-d tensor index read with .item())."""
    axis = _axis(g, dim, self)
    if not isinstance(index, ir.Value):
        size = g.shape(self)[axis] if index < 0 else 0
        if isinstance(size, int):
            return g.op("Gather", self, g.constant(index + size, torch.int64), axis=axis)
        index = g.constant(index, torch.int64)
    index = g.cast(index, torch.int64)
    size = g.op("Gather", g.op("Shape", self), g.constant(axis, torch.int64), axis=0)
    negative = g.op("Less", index, g.constant(0, torch.int64))
    wrapped = g.op("Add", index, g.op("Mul", size, g.cast(negative, torch.int64)))
    return g.op("Gather", self, wrapped, axis=axis)


def narrow(g: Any, self: ir.Value, dim: int, start: Any, length: Any) -> ir.Value:
    """Slice [start, start + length) along dim; a negative start counts from the end, and when
    start + length reaches 0 the slice runs to the end. Symbolic start/length: computed in the graph."""
    axis = _axis(g, dim, self)
    if not isinstance(start, ir.Value) and not isinstance(length, ir.Value):
        end = h.INT64_MAX if start < 0 and start + length == 0 else start + length
        return h.slice_axes(g, self, [start], [end], [axis])
    if g.opset < 10:
        raise g.constraint_error("narrow with a start or length computed at run time needs opset 10 or newer "
                                 "(Slice takes its bounds as inputs from 10)", "exporter/lib/shape_ops.py")
    begin = g.constant(start, torch.int64)  # a symbolic value is cast, a number becomes a constant
    end = g.op("Add", begin, g.constant(length, torch.int64))
    zero = g.constant(0, torch.int64)
    to_end = g.op("And", g.op("Less", begin, zero), g.op("Equal", end, zero))
    end = g.op("Where", to_end, g.constant(h.INT64_MAX, torch.int64), end)
    return h.slice_axes(g, self, [begin], [end], [axis])


def slice_tensor_opset9(g: Any, self: ir.Value, dim: int, start: Any, end: Any, step: Any) -> ir.Value:
    """Slice-1 has no steps and takes bounds as attributes: static bounds with step 1 slice; else
    a Gather of the slice's positions (static, or computed in the graph for dynamic sizes)."""
    axis = _axis(g, dim, self)
    begin = 0 if start is None else start
    stop = h.INT64_MAX if end is None else end
    if _is_static(begin, stop, step) and step == 1:
        return h.slice_axes(g, self, [begin], [stop], [axis])
    size = g.shape(self)[axis]
    if isinstance(size, int) and _is_static(begin, stop, step):
        picked = list(range(size))[slice(begin, stop, step)]
        return g.op("Gather", self, g.constant(picked, torch.int64), axis=axis)
    length = size if isinstance(size, int) else g.op("Gather", g.op("Shape", self), h.scalar(g, axis, "int64"), axis=0)
    return g.op("Gather", self, slice_positions(g, length, begin, stop, step), axis=axis)


def _is_static(*values: Any) -> bool:
    return not any(isinstance(v, ir.Value) for v in values)


def arange(g: Any, count: int | ir.Value) -> ir.Value:
    """0..count-1 as a 1-D int64 value (Range from 11; before, NonZero of `count` ones)."""
    if isinstance(count, int):
        return g.constant(list(range(count)), torch.int64)
    if g.opset >= 11:
        return g.op("Range", h.scalar(g, 0, "int64"), count, h.scalar(g, 1, "int64"))
    ones = g.op("ConstantOfShape", g.op("Reshape", count, h.ints(g, [1])), value=torch.tensor([1], dtype=torch.int64))
    return g.op("Reshape", g.op("NonZero", ones), h.ints(g, [-1]))


def slice_positions(g: Any, length: int | ir.Value, start: Any, end: Any, step: Any) -> ir.Value:
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
        v = h.scalar(g, min(value, h.INT64_MAX // 2), "int64") if _is_static(value) else g.cast(value, torch.int64)
        v = g.op("Where", g.op("Less", v, zero), g.op("Add", v, n), v)
        return g.op("Where", g.op("Less", v, zero), zero, v)

    first, last = bound(start), bound(end)
    stride = h.scalar(g, step, "int64") if _is_static(step) else g.cast(step, torch.int64)
    offset = g.op("Sub", positions, first)
    on_grid = g.op("Equal", g.op("Mul", g.op("Div", offset, stride), stride), offset)
    inside = g.op("And", g.op("Not", g.op("Less", positions, first)), g.op("Less", positions, last))
    return g.op("Reshape", g.op("NonZero", g.op("And", inside, on_grid)), h.ints(g, [-1]))


def _static_size(g: Any, value: ir.Value, axis: int, why: str) -> int:
    """The size of one axis, which must be static (other axes may be dynamic)."""
    size = g.shape(value)[axis]
    if not isinstance(size, int):
        raise g.constraint_error(f"{why} needs a static size along axis {axis}, but '{value.name}' has shape "
                                 f"{g.shape(value)}; mark that axis static (the number of outputs depends on it)",
                                 "exporter/lib/shape_ops.py")
    return size


def split_tensor(g: Any, self: ir.Value, split_size: int, dim: int) -> list[ir.Value]:
    """torch.split: chunks of `split_size`, the last one smaller (needs the static size along dim)."""
    axis = _axis(g, dim, self)
    size = _static_size(g, self, axis, "split")
    if isinstance(split_size, ir.Value):
        raise g.constraint_error("split with a split_size computed at run time has a varying number of outputs; "
                                 "use a constant split_size", "exporter/lib/shape_ops.py")
    if split_size <= 0 or size == 0:
        return [self]
    count = max(math.ceil(size / split_size), 1)
    sizes = [split_size] * (count - 1) + [size - split_size * (count - 1)]
    return _split(g, self, sizes, axis)


def split_with_sizes(g: Any, self: ir.Value, split_sizes: Sequence[int], dim: int) -> list[ir.Value]:
    return _split(g, self, list(split_sizes), _axis(g, dim, self))


# -- indexing ----------------------------------------------------------------------------------
def gather_opset9(g: Any, self: ir.Value, dim: int, index: ir.Value, sparse_grad: bool) -> ir.Value:
    """No GatherElements before 11: Gather from the flattened input at linear indices.

    linear = index * stride[dim] + sum over the other axes k of position_k * stride[k],
    the second term a constant from the static shapes.
    """
    data_shape, index_shape = _shape_of(g, self), _shape_of(g, index)
    axis = _axis(g, dim, self)
    strides = [math.prod(data_shape[k + 1:]) for k in range(len(data_shape))]
    offsets = np.zeros(index_shape, dtype=np.int64)
    for k, size in enumerate(index_shape):
        if k != axis:
            view = [1] * len(index_shape)
            view[k] = size
            offsets = offsets + (np.arange(size, dtype=np.int64) * strides[k]).reshape(view)
    index64 = g.cast(_as_1d(g, index), torch.int64)
    linear = g.op("Add", g.op("Mul", index64, g.constant(strides[axis], torch.int64)),
                  g.constant(torch.from_numpy(offsets)))
    flat = g.op("Reshape", self, h.ints(g, [-1]))
    return _reshape_back(g, g.op("Gather", flat, linear, axis=0), index)


def gather(g: Any, self: ir.Value, dim: int, index: ir.Value, sparse_grad: bool) -> ir.Value:
    """GatherElements; 0-d inputs are treated as 1-element vectors, as torch does."""
    out = g.op("GatherElements", _as_1d(g, self), _as_1d(g, index), axis=_axis(g, dim, self))
    return _reshape_back(g, out, index)


def _scatter(g: Any, data: ir.Value, axis: int, index: ir.Value, updates: ir.Value) -> ir.Value:
    """Scatter (opsets 9-10) / ScatterElements (11+) of updates shaped like index."""
    op = "ScatterElements" if g.opset >= 11 else "Scatter"
    return g.op(op, data, index, updates, axis=axis)


def scatter_src(g: Any, self: ir.Value, dim: int, index: ir.Value, src: ir.Value) -> ir.Value:
    data, idx = _as_1d(g, self), _as_1d(g, index)
    updates = _fit(g, src, index)
    return _reshape_back(g, _scatter(g, data, _axis(g, dim, self), idx, updates), self)


def scatter_value(g: Any, self: ir.Value, dim: int, index: ir.Value, value: Any) -> ir.Value:
    data, idx = _as_1d(g, self), _as_1d(g, index)
    updates = g.op("Expand", h.like(g, value, self), g.op("Shape", idx))
    return _reshape_back(g, _scatter(g, data, _axis(g, dim, self), idx, updates), self)


def scatter_add(g: Any, self: ir.Value, dim: int, index: ir.Value, src: ir.Value) -> ir.Value:
    """ScatterElements with reduction='add' (opset 16+)."""
    data, idx = _as_1d(g, self), _as_1d(g, index)
    updates = _fit(g, src, index)
    out = g.op("ScatterElements", data, idx, updates, axis=_axis(g, dim, self), reduction="add")
    return _reshape_back(g, out, self)


def scatter_add_opset9(g: Any, self: ir.Value, dim: int, index: ir.Value, src: ir.Value) -> ir.Value:
    """Before ScatterElements had `reduction`: sum src through a one-hot mask of index.

    mask[..., j] = (index == j) for j < size along dim; contributions = ReduceSum over dim of
    where(mask, src, 0), moved back to dim and zero-padded to self's shape. Bool adds as logical or.
    """
    data_shape, index_shape = _shape_of(g, self), _shape_of(g, index)
    axis = _axis(g, dim, self)
    r = len(data_shape)
    dtype = g.dtype(self)
    compute = torch.int64 if dtype == torch.bool else dtype
    data, idx = g.cast(_as_1d(g, self), compute), _as_1d(g, index)
    updates = g.cast(_fit(g, src, index), compute)
    positions = g.constant(list(range(data_shape[axis])), g.dtype(idx))
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
