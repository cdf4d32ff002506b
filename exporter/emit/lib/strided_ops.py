"""Strided views over a tensor's storage (opspecs/shape.yaml): as_strided.

`as_strided(x, size, stride, storage_offset)` reads, at output position (i_0, ..., i_n-1),
flat element `storage_offset + sum_k i_k * stride[k]` of x's storage. The exported graph
hands it a dense row-major tensor (torch.export passes the functionalized base), so the
storage is x flattened: Reshape to [-1], then Gather at an int64 index tensor of shape `size`.
Static size/stride/offset give the index tensor as a constant; symbolic ones (dynamic shapes)
build it in the graph with Range, Mul and broadcasting Add (Range needs opset 11).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import STRIDED_VIEW_KEY, GraphBuilder


def _static_indices(size: Sequence[Any], stride: Sequence[Any], offset: Any) -> np.ndarray:
    """The index terms known at export time, shaped [size_k or 1 where size_k is symbolic]."""
    rank = len(size)
    known = [1 if isinstance(s, ir.Value) else int(s) for s in size]
    out = np.zeros(known, dtype=np.int64) + (0 if isinstance(offset, ir.Value) else int(offset))
    for k, (count, step) in enumerate(zip(size, stride)):
        if isinstance(count, ir.Value) or isinstance(step, ir.Value):
            continue
        view = [1] * rank
        view[k] = int(count)
        out = out + (np.arange(int(count), dtype=np.int64) * int(step)).reshape(view)
    return np.asarray(out)  # 0-d sums are numpy scalars


def _axis_term(g: GraphBuilder, count: Any, step: Any, axis: int, rank: int) -> ir.Value:
    """arange(count) * step as a [1, .., count, .., 1] int64 value (count or step symbolic)."""
    zero, one = g.constant(0, torch.int64), g.constant(1, torch.int64)
    positions = g.op("Range", zero, g.constant(count, torch.int64), one)
    term = g.op("Mul", positions, g.constant(step, torch.int64))
    return g.op("Reshape", term, h.ints(g, [1] * axis + [-1] + [1] * (rank - axis - 1)))


def as_strided(g: GraphBuilder, self: ir.Value, size: Sequence[Any], stride: Sequence[Any],
               storage_offset: Any = None) -> ir.Value:
    """Gather from flattened `self` at storage_offset + sum_k arange(size[k]) * stride[k]."""
    assert len(size) == len(stride), "torch refuses a size and a stride of different lengths"
    view = self.meta.get(STRIDED_VIEW_KEY)
    if view is not None:
        raise g.refuse("strided_view_input", detail=f"stride {list(view[0])}, storage offset {view[1]}")
    offset: Any = 0 if storage_offset is None else storage_offset
    flat = g.op("Reshape", self, h.ints(g, [-1]))
    indices: ir.Value = g.constant(torch.from_numpy(_static_indices(size, stride, offset)))
    symbolic_axes = [k for k, (count, step) in enumerate(zip(size, stride))
                     if h.is_value(g, count) or h.is_value(g, step)]
    if symbolic_axes or h.is_value(g, offset):
        if symbolic_axes and g.opset < 11:
            raise g.refuse("dynamic_sizes_old_opset")
        if h.is_value(g, offset):
            indices = g.op("Add", indices, g.cast(offset, torch.int64))
        for k in symbolic_axes:
            indices = g.op("Add", indices, _axis_term(g, size[k], stride[k], k, len(size)))
    return g.op("Gather", flat, indices, axis=0)
