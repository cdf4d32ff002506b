"""Indexing, scatter, layout and padding mappings (opspecs/indexing.yaml, opspecs/padding.yaml).

Each public function takes `(g, <every schema argument in order>)`. Private helpers hide the
opset differences the specs mark as variants: Slice (attributes -> inputs at 10), Scatter ->
ScatterElements (11), GatherND/ScatterND (from 11), ScatterND/ScatterElements `reduction`
(add/mul at 16, max/min at 18), Unsqueeze/ReduceSum axes (input at 13; other Reduce* ops at
18), Pad (pads and value become inputs at 11, bool at 13, `axes` input at 18), Col2Im (18).

Values made here carry no shape, so sizes are read from the op's inputs (FX metadata); where
ONNX has no op for the job before some opset, the construction needs those sizes to be static.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit import symint_ops
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c
from aten2onnx.exporter.emit.lib import shape_ops


# -- opset-dependent building blocks ---------------------------------------------------------------
def _scatter_elements(g: GraphBuilder, data: ir.Value, index: ir.Value, updates: ir.Value, axis: int,
                      reduction: str | None = None) -> ir.Value:
    """Scatter (opsets 9-10) / ScatterElements (11+); `reduction` needs 16 (add/mul) or 18 (max/min)."""
    if g.opset < 11:
        return g.op("Scatter", data, index, updates, axis=axis)
    return g.op("ScatterElements", data, index, updates, axis=axis, reduction=reduction)


def _transpose(g: GraphBuilder, x: ir.Value, perm: Sequence[int]) -> ir.Value:
    perm = list(perm)
    return x if perm == sorted(perm) else g.op("Transpose", x, perm=perm)


def _inverse(perm: Sequence[int]) -> list[int]:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return out


def _size(g: GraphBuilder, x: ir.Value, axis: int) -> int | ir.Value:
    """The size along an axis: an int, or a 0-d int64 value read at run time."""
    return h.dim_size(g, x, axis)


def _times(g: GraphBuilder, a: int | ir.Value, b: int | ir.Value) -> int | ir.Value:
    return a * b if isinstance(a, int) and isinstance(b, int) else symint_ops.mul(g, a, b)


def _shape_value(g: GraphBuilder, *pieces: Any) -> ir.Value:
    """A 1-D int64 shape from pieces: lists of ints / 0-d values, or 1-D int64 values."""
    parts = [p if isinstance(p, ir.Value) else h.ints(g, p) for p in pieces if isinstance(p, ir.Value) or p]
    if not parts:
        return h.ints(g, [])
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=0)


def _where(g: GraphBuilder, cond: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
    """Where for every dtype (ONNX Runtime's Where has no bool kernel)."""
    if g.dtype(a) == torch.bool:
        return g.op("Or", g.op("And", cond, a), g.op("And", g.op("Not", cond), b))
    return g.op("Where", cond, a, b)


def _fill(g: GraphBuilder, shape: Sequence[int], value: Any, dtype: torch.dtype) -> ir.Value:
    return g.constant(torch.full(list(shape), value, dtype=dtype))


def _reshape_back(g: GraphBuilder, x: ir.Value, like: ir.Value) -> ir.Value:
    return g.op("Reshape", x, h.ints(g, [])) if g.rank(like) == 0 else x


def _int_floor_div(g: GraphBuilder, a: ir.Value, b: ir.Value) -> ir.Value:
    """floor(a / b) for integers with b > 0 (ONNX Div truncates towards zero)."""
    q = g.op("Div", a, b)
    r = g.op("Sub", a, g.op("Mul", q, b))
    return g.op("Where", g.op("Less", r, h.like(g, 0, r)), g.op("Sub", q, h.like(g, 1, q)), q)


def _max(g: GraphBuilder, a: ir.Value, b: ir.Value) -> ir.Value:
    return g.op("Where", g.op("Less", a, b), b, a)  # Max has no integer kernels before opset 12


def _min(g: GraphBuilder, a: ir.Value, b: ir.Value) -> ir.Value:
    return g.op("Where", g.op("Less", b, a), b, a)


# -- advanced indexing (index.Tensor, index_put) ---------------------------------------------------
@dataclass
class _Index:
    value: ir.Value
    rank: int
    shape: list[Any] | None  # static dims, or None when not known (a mask's nonzero count)


@dataclass
class _Advanced:
    positions: list[int]   # indexed dims of self, in order
    rest: list[int]        # the other dims, in order
    indices: list[_Index]  # int64, non-negative, one per position
    front: int             # torch puts the index dims after this many of the rest dims


def _advanced(g: GraphBuilder, self: ir.Value, indices: Sequence[Any]) -> _Advanced:
    """Masks become their nonzero coordinates (as torch does), negative indices wrap."""
    entries: list[_Index | None] = []
    for item in indices:
        if isinstance(item, torch.Tensor):  # a constant index, not a graph value
            item = g.constant(item)
        if item is None:
            entries.append(None)
        elif g.dtype(item) in (torch.bool, torch.uint8):
            coords = g.op("NonZero", g.cast(item, torch.bool))
            for k in range(g.rank(item)):
                row = g.op("Gather", coords, h.scalar(g, k, "int64"), axis=0)
                entries.append(_Index(row, 1, None))
        else:
            value = g.cast(item, torch.int64)
            size = h.dim_size(g, self, len(entries))
            wrapped = g.op("Add", value, size if isinstance(size, ir.Value) else h.scalar(g, size, "int64"))
            value = g.op("Where", g.op("Less", value, h.scalar(g, 0, "int64")), wrapped, value)
            entries.append(_Index(value, g.rank(item), g.shape(item)))
    assert len(entries) <= g.rank(self), "torch refuses more indices than dims"
    positions = [p for p, e in enumerate(entries) if e is not None]
    rest = [d for d in range(g.rank(self)) if d not in positions]
    adjacent = positions == list(range(positions[0], positions[-1] + 1))
    return _Advanced(positions, rest, [e for e in entries if e is not None], positions[0] if adjacent else 0)


def _common_shape(g: GraphBuilder, indices: list[_Index]) -> tuple[list[int] | ir.Value, int]:
    """The index tensors' broadcast shape (a static list or a 1-D value) and its rank."""
    rank = max(i.rank for i in indices)
    static = [i.shape for i in indices if i.shape is not None and c.is_static(i.shape)]
    if len(static) == len(indices):
        return list(np.broadcast_shapes(*[tuple(s) for s in static])), rank
    total = indices[0].value
    for i in indices[1:]:
        total = g.op("Add", total, i.value)
    return g.op("Shape", total), rank


def _stacked(g: GraphBuilder, indices: list[_Index], common: list[int] | ir.Value, rank: int) -> ir.Value:
    """[*common, len(indices)]: the index tuples, as GatherND/ScatterND take them."""
    values = []
    for i in indices:
        if isinstance(common, list) and i.shape == common:
            values.append(i.value)
        else:
            values.append(g.op("Expand", i.value, common if isinstance(common, ir.Value) else h.ints(g, common)))
    return g.op("Concat", *[c.unsqueeze(g, v, [rank]) for v in values], axis=rank)


def _linear(g: GraphBuilder, self: ir.Value, adv: _Advanced) -> tuple[ir.Value, int]:
    """The flat position of each index tuple within the indexed dims (static sizes), and their count."""
    sizes = [c.static_size(g, self, p, refusal="dynamic_sizes_old_opset") for p in adv.positions]

    def term(k: int) -> ir.Value:
        stride, index = math.prod(sizes[k + 1:]), adv.indices[k].value
        return index if stride == 1 else g.op("Mul", index, h.scalar(g, stride, "int64"))

    linear = term(0)
    for k in range(1, len(adv.indices)):
        linear = g.op("Add", linear, term(k))
    return linear, math.prod(sizes)


def _to_torch_layout(g: GraphBuilder, x: ir.Value, adv: _Advanced, b: int) -> ir.Value:
    """[index dims..., rest...] -> torch's layout (index dims after `front` rest dims)."""
    if not adv.front:
        return x
    n = len(adv.rest)
    perm = [b + i for i in range(adv.front)] + list(range(b)) + [b + i for i in range(adv.front, n)]
    return g.op("Transpose", x, perm=perm)


def index_tensor(g: GraphBuilder, self: ir.Value, indices: Sequence[Any]) -> ir.Value:
    """Gather for one index tensor; GatherND (11+) or Gather at flat positions (9-10) for several."""
    adv = _advanced(g, self, indices)
    if len(adv.indices) == 1:
        return g.op("Gather", self, adv.indices[0].value, axis=adv.positions[0])
    data = _transpose(g, self, adv.positions + adv.rest)
    if g.opset >= 11:
        common, b = _common_shape(g, adv.indices)
        return _to_torch_layout(g, g.op("GatherND", data, _stacked(g, adv.indices, common, b)), adv, b)
    linear, count = _linear(g, self, adv)
    b = max(i.rank for i in adv.indices)
    flat = g.op("Reshape", data, _shape_value(g, [count], [h.dim_size(g, self, d) for d in adv.rest]))
    return _to_torch_layout(g, g.op("Gather", flat, linear, axis=0), adv, b)


def index_put(g: GraphBuilder, self: ir.Value, indices: Sequence[Any], values: ir.Value, accumulate: bool) -> ir.Value:
    """ScatterND (11+; reduction add from 16); before that a one-hot sum over the index tuples."""
    adv = _advanced(g, self, indices)
    r = g.rank(self)
    perm = adv.positions + adv.rest
    data = _transpose(g, self, perm)
    common, b = _common_shape(g, adv.indices)
    rest_sizes = [h.dim_size(g, self, d) for d in adv.rest]
    torch_shape = _shape_value(g, rest_sizes[:adv.front], common, rest_sizes[adv.front:])
    updates = g.op("Expand", g.cast(values, g.known_dtype(self)), torch_shape)
    if adv.front:  # back to [index dims..., rest...]
        n = len(adv.rest)
        updates = g.op("Transpose", updates, perm=[*range(adv.front, adv.front + b), *range(adv.front),
                                                   *range(adv.front + b, b + n)])
    if g.opset >= 11 and (not accumulate or g.opset >= 16):
        out = g.op("ScatterND", data, _stacked(g, adv.indices, common, b), updates,
                   reduction="add" if accumulate else None)
        return _transpose(g, out, _inverse(perm))
    # One-hot: mask[n, P] = (flat position == p); contributions summed over the n index tuples.
    # P (the indexed dims' positions) must be static; the other dims may be symbolic.
    linear, count = _linear(g, self, adv)
    rest_dims = g.shape(self)
    rest_dims = [rest_dims[d] for d in adv.rest]
    if all(isinstance(d, int) for d in rest_dims):
        width: Any = math.prod(rest_dims)
        if width == 0:
            return self
        width_value = h.ints(g, [width])
    else:
        tail = h.slice_axes(g, g.op("Shape", data), [len(adv.positions)], [h.INT64_MAX], [0])
        width_value = g.op("ReduceProd", tail, keepdims=1)
    if count == 0:
        return self
    dtype = g.known_dtype(self)
    compute = torch.int64 if dtype == torch.bool else dtype
    flat_index = g.op("Reshape", linear, h.ints(g, [-1]))
    rows = g.op("Reshape", g.cast(updates, compute), g.op("Concat", h.ints(g, [-1]), width_value, axis=0))
    mask = g.op("Equal", c.unsqueeze(g, flat_index, [1]), g.constant(list(range(count)), torch.int64))
    picked = g.op("Where", c.unsqueeze(g, mask, [2]), c.unsqueeze(g, rows, [1]), g.constant(0, compute))
    summed = c.reduce(g, "ReduceSum", picked, [0], False)
    flat = g.op("Reshape", g.cast(data, compute), g.op("Concat", h.ints(g, [count]), width_value, axis=0))
    if accumulate:
        out = g.op("Add", flat, summed)
    else:
        hits = c.reduce(g, "ReduceSum", g.cast(mask, torch.int64), [0], False)
        hit = c.unsqueeze(g, g.op("Greater", hits, h.scalar(g, 0, "int64")), [1])
        out = g.op("Where", hit, summed, flat)
    out = g.op("Reshape", g.cast(out, dtype), g.op("Shape", data))
    return _transpose(g, out, _inverse(perm)) if r else out


# -- scatter-like ----------------------------------------------------------------------------------
def _shape_of(g: GraphBuilder, x: ir.Value, dims: Sequence[Any] | None = None) -> ir.Value:
    """x's shape (`dims` when x carries none) as a 1-D value: a constant when static, else Shape."""
    dims = g.shape(x) if dims is None else list(dims)
    return h.ints(g, dims) if all(isinstance(d, int) for d in dims) else g.op("Shape", x)


def _along(g: GraphBuilder, positions: ir.Value, axis: int, like: ir.Value, dims: Sequence[Any] | None = None) -> ir.Value:
    """1-D positions along `axis` expanded to `like`'s shape (`dims`): a ScatterElements index."""
    view = [1] * (g.rank(like) if dims is None else len(dims))
    view[axis] = -1
    return g.op("Expand", g.op("Reshape", positions, h.ints(g, view)), _shape_of(g, like, dims))


def slice_scatter(g: GraphBuilder, self: ir.Value, src: Any, dim: int, start: Any, end: Any, step: Any) -> ir.Value:
    """Static size and bounds: Concat(head, src, tail) for step 1, ScatterElements at the static
    positions otherwise. A dynamic size or symbolic bounds: ScatterElements at the same slice of
    0..size-1 taken in the graph (shape_ops.slice_positions)."""
    axis = h.norm_dim(g, dim, self)
    src = g.cast(src, g.known_dtype(self))
    size = g.shape(self)[axis]
    if not h.all_known(g, start, end, step) or not isinstance(size, int):
        return _slice_scatter_dynamic(g, self, src, axis, start, end, step)
    positions = list(range(size))[slice(start, end, step)]
    if not positions:
        return self
    if step == 1:
        pieces = [h.slice_axes(g, self, [0], [positions[0]], [axis])] if positions[0] > 0 else []
        pieces.append(src)
        if positions[-1] < size - 1:
            pieces.append(h.slice_axes(g, self, [positions[-1] + 1], [h.INT64_MAX], [axis]))
        return pieces[0] if len(pieces) == 1 else g.op("Concat", *pieces, axis=axis)
    view = [1] * g.rank(self)
    view[axis] = len(positions)
    index = g.op("Expand", g.constant(torch.tensor(positions).reshape(view)), _shape_of(g, src))
    return _scatter_elements(g, self, index, src, axis)


def _slice_scatter_dynamic(g: GraphBuilder, self: ir.Value, src: ir.Value, axis: int, start: Any, end: Any,
                           step: Any) -> ir.Value:
    begin = 0 if start is None else start
    stop = h.INT64_MAX if end is None else end
    if h.all_known(g, begin, stop, step) and step == 1 and begin >= 0 and stop >= 0:
        # non-negative bounds need no size: Slice clamps, and src is empty when stop <= begin
        pieces = [h.slice_axes(g, self, [0], [begin], [axis])] if begin > 0 else []
        pieces.append(src)
        if stop < h.INT64_MAX // 2:
            pieces.append(h.slice_axes(g, self, [max(begin, stop)], [h.INT64_MAX], [axis]))
        return pieces[0] if len(pieces) == 1 else g.op("Concat", *pieces, axis=axis)
    positions = shape_ops.slice_positions(g, h.dim_size(g, self, axis), begin, stop, step)
    return _scatter_elements(g, self, _along(g, positions, axis, src), src, axis)


_REDUCTIONS = {"sum": "add", "prod": "mul", "amax": "max", "amin": "min", "mean": "add"}
_ONE_HOT_REDUCE = {"sum": "ReduceSum", "prod": "ReduceProd", "amax": "ReduceMax", "amin": "ReduceMin",
                   "mean": "ReduceSum"}


def _identity(reduce: str, dtype: torch.dtype) -> Any:
    """The value that leaves a reduction unchanged."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    info = torch.finfo(dtype) if dtype.is_floating_point else torch.iinfo(dtype)
    low, high = (-math.inf, math.inf) if dtype.is_floating_point else (info.min, info.max)
    return low if reduce == "amax" else high


def _combine(g: GraphBuilder, reduce: str, a: ir.Value, b: ir.Value) -> ir.Value:
    if reduce in ("sum", "mean"):
        return g.op("Add", a, b)
    if reduce == "prod":
        return g.op("Mul", a, b)
    return _max(g, a, b) if reduce == "amax" else _min(g, a, b)


def _pad_end_with(g: GraphBuilder, x: ir.Value, shape: list[int], target: list[int], fill: Any, dtype: torch.dtype) -> ir.Value:
    """Constant blocks appended after each axis until `shape` becomes `target`."""
    shape = list(shape)
    for axis, want in enumerate(target):
        if want > shape[axis]:
            block = _fill(g, [*shape[:axis], want - shape[axis], *shape[axis + 1:]], fill, dtype)
            x = g.op("Concat", x, block, axis=axis)
            shape[axis] = want
    return x


def _one_hot_reduce(g: GraphBuilder, data_shape: list[int], index_shape: list[int], axis: int, index: ir.Value,
                    updates: ir.Value, reduce: str, dtype: torch.dtype) -> tuple[ir.Value, ir.Value]:
    """Without ScatterElements' reduction: (each position's reduction of the updates scattered to it,
    with the identity where none is; how many were), both shaped like data.

    mask[..., j] = (index == j) for j along axis; Reduce over axis of Where(mask, updates, identity),
    the new last axis moved back to `axis`, padded to data's shape.
    """
    r = len(data_shape)
    identity = _identity(reduce, dtype)
    positions = g.constant(list(range(data_shape[axis])), torch.int64)
    mask = g.op("Equal", c.unsqueeze(g, index, [r]), positions)
    picked = g.op("Where", mask, c.unsqueeze(g, updates, [r]), g.constant(identity, dtype))
    reduced = c.reduce(g, _ONE_HOT_REDUCE[reduce], picked, [axis], False)
    counts = c.reduce(g, "ReduceSum", g.cast(mask, torch.int64), [axis], False)
    if r > 1:
        perm = [*range(axis), r - 1, *range(axis, r - 1)]
        reduced, counts = g.op("Transpose", reduced, perm=perm), g.op("Transpose", counts, perm=perm)
    shape = [data_shape[k] if k == axis else index_shape[k] for k in range(r)]
    return (_pad_end_with(g, reduced, shape, data_shape, identity, dtype),
            _pad_end_with(g, counts, shape, data_shape, 0, torch.int64))


def _scatter_reduce(g: GraphBuilder, self: ir.Value, axis: int, index: ir.Value, index_shape: list[int | str],
                    updates: ir.Value, reduce: str, include_self: bool) -> ir.Value:
    """scatter_reduce on 1-D-or-more values; `updates` is shaped like index."""
    dtype = g.known_dtype(self)
    native = g.opset >= 18 or (g.opset >= 16 and reduce in ("sum", "prod", "mean"))
    if native:
        base = self
        if not include_self:  # the identity first at every scattered-to position
            base = _scatter_elements(g, self, index, g.op("Expand", g.constant(_identity(reduce, dtype), dtype),
                                                               g.op("Shape", index)), axis)
        out = _scatter_elements(g, base, index, updates, axis, _REDUCTIONS[reduce])
        if reduce != "mean":
            return out
        ones = g.op("Expand", g.constant(1, torch.int64), g.op("Shape", index))
        zeros = g.op("ConstantOfShape", g.op("Shape", self), value=torch.tensor([0], dtype=torch.int64))
        counts = _scatter_elements(g, zeros, index, ones, axis, "add")
    else:
        data_shape = c.static_shape(g, self, refusal="dynamic_sizes_old_opset")
        index_dims = c.static_dims(index_shape)
        if index_dims is None:
            raise g.refuse("dynamic_sizes_old_opset", detail=f"the index has shape {index_shape}")
        contributions, counts = _one_hot_reduce(g, data_shape, index_dims, axis, index, updates, reduce, dtype)
        if include_self:
            out = _combine(g, reduce, self, contributions)
        else:
            out = g.op("Where", g.op("Greater", counts, g.constant(0, torch.int64)), contributions, self)
        if reduce != "mean":
            return out
    # mean: the sum over the self element (if included) and the updates, divided by their count
    if include_self:
        counts = g.op("Add", counts, g.constant(1, torch.int64))
    counts = g.op("Where", g.op("Equal", counts, g.constant(0, torch.int64)), g.constant(1, torch.int64), counts)
    counts = g.cast(counts, dtype)
    return g.op("Div", out, counts) if dtype.is_floating_point else _int_floor_div(g, out, counts)


def _fit(g: GraphBuilder, src: ir.Value, index: ir.Value) -> ir.Value:
    """The leading corner of src shaped like index (torch reads src only where index is)."""
    src, index_shape = c.as_1d(g, src), g.shape(index)
    if g.shape(src) == index_shape:
        return src
    axes = list(range(len(index_shape)))
    if all(isinstance(d, int) for d in index_shape):
        return h.slice_axes(g, src, [0] * len(index_shape), index_shape, axes)
    if g.opset < 10:
        raise g.refuse("dynamic_src_before_10", detail=f"index has shape {index_shape}")
    return g.op("Slice", src, h.ints(g, [0] * len(index_shape)), g.op("Shape", index), h.ints(g, axes))


def scatter_reduce_two(g: GraphBuilder, self: ir.Value, dim: int, index: ir.Value, src: ir.Value, reduce: str,
                       include_self: bool) -> ir.Value:
    """ScatterElements with reduction (add/mul 16, max/min 18; mean as sum / count); before, one-hot."""
    data, idx = c.as_1d(g, self), c.as_1d(g, index)
    index_shape = g.shape(idx)
    updates = g.cast(_fit(g, src, idx), g.known_dtype(self))
    out = _scatter_reduce(g, data, h.norm_dim(g, dim, self), idx, index_shape, updates, reduce, include_self)
    return _reshape_back(g, out, self)


def _index_along(g: GraphBuilder, index: ir.Value, axis: int, source: ir.Value) -> ir.Value:
    """A 1-D index along `axis` expanded to the source's shape (for ScatterElements)."""
    view = [1] * g.rank(source)
    view[axis] = -1
    return g.op("Expand", g.op("Reshape", g.cast(index, torch.int64), h.ints(g, view)), g.op("Shape", source))


