"""Building blocks of the linear-algebra mappings (exporter/emit/lib/linalg_ops.py, linalg_spectral_ops.py,
linalg_ldl_ops.py): ONNX Loops, index masks and batched matrix plumbing. Not mappings themselves.

Every algorithm works on a stack of matrices (*batch, rows, cols) at once: one step of the
algorithm is one Loop iteration for the whole batch, and "row j" or "column j" at a step is
picked with a 1-element index (`Gather(x, [j], axis)`, which keeps the axis, so results
broadcast back) and written with `Where` over an index mask. The matrix sizes may be known only
at run time: trip counts and index vectors (`Range`) come from `Shape`, so a dynamic n needs no
special case. Everything here assumes opset 11 or newer (Range, GatherElements, ScatterElements,
Slice with inputs); the specs derive that first opset from the ops they declare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c

Size = int | ir.Value  # a matrix size: known at export time, or a 0-d int64 value
LoopBody = Callable[[Any, ir.Value, list[ir.Value]], Sequence[ir.Value]]
ConvergingBody = Callable[[Any, ir.Value, list[ir.Value]], tuple[ir.Value, Sequence[ir.Value]]]


# -- sizes and shapes --------------------------------------------------------------------------------
def size(g: GraphBuilder, x: ir.Value, axis: int) -> Size:
    """x's size along `axis` (negative counts from the end): an int, or a 0-d int64 value."""
    return h.dim_size(g, x, axis % g.rank(x))


def smaller(g: GraphBuilder, a: Size, b: Size) -> Size:
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    return g.op("Min", as_value(g, a), as_value(g, b))


def as_value(g: GraphBuilder, n: Size) -> ir.Value:
    """A size as a 0-d int64 value (a constant when known)."""
    return n if isinstance(n, ir.Value) else g.constant(int(n), torch.int64)


