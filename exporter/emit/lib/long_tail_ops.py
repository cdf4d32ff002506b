"""Mappings of issue 13's long tail of operators that are algorithms rather than a few ops:
writes at positions computed from static shapes (diagonal_scatter, as_strided_scatter)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import STRIDED_VIEW_KEY, GraphBuilder
from aten2onnx.exporter.emit.lib import common as c
from aten2onnx.exporter.emit.lib import indexing_ops


def _overwrite(g: GraphBuilder, self: ir.Value, src: ir.Value, positions: np.ndarray,
               write_order: np.ndarray | None = None) -> ir.Value:
    """self with flat element positions[i] replaced by src's element i (both flattened row-major).
    Where positions repeat, the write latest in write_order (row-major by default) wins. Gather +
    Where with static tables: any dtype, every opset."""
    shape = [int(d) for d in g.shape(self)]
    numel = int(np.prod(shape, dtype=np.int64))
    flat_positions = positions.reshape(-1)
    order = np.arange(flat_positions.size, dtype=np.int64) if write_order is None else write_order
    source = np.full(numel, -1, dtype=np.int64)
    source[flat_positions[order]] = order  # numpy keeps the last of repeated writes
    flat_self = g.op("Reshape", self, g.constant([numel], torch.int64))
    if flat_positions.size == 0:
        return self
    flat_src = g.op("Reshape", src, g.constant([int(flat_positions.size)], torch.int64))
    picked = g.op("Gather", flat_src, g.constant(torch.from_numpy(np.maximum(source, 0))), axis=0)
    mask = g.constant(torch.from_numpy(source >= 0))
    return g.op("Reshape", g.op("Where", mask, picked, flat_self), g.constant(shape, torch.int64))


def diagonal_scatter(g: GraphBuilder, self: ir.Value, src: ir.Value, offset: int, dim1: int, dim2: int) -> ir.Value:
    """torch.diagonal_scatter: src written over self's diagonal (static shapes)."""
    shape = c.static_shape(g, self, refusal="dynamic_sizes")
    flat = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    return _overwrite(g, self, src, np.diagonal(flat, offset, dim1 % len(shape), dim2 % len(shape)))


def as_strided_scatter(g: GraphBuilder, self: ir.Value, src: ir.Value, size: Sequence[Any], stride: Sequence[Any],
                       storage_offset: Any = None) -> ir.Value:
    """torch.as_strided_scatter: src written at storage_offset + sum_k i_k * stride[k] of self read
    as a dense row-major tensor (static shapes, sizes and strides)."""
    if self.meta.get(STRIDED_VIEW_KEY) is not None:
        raise g.refuse("strided_view_input", detail=f"'{self.name}' is a strided view")
    c.static_shape(g, self, refusal="dynamic_sizes")
    offset = 0 if storage_offset is None else storage_offset
    if any(isinstance(v, ir.Value) for v in (*size, *stride, offset)):
        raise g.refuse("dynamic_sizes", detail=f"size {list(size)}, stride {list(stride)}, offset {offset}")
    dims, steps = [int(s) for s in size], [int(s) for s in stride]
    positions = np.zeros(dims, dtype=np.int64) + int(offset)
    for k, (count, step) in enumerate(zip(dims, steps)):
        view = [1] * len(dims)
        view[k] = count
        positions = positions + (np.arange(count, dtype=np.int64) * step).reshape(view)
    outermost_first = list(reversed(_copy_loop_order(dims, steps)))
    write_order = np.arange(positions.size, dtype=np.int64).reshape(dims).transpose(outermost_first)
    return _overwrite(g, self, src, positions, write_order.reshape(-1))


def _copy_loop_order(size: list[int], stride: list[int]) -> list[int]:
    """The dims, innermost first, in which eager torch's copy_ into the strided window walks
    (TensorIterator's reorder_dimensions over the window's strides, then src's contiguous ones).
    Overlapping windows that torch accepts (no stride 0) keep the write latest in this walk."""
    contiguous = [int(np.prod(size[k + 1:], dtype=np.int64)) for k in range(len(size))]

    def after(dim0: int, dim1: int) -> int:  # 1: dim0 goes after dim1, -1: before, 0: undecided
        for strides in (stride, contiguous):
            if strides[dim0] == 0 or strides[dim1] == 0:
                continue
            if strides[dim0] != strides[dim1]:
                return 1 if strides[dim0] > strides[dim1] else -1
            if size[dim0] > size[dim1]:
                return 1
        return 0

    order = list(range(len(size)))[::-1]
    for i in range(1, len(order)):  # torch's insertion sort, which stops at the first "before"
        moving = i
        for earlier in range(i - 1, -1, -1):
            verdict = after(order[earlier], order[moving])
            if verdict > 0:
                order[earlier], order[moving] = order[moving], order[earlier]
                moving = earlier
            elif verdict < 0:
                break
    return order


def index_reduce(g: GraphBuilder, self: ir.Value, dim: int, index: ir.Value, source: ir.Value, reduce: str,
                 include_self: bool) -> ir.Value:
    """torch.index_reduce: scatter_reduce along dim with the 1-D index spread over source's shape."""
    view = [1] * g.rank(source)
    if view:
        view[dim % len(view)] = -1
    line = g.op("Reshape", g.cast(index, torch.int64), g.constant(view, torch.int64))
    spread = g.op("Expand", line, g.op("Shape", source))
    dims = list(g.dims(source))  # Expand's result, which scatter_reduce reads: source's shape with
    if dims:                         # index's length along dim (torch requires them equal)
        dims[dim % len(dims)] = g.dims(index)[0] if g.rank(index) == 1 else 1
    spread.shape = ir.Shape(dims)
    return indexing_ops.scatter_reduce_two(g, self, dim, spread, source, reduce, include_self)