def index_add(g: GraphBuilder, self: ir.Value, dim: int, index: ir.Value, source: ir.Value, alpha: Any) -> ir.Value:
    """self[..., index[i], ...] += alpha * source[..., i, ...] (duplicates accumulate)."""
    data, src = c.as_1d(g, self), c.as_1d(g, g.cast(source, g.known_dtype(self)))
    axis = h.norm_dim(g, dim, self)
    idx, source_shape = _index_along(g, index, axis, src), g.shape(src)
    if alpha != 1:
        src = g.op("Mul", src, h.like(g, alpha, src))
    out = _scatter_reduce(g, data, axis, idx, source_shape, src, "sum", True)
    return _reshape_back(g, out, self)


# -- layout ----------------------------------------------------------------------------------------
def diagonal(g: GraphBuilder, self: ir.Value, offset: int, dim1: int, dim2: int) -> ir.Value:
    """dim1, dim2 moved last and merged; Gather of the diagonal's flat positions (computed in the
    graph when the two sizes are known only at run time)."""
    r = g.rank(self)
    d1, d2 = h.norm_dim(g, dim1, self), h.norm_dim(g, dim2, self)
    others = [d for d in range(r) if d not in (d1, d2)]
    s1, s2 = _size(g, self, d1), _size(g, self, d2)
    if isinstance(s1, ir.Value) or isinstance(s2, ir.Value):
        return _diagonal_dynamic(g, self, offset, d1, d2, others, s1, s2)
    length = max(0, min(s1, s2 - offset) if offset >= 0 else min(s1 + offset, s2))
    if length == 0:
        return h.zeros_of_shape(g, [*[_size(g, self, d) for d in others], 0], self)
    x = _transpose(g, self, [*others, d1, d2])
    flat = g.op("Reshape", x, h.ints(g, [0] * len(others) + [s1 * s2]))
    row, col = max(0, -offset), max(0, offset)
    picked = [(row + i) * s2 + col + i for i in range(length)]
    return g.op("Gather", flat, g.constant(picked, torch.int64), axis=len(others))