def batch_shape(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """The leading (batch) sizes of a stack of matrices, a 1-D int64 value (empty for one matrix)."""
    return g.op("Slice", g.op("Shape", x), g.constant([0], torch.int64), g.constant([g.rank(x) - 2], torch.int64))


def shaped(value: ir.Value, dims: Sequence[Any] | ir.Shape | None, dtype: ir.DataType | None = None) -> ir.Value:
    """Record a value's shape (ints, symbolic names or None) where ONNX's own inference is not run."""
    value.shape = ir.Shape(list(dims)) if dims is not None else None
    if dtype is not None:
        value.dtype = dtype
    return value


def matrix_dims(x: ir.Value, rows: Any, cols: Any) -> list[Any]:
    """x's batch dims followed by (rows, cols): the shape of a result with x's batch."""
    lead = list(x.shape)[:-2] if x.shape is not None else []
    return [*lead, rows if isinstance(rows, int) else None, cols if isinstance(cols, int) else None]


# -- index vectors and masks -------------------------------------------------------------------------
def iota(g: GraphBuilder, n: Size) -> ir.Value:
    """[0, 1, ..., n-1] as int64."""
    if isinstance(n, int):
        return shaped(g.constant(list(range(n)), torch.int64) if n else g.op(
            "Range", g.constant(0, torch.int64), g.constant(0, torch.int64), g.constant(1, torch.int64)), [n])
    return g.op("Range", g.constant(0, torch.int64), n, g.constant(1, torch.int64))


def column_of(g: GraphBuilder, index: ir.Value) -> ir.Value:
    """A 1-D index vector as a column (n, 1), to compare against row numbers."""
    return c.unsqueeze(g, index, [1])


def one(g: GraphBuilder, i: ir.Value) -> ir.Value:
    """A 0-d index as a 1-element vector: Gather with it keeps the axis."""
    return g.op("Reshape", i, g.constant([1], torch.int64))


def pick(g: GraphBuilder, x: ir.Value, i1: ir.Value, axis: int) -> ir.Value:
    """Entry `i1` (a 1-element index) of x along `axis` (counted from the end when negative, which
    needs x's rank), the axis kept with size 1."""
    if axis < 0:
        axis += g.rank(x)
    out = g.op("Gather", x, i1, axis=axis)
    if x.shape is not None:
        dims = list(x.shape)
        dims[axis] = 1
        shaped(out, dims, x.dtype)
    return out


def scalar(g: GraphBuilder, value: float, like: ir.Value) -> ir.Value:
    return g.constant(value, g.dtype(like))


def eye(g: GraphBuilder, rows: Size, cols: Size, dtype: torch.dtype) -> ir.Value:
    """The (rows, cols) identity of a dtype."""
    out = g.cast(g.op("Equal", column_of(g, iota(g, rows)), iota(g, cols)), dtype)
    return shaped(out, [rows if isinstance(rows, int) else None, cols if isinstance(cols, int) else None])


def zeros(g: GraphBuilder, shape: ir.Value, like: ir.Value) -> ir.Value:
    """Zeros of a run-time shape and like's dtype (ConstantOfShape: no NaN from multiplying)."""
    return g.op("Expand", scalar(g, 0.0, like), shape)


def transpose(g: GraphBuilder, x: ir.Value, rank: int | None = None) -> ir.Value:
    """Swap the last two axes (of a value of known shape, or of the given rank)."""
    r = g.rank(x) if rank is None else rank
    out = g.op("Transpose", x, perm=[*range(r - 2), r - 1, r - 2])
    if x.shape is None:
        return out
    dims = list(x.shape)
    return shaped(out, [*dims[:-2], dims[-1], dims[-2]], x.dtype)


def expand_batch(g: GraphBuilder, x: ir.Value, other: ir.Value) -> ir.Value:
    """x broadcast against other's batch dims (the last two axes of x are kept)."""
    target = g.op("Concat", batch_shape(g, other), g.constant([1, 1], torch.int64), axis=0)
    return g.op("Expand", x, target)


def broadcast_dims(a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    """Broadcast of two batch shapes where known (None where a size is known only at run time)."""
    a, b = list(a), list(b)
    width = max(len(a), len(b))
    a, b = [1] * (width - len(a)) + a, [1] * (width - len(b)) + b
    out: list[Any] = []
    for x, y in zip(a, b):
        if isinstance(x, int) and isinstance(y, int):
            out.append(max(x, y) if min(x, y) != 0 else 0)
        elif x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        else:
            out.append(x if x == y else None)
    return out


def lower_mask(g: GraphBuilder, rows: Size, cols: Size, offset: int = 0) -> ir.Value:
    """Bool (rows, cols): True where column <= row + offset (tril's mask)."""
    r = column_of(g, iota(g, rows))
    k = iota(g, cols)
    if offset:
        r = g.op("Add", r, g.constant(offset, torch.int64))
    return g.op("LessOrEqual", k, r) if g.opset >= 12 else g.op("Not", g.op("Greater", k, r))


def tril(g: GraphBuilder, x: ir.Value, rows: Size, cols: Size, offset: int = 0) -> ir.Value:
    return g.op("Where", lower_mask(g, rows, cols, offset), x, scalar(g, 0.0, x))


def triu(g: GraphBuilder, x: ir.Value, rows: Size, cols: Size, offset: int = 0) -> ir.Value:
    return g.op("Where", lower_mask(g, rows, cols, offset - 1), scalar(g, 0.0, x), x)


def slice_last(g: GraphBuilder, x: ir.Value, axis: int, end: Size) -> ir.Value:
    """x[..., :end] along axis (negative)."""
    return g.op("Slice", x, g.constant([0], torch.int64), one(g, as_value(g, end)), g.constant([axis], torch.int64))


def square(g: GraphBuilder, x: ir.Value) -> ir.Value:
    return g.op("Mul", x, x)


def sum_over(g: GraphBuilder, x: ir.Value, axis: int) -> ir.Value:
    """Sum over one axis, kept."""
    return c.reduce(g, "ReduceSum", x, [axis % g.rank(x)], True)


def empty(g: GraphBuilder, dtype: torch.dtype) -> ir.Value:
    """A (0,) tensor: what torch returns for an output it was asked not to compute."""
    return g.constant(torch.empty(0, dtype=dtype))


# -- loops -------------------------------------------------------------------------------------------
def _loop(g: GraphBuilder, trips: Size | None, carried: Sequence[ir.Value], step: Callable[..., Any],
          converging: bool) -> list[ir.Value]:
    body = g.subgraph()
    index = g.graph_input(torch.int64, [])
    condition = g.graph_input(torch.bool, [])
    inputs = [g.graph_input(g.known_dtype(v), v.shape) for v in carried]
    result = step(body, index, inputs)
    keep_going, values = result if converging else (condition, result)
    keep_going = body.op("Identity", keep_going)
    made = {id(out) for node in body.nodes for out in node.outputs}
    outputs = [keep_going]
    for value, before in zip(values, carried):
        if id(value) not in made or value in outputs:
            value = body.op("Identity", value)
        value.dtype = before.dtype
        outputs.append(value)
    assert len(outputs) == len(carried) + 1, "a loop body returns one value per carried value"
    graph = ir.Graph([index, condition, *inputs], outputs, nodes=body.nodes, name=g._node_name("linalg_loop_body"))
    trips_value = as_value(g, trips) if trips is not None else None
    loop = g.op("Loop", trips_value, g.constant(True), *carried, body=graph, _outputs=len(carried))
    loop = list(loop) if isinstance(loop, tuple) else [loop]
    for out, before in zip(loop, carried):
        shaped(out, before.shape, before.dtype)
    return loop


def fixed_loop(g: GraphBuilder, trips: Size, carried: Sequence[ir.Value], step: LoopBody) -> list[ir.Value]:
    """`trips` iterations of `step(body, i, values) -> new values` over the carried values."""
    return _loop(g, trips, carried, step, converging=False)


def converging_loop(g: GraphBuilder, most: Size, carried: Sequence[ir.Value], step: ConvergingBody) -> list[ir.Value]:
    """Iterations of `step(body, i, values) -> (again, new values)` while `again` (a bool scalar)
    holds, at most `most` of them."""
    return _loop(g, most, carried, step, converging=True)


def any_true(g: GraphBuilder, flags: ir.Value) -> ir.Value:
    """A 0-d bool: some element of `flags` (a bool tensor) is True (False for an empty one)."""
    flat = g.cast(g.op("Reshape", flags, g.constant([-1], torch.int64)), torch.float32)
    most = c.reduce(g, "ReduceMax", g.op("Concat", flat, g.constant([0.0], torch.float32), axis=0), [0], False)
    return g.op("Greater", most, g.constant(0.0, torch.float32))