def _diagonal_dynamic(g: GraphBuilder, self: ir.Value, offset: int, d1: int, d2: int, others: list[int],
                      s1: int | ir.Value, s2: int | ir.Value) -> ir.Value:
    """The diagonal's length max(0, min(s1, s2 - offset)) (or min(s1 + offset, s2)) and flat positions
    (row + i) * s2 + col + i, for i below that length, all computed from the run-time sizes."""
    if offset >= 0:
        length = symint_ops.sym_min(g, s1, symint_ops.sub(g, s2, offset))
    else:
        length = symint_ops.sym_min(g, symint_ops.add(g, s1, offset), s2)
    length = symint_ops.sym_max(g, length, 0)
    x = _transpose(g, self, [*others, d1, d2])
    lead = [_size(g, self, d) for d in others]
    flat = h.reshape_to(g, x, [*lead, _times(g, s1, s2)])
    row, col = max(0, -offset), max(0, offset)
    steps = shape_ops.arange(g, length)
    stride = symint_ops.add(g, s2, 1)
    picked = g.op("Add", g.op("Mul", steps, stride if isinstance(stride, ir.Value) else h.scalar(g, stride, "int64")),
                  symint_ops.add(g, _times(g, row, s2), col))
    return g.op("Gather", flat, picked, axis=len(others))


def flip(g: GraphBuilder, self: ir.Value, dims: Sequence[int]) -> ir.Value:
    """Slice with step -1 (10+); before, Gather of the reversed static index range."""
    axes = sorted({h.norm_dim(g, d, self) for d in dims}) if g.rank(self) else []
    if not axes:
        return self
    if g.opset >= 10:
        k = len(axes)
        return g.op("Slice", self, h.ints(g, [-1] * k), h.ints(g, [-h.INT64_MAX] * k), h.ints(g, axes),
                    h.ints(g, [-1] * k))
    out = self
    for axis in axes:
        size = c.static_size(g, self, axis, refusal="dynamic_sizes_old_opset")
        out = g.op("Gather", out, g.constant(list(reversed(range(size))), torch.int64), axis=axis)
    return out


def roll(g: GraphBuilder, self: ir.Value, shifts: Sequence[Any], dims: Sequence[int]) -> ir.Value:
    """Concat(last `shift` elements, the others) along each dim; no dims: of the flattened tensor.
    A dynamic size (or a symbolic shift) takes the shift modulo the size in the graph."""
    if not dims:
        dims_known = g.shape(self)
        flat = g.op("Reshape", self, h.ints(g, [-1]))
        if all(isinstance(d, int) for d in dims_known):
            flat.shape = ir.Shape([math.prod(dims_known)])
            return g.op("Reshape", roll(g, flat, [shifts[0]], [0]), h.ints(g, dims_known))
        flat.shape = ir.Shape([None])
        flat.dtype = self.dtype
        return g.op("Reshape", roll(g, flat, [shifts[0]], [0]), g.op("Shape", self))
    out = self
    for shift, dim in zip(shifts, dims):
        axis = h.norm_dim(g, dim, self)
        size = g.shape(self)[axis]
        if isinstance(size, int) and not isinstance(shift, ir.Value):
            s = shift % size if size else 0
            if s:
                out = g.op("Concat", h.slice_axes(g, out, [size - s], [h.INT64_MAX], [axis]),
                           h.slice_axes(g, out, [0], [size - s], [axis]), axis=axis)
            continue
        out = _roll_dynamic(g, out, shift, h.dim_size(g, self, axis), axis)
    return out


def _roll_dynamic(g: GraphBuilder, x: ir.Value, shift: Any, size: int | ir.Value, axis: int) -> ir.Value:
    """split = size - shift % size (Python's %, divisor at least 1 for empty axes); from opset 10
    Concat(x[split:], x[:split]), before it Gather at (i + split) wrapped into [0, size)."""
    n = size if isinstance(size, ir.Value) else h.scalar(g, size, "int64")
    split = symint_ops.sub(g, n, symint_ops.mod(g, shift, symint_ops.sym_max(g, n, 1)))
    if g.opset >= 10:
        return g.op("Concat", h.slice_axes(g, x, [split], [h.INT64_MAX], [axis]), h.slice_axes(g, x, [0], [split], [axis]), axis=axis)
    positions = g.op("Add", shape_ops.arange(g, n), split)
    positions = g.op("Where", g.op("Less", positions, n), positions, g.op("Sub", positions, n))
    return g.op("Gather", x, positions, axis=axis)


def im2col(g: GraphBuilder, self: ir.Value, kernel_size: Sequence[int], dilation: Sequence[int], padding: Sequence[int],
           stride: Sequence[int]) -> ir.Value:
    """Pad, flatten the image, Gather a static [kh*kw, L] matrix of flat positions, merge C with kh*kw
    (with dynamic image sizes, the matrix is computed in the graph)."""
    r = g.rank(self)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel_size, dilation, padding, stride
    if not all(isinstance(d, int) for d in g.shape(self)[r - 2:]):
        return _im2col_dynamic(g, self, kernel_size, dilation, padding, stride)
    height, width = [int(d) for d in g.shape(self)[r - 2:]]  # static: dynamic sizes took the branch above
    hp, wp = height + 2 * ph, width + 2 * pw
    oh, ow = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    x = _pad_constant(g, self, [0] * (r - 2) + [ph, pw] + [0] * (r - 2) + [ph, pw], 0) if ph or pw else self
    flat = g.op("Reshape", x, h.ints(g, [0] * (r - 2) + [hp * wp]))
    ki, kj, oi, oj = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(oh), np.arange(ow), indexing="ij")
    picked = ((oi * sh + ki * dh) * wp + oj * sw + kj * dw).reshape(kh * kw, oh * ow)
    out = g.op("Gather", flat, g.constant(torch.from_numpy(picked.astype(np.int64))), axis=r - 2)
    return g.op("Reshape", out, h.ints(g, [0] * (r - 3) + [_im2col_rows(g, self, kh * kw), oh * ow]))


def _im2col_rows(g: GraphBuilder, self: ir.Value, blocks: int) -> int | ir.Value:
    """C * kh * kw, im2col's row count: stated, not -1, since a batch of 0 makes -1 ambiguous."""
    channels = h.dim_size(g, self, g.rank(self) - 3)
    return channels * blocks if isinstance(channels, int) else symint_ops.mul(g, channels, blocks)


def _im2col_dynamic(g: GraphBuilder, self: ir.Value, kernel_size: Sequence[int], dilation: Sequence[int],
                    padding: Sequence[int], stride: Sequence[int]) -> ir.Value:
    """im2col's flat positions (oi*sh + ki*dh) * padded width + oj*sw + kj*dw, from the image
    sizes read at run time."""
    r = g.rank(self)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel_size, dilation, padding, stride
    hp = symint_ops.add(g, h.dim_size(g, self, r - 2), 2 * ph)
    wp = symint_ops.add(g, h.dim_size(g, self, r - 1), 2 * pw)
    oh = symint_ops.add(g, symint_ops.floordiv(g, symint_ops.sub(g, hp, dh * (kh - 1) + 1), sh), 1)
    ow = symint_ops.add(g, symint_ops.floordiv(g, symint_ops.sub(g, wp, dw * (kw - 1) + 1), sw), 1)
    x = _pad_constant(g, self, [0] * (r - 2) + [ph, pw] + [0] * (r - 2) + [ph, pw], 0) if ph or pw else self
    flat = g.op("Reshape", x, h.ints(g, [0] * (r - 2) + [symint_ops.mul(g, hp, wp)]))  # not -1: N may be 0
    ki, kj = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    rows = g.op("Mul", g.op("Reshape", shape_ops.arange(g, oh), h.ints(g, [1, -1, 1])), h.scalar(g, sh, "int64"))
    cols = g.op("Mul", g.op("Reshape", shape_ops.arange(g, ow), h.ints(g, [1, 1, -1])), h.scalar(g, sw, "int64"))
    row_offsets = g.constant(torch.from_numpy((ki * dh).reshape(-1, 1, 1).astype(np.int64)))
    col_offsets = g.constant(torch.from_numpy((kj * dw).reshape(-1, 1, 1).astype(np.int64)))
    picked = g.op("Add", g.op("Mul", g.op("Add", rows, row_offsets), wp), g.op("Add", cols, col_offsets))
    picked = g.op("Reshape", picked, h.ints(g, [kh * kw, -1]))
    out = g.op("Gather", flat, picked, axis=r - 2)
    rows = _im2col_rows(g, self, kh * kw)
    return g.op("Reshape", out, h.ints(g, [0] * (r - 3) + [rows, symint_ops.mul(g, oh, ow)]))


def col2im(g: GraphBuilder, self: ir.Value, output_size: Sequence[int], kernel_size: Sequence[int],
           dilation: Sequence[int], padding: Sequence[int], stride: Sequence[int]) -> ir.Value:
    """Col2Im (18+, float32); before, each output pixel sums its static list of column entries
    (Gather from the columns plus a zero sentinel, then ReduceSum)."""
    r = g.rank(self)
    (height, width), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = output_size, kernel_size, dilation, padding, stride
    if g.opset >= 18 and g.dtype(self) == torch.float32:
        x = self if r == 3 else c.unsqueeze(g, self, [0])
        out = g.op("Col2Im", x, h.ints(g, [height, width]), h.ints(g, [kh, kw]), dilations=[dh, dw],
                   pads=[ph, pw, ph, pw], strides=[sh, sw])
        return out if r == 3 else g.op("Reshape", out, h.ints(g, [-1, height, width]))
    if isinstance(height, ir.Value) or isinstance(width, ir.Value):
        return _col2im_by_scatter(g, self, [height, width], [kh, kw], [dh, dw], [ph, pw], [sh, sw])
    blocks = kh * kw
    oh = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    count = oh * ow
    sources: list[list[int]] = [[] for _ in range(height * width)]
    for k in range(blocks):
        ki, kj = divmod(k, kw)
        for li in range(oh):
            y = li * sh - ph + ki * dh
            if not 0 <= y < height:
                continue
            for lj in range(ow):
                x_pos = lj * sw - pw + kj * dw
                if 0 <= x_pos < width:
                    sources[y * width + x_pos].append(k * count + li * ow + lj)
    sentinel = blocks * count
    depth = max(1, max(len(s) for s in sources))
    table = torch.tensor([s + [sentinel] * (depth - len(s)) for s in sources], dtype=torch.int64)
    lead = r - 2
    cols = g.op("Reshape", self, h.ints(g, [0] * lead + [-1, blocks * count]))
    cols = _pad_constant(g, cols, [0] * (lead + 1) + [0] + [0] * (lead + 1) + [1], 0)
    summed = c.reduce(g, "ReduceSum", g.op("Gather", cols, g.constant(table), axis=lead + 1), [lead + 2], False)
    return g.op("Reshape", summed, h.ints(g, [0] * (lead + 1) + [height, width]))


def _col2im_by_scatter(g: GraphBuilder, self: ir.Value, output_size: Sequence[Any], kernel_size: Sequence[int],
                      dilation: Sequence[int], padding: Sequence[int], stride: Sequence[int]) -> ir.Value:
    """col2im with an output size computed at run time: for each of the kh*kw kernel offsets, the
    L column entries land on distinct pixels (their flat positions computed in the graph), so a
    plain scatter into zeros per offset, summed, adds up the overlaps. Entries outside the image
    go to a sentinel slot 0, cut off at the end."""
    lead = g.rank(self) - 2
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel_size, dilation, padding, stride

    def value(v: Any) -> ir.Value:
        return g.cast(v, torch.int64) if isinstance(v, ir.Value) else h.scalar(g, v, "int64")

    def blocks_along(size: ir.Value, k: int, d: int, p: int, st: int) -> ir.Value:
        span = g.op("Sub", g.op("Add", size, value(2 * p)), value(d * (k - 1) + 1))
        return g.op("Add", symint_ops.floordiv(g, span, st), value(1))

    height, width = value(output_size[0]), value(output_size[1])
    ow = blocks_along(width, kw, dw, pw, sw)
    count = g.op("Mul", blocks_along(height, kh, dh, ph, sh), ow)
    cols = g.op("Reshape", self, h.ints(g, [0] * lead + [-1, kh * kw, count]))
    l_index = shape_ops.arange(g, count)
    li = g.op("Div", l_index, ow)
    lj = g.op("Sub", l_index, g.op("Mul", li, ow))
    zero = value(0)
    pixels = g.op("Mul", height, width)
    target_shape = g.op("Concat", h.slice_axes(g, g.op("Shape", cols), [0], [lead + 1], [0]),
                        g.op("Reshape", g.op("Add", pixels, value(1)), h.ints(g, [1])), axis=0)
    zeros = g.cast(g.op("ConstantOfShape", target_shape), g.known_dtype(self))

    def part(k: int) -> ir.Value:
        """The column entries of kernel offset k scattered into zeros."""
        ki, kj = divmod(k, kw)
        y = g.op("Add", g.op("Mul", li, value(sh)), value(ki * dh - ph))
        x = g.op("Add", g.op("Mul", lj, value(sw)), value(kj * dw - pw))
        inside = g.op("And", g.op("And", g.op("Not", g.op("Less", y, zero)), g.op("Less", y, height)),
                      g.op("And", g.op("Not", g.op("Less", x, zero)), g.op("Less", x, width)))
        flat = g.op("Where", inside, g.op("Add", g.op("Add", g.op("Mul", y, width), x), value(1)), zero)
        entries = g.op("Gather", cols, value(k), axis=lead + 1)
        index = g.op("Expand", flat, g.op("Shape", entries))
        return _scatter_elements(g, zeros, index, entries, lead + 1)

    total = part(0)
    for k in range(1, kh * kw):
        total = g.op("Add", total, part(k))
    image = h.slice_axes(g, total, [1], [h.INT64_MAX], [lead + 1])
    return g.op("Reshape", image, h.ints(g, [0] * (lead + 1) + [height, width]))


# -- padding (opspecs/padding.yaml) ----------------------------------------------------------------
def _onnx_pads(g: GraphBuilder, x: ir.Value, pad: Sequence[int]) -> list[int]:
    """torch's pad list (last dim first, (begin, end) pairs) as ONNX [begins..., ends...] over all axes."""
    r = g.rank(x)
    begins, ends = [0] * r, [0] * r
    for i in range(len(pad) // 2):
        begins[r - 1 - i], ends[r - 1 - i] = _pad_amount(pad[2 * i]), _pad_amount(pad[2 * i + 1])
    return begins + ends


def _pad_amount(amount: Any) -> Any:
    """A pad amount: an int, or a 0-d value when computed at run time (a SymInt)."""
    return amount if isinstance(amount, ir.Value) else int(amount)


def _padded(amount: Any) -> bool:
    return isinstance(amount, ir.Value) or amount != 0


def _pad_constant(g: GraphBuilder, x: ir.Value, pads: list[int], value: Any) -> ir.Value:
    """Constant Pad with ONNX-style pads (negative ones crop)."""
    return _pad(g, x, pads, "constant", value)


# Pad-2 (opsets 9-10) takes floats only in ONNX Runtime; Pad-11/-12 no bool.
_PAD2_DTYPES = (torch.float32, torch.float64, torch.float16)


def _pad(g: GraphBuilder, x: ir.Value, pads: list[Any], mode: str, value: Any = 0) -> ir.Value:
    """ONNX-style pads (ints, or 0-d values computed at run time); negative ones crop."""
    r = len(pads) // 2
    if not any(_padded(p) for p in pads):
        return x
    dtype = g.known_dtype(x)
    if g.opset < 11:  # Pad-2: pads are an attribute, and ONNX Runtime pads floats only
        symbolic = not all(isinstance(p, int) for p in pads)
        if dtype in _PAD2_DTYPES and not symbolic:
            return g.op("Pad", x, pads=pads, mode=mode, value=float(value) if mode == "constant" else None)
        if not symbolic and all(isinstance(d, int) for d in g.shape(x)):
            return _pad_by_gather(g, x, pads, mode, value)
        return _pad_by_positions(g, x, pads, mode, value)
    if dtype == torch.bool and g.opset < 13:
        return g.cast(_pad(g, g.cast(x, torch.uint8), pads, mode, int(bool(value))), torch.bool)
    constant = h.like(g, value, x) if mode == "constant" else None
    if g.opset >= 18:  # only the padded axes
        axes = [a for a in range(r) if _padded(pads[a]) or _padded(pads[r + a])]
        short = [pads[a] for a in axes] + [pads[r + a] for a in axes]
        return g.op("Pad", x, h.ints(g, short), constant, h.ints(g, axes), mode=mode)
    return g.op("Pad", x, h.ints(g, pads), constant, mode=mode)


def _pad_by_gather(g: GraphBuilder, x: ir.Value, pads: list[int], mode: str, value: Any) -> ir.Value:
    """Pad without Pad (dtypes Pad-2 lacks): crops by Slice, then constant blocks by Concat, or
    reflect/edge positions by Gather of a static index range."""
    r = len(pads) // 2
    shape = [int(d) for d in g.shape(x)]  # _pad takes this form for static shapes only
    for axis in range(r):
        begin, end = pads[axis], pads[r + axis]
        if not begin and not end:
            continue
        size = shape[axis]
        if mode == "constant":
            if begin < 0 or end < 0:
                x = h.slice_axes(g, x, [max(0, -begin)], [size - max(0, -end)], [axis])
                size -= max(0, -begin) + max(0, -end)
            pieces = []
            for amount in (begin, end):
                block = [*shape[:axis], amount, *shape[axis + 1:]]
                pieces.append(_fill(g, block, value, g.known_dtype(x)) if amount > 0 else None)
            x = g.op("Concat", *[p for p in (pieces[0], x, pieces[1]) if p is not None], axis=axis)
            shape[axis] = size + max(0, begin) + max(0, end)
            continue
        positions = []
        for p in range(-begin, size + end):
            if mode == "edge":
                positions.append(min(max(p, 0), size - 1))
            else:
                positions.append(-p if p < 0 else 2 * (size - 1) - p if p >= size else p)
        x = g.op("Gather", x, g.constant(positions, torch.int64), axis=axis)
        shape[axis] = len(positions)
    return x


def _pad_by_positions(g: GraphBuilder, x: ir.Value, pads: list[Any], mode: str, value: Any) -> ir.Value:
    """Pad-2 cannot take sizes or pads computed at run time (nor, in ONNX Runtime, non-floats):
    per padded axis, the output's source positions p = -begin .. size+end-1 computed in the graph,
    then Gather at p clamped (edge), mirrored (reflect), or clamped and masked to `value`
    (constant; negative pads crop, as the range then starts or ends inside)."""
    r = len(pads) // 2
    zero = h.scalar(g, 0, "int64")
    source = x  # carries the shape (each axis changes once, so its size along axis is x's)
    for axis in range(r):
        begin, end = pads[axis], pads[r + axis]
        if not _padded(begin) and not _padded(end):
            continue
        size = h.dim_size(g, source, axis)
        n = size if isinstance(size, ir.Value) else h.scalar(g, size, "int64")
        first, after = (g.cast(v, torch.int64) if isinstance(v, ir.Value) else h.scalar(g, v, "int64")
                        for v in (begin, end))
        count = g.op("Add", g.op("Add", n, first), after)
        p = g.op("Sub", shape_ops.arange(g, count), first)
        last = g.op("Sub", n, h.scalar(g, 1, "int64"))
        if mode == "reflect":  # -p before the start, 2 (size - 1) - p past the end
            p = g.op("Where", g.op("Less", p, zero), g.op("Neg", p), p)
            p = g.op("Where", g.op("Less", last, p), g.op("Sub", g.op("Add", last, last), p), p)
        clamped = _max(g, _min(g, p, last), zero)
        picked = g.op("Gather", x, clamped, axis=axis)
        if mode == "constant":
            inside = g.op("And", g.op("Not", g.op("Less", p, zero)), g.op("Less", p, n))
            view = [1] * r
            view[axis] = -1
            inside = g.op("Reshape", inside, h.ints(g, view))
            picked = _where(g, inside, picked, h.like(g, value, source))
        x = picked
    return x


def constant_pad_nd(g: GraphBuilder, self: ir.Value, pad: Sequence[int], value: Any) -> ir.Value:
    """Pad mode constant; negative pads crop."""
    return _pad(g, self, _onnx_pads(g, self, pad), "constant", value)


def mode_pad(g: GraphBuilder, self: ir.Value, padding: Sequence[int], mode: str) -> ir.Value:
    """reflection_pad{1,2,3}d (mode "reflect") and replication_pad{1,2,3}d ("edge"); negative pads crop."""
    return _pad(g, self, _onnx_pads(g, self, padding), mode)
