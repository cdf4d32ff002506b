"""Ops whose output size depends on the data (opspecs/dynamic.yaml): masked_select, unique,
unique_consecutive, repeat_interleave with tensor repeats.

Each public function takes `(g, <every schema argument in order>)`. The sizes they produce
are unknown at export time; torch.export names them with unbacked symbols (u0, u1, ...) and
later ops read them back through sym_size (Shape + Gather), so nothing here needs them.
ONNX history used here: Compress (9), Unique, CumSum, Range (11), GreaterOrEqual (12), ReduceSum
axes as an input (13).
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter.lib import common as c

# dtypes ONNX Runtime's Unique has kernels for; others are computed in int64 (or float32)
_UNIQUE_DTYPES = {torch.float32, torch.float64, torch.float16, torch.int64, torch.int8}


def _flat(g: Any, value: ir.Value) -> ir.Value:
    return g.op("Reshape", value, h.ints(g, [-1]))


def _empty_int64(g: Any) -> ir.Value:
    return g.constant(torch.zeros(0, dtype=torch.int64))


def _greater_or_equal(g: Any, a: ir.Value, b: ir.Value) -> ir.Value:
    return g.op("GreaterOrEqual", a, b) if g.opset >= 12 else g.op("Not", g.op("Less", a, b))


def _unique_dtype(g: Any, value: ir.Value) -> torch.dtype:
    dtype = g.dtype(value)
    if dtype in _UNIQUE_DTYPES:
        return dtype
    return torch.float32 if dtype is not None and dtype.is_floating_point else torch.int64


def masked_select(g: Any, self: ir.Value, mask: ir.Value) -> ir.Value:
    """The elements of self (broadcast with mask) where mask is True, flattened: Compress."""
    if self.shape is not None and mask.shape is not None and list(self.shape) == list(mask.shape) \
            and all(isinstance(d, int) for d in self.shape):
        data, keep = self, mask
    else:  # the broadcast shape of the two, from zeros of each shape added together
        zeros = [g.op("ConstantOfShape", g.op("Shape", v)) for v in (self, mask)]
        shape = g.op("Shape", g.op("Add", *zeros))
        data, keep = g.op("Expand", self, shape), g.op("Expand", mask, shape)
    return g.op("Compress", _flat(g, data), _flat(g, g.cast(keep, torch.bool)), axis=0)


def unique2(g: Any, self: ir.Value, sorted: bool, return_inverse: bool, return_counts: bool) -> tuple[Any, ...]:
    """torch.unique without dim: ONNX Unique of the flattened input (always sorted).

    An inverse or counts output that was not asked for is empty, as in torch.
    """
    compute = _unique_dtype(g, self)
    values, _, inverse, counts = g.op("Unique", g.cast(_flat(g, self), compute), sorted=1, _outputs=4)
    inverse.dtype = counts.dtype = ir.DataType.INT64
    values = g.cast(values, g.dtype(self))
    inverse = g.op("Reshape", inverse, g.op("Shape", self)) if return_inverse else _empty_int64(g)
    return values, inverse, counts if return_counts else _empty_int64(g)


def unique_dim(g: Any, self: ir.Value, dim: int, sorted: bool, return_inverse: bool,
               return_counts: bool) -> tuple[Any, ...]:
    """torch.unique(dim=...): ONNX Unique along an axis (slices sorted lexicographically).

    torch returns the inverse and the counts whether asked for or not.
    """
    compute = _unique_dtype(g, self)
    values, _, inverse, counts = g.op("Unique", g.cast(self, compute), axis=h.norm_dim(g, dim, self), sorted=1,
                                      _outputs=4)
    inverse.dtype = counts.dtype = ir.DataType.INT64
    return g.cast(values, g.dtype(self)), inverse, counts


def unique_consecutive(g: Any, self: ir.Value, return_inverse: bool, return_counts: bool,
                       dim: int | None) -> tuple[Any, ...]:
    """Runs of equal neighbours of the flattened input: a run starts where x[i] != x[i - 1].

    values = Compress(x, starts); inverse = CumSum(starts) - 1; counts = differences of the
    run starts' positions (and the length).
    """
    if dim is not None and dim != 0:
        # torch runs its per-dim kernel for any dim but 0 of a vector (dim=-1), which returns the
        # inverse and the counts whether or not they were asked for
        return_inverse = return_counts = True
    x = _flat(g, self)
    length = g.op("Shape", x)
    later, earlier = h.slice_axes(g, x, [1], [h.INT64_MAX], [0]), h.slice_axes(g, x, [0], [-1], [0])
    if g.dtype(self) == torch.bool:
        changed = g.op("Xor", later, earlier)
    else:
        changed = g.op("Not", g.op("Equal", later, earlier))
    starts = g.op("Concat", g.constant([True], torch.bool), changed, axis=0)
    starts = g.op("Slice", starts, h.ints(g, [0]), length, h.ints(g, [0]))  # an empty input has no run
    values = g.op("Compress", x, starts, axis=0)
    inverse = _empty_int64(g)
    if return_inverse:
        run = g.op("Sub", g.op("CumSum", g.cast(starts, torch.int64), h.ints(g, [0])), g.constant(1, torch.int64))
        inverse = g.op("Reshape", run, g.op("Shape", self))
    counts = _empty_int64(g)
    if return_counts:
        positions = _flat(g, g.op("NonZero", starts))
        ends = g.op("Concat", h.slice_axes(g, positions, [1], [h.INT64_MAX], [0]), length, axis=0)
        counts = g.op("Sub", ends, positions)
    return values, inverse, counts


def repeat_interleave_tensor(g: Any, repeats: ir.Value, output_size: Any) -> ir.Value:
    """[0] * repeats[0] + [1] * repeats[1] + ...: output position p holds the number of
    cumulative repeat counts at or below p (a [total, n] comparison, summed)."""
    counts = g.cast(_flat(g, repeats), torch.int64)
    ends = g.op("CumSum", counts, h.ints(g, [0]))
    total = c.reduce(g, "ReduceSum", counts, None, False)
    positions = g.op("Range", g.constant(0, torch.int64), total, g.constant(1, torch.int64))
    passed = _greater_or_equal(g, c.unsqueeze(g, positions, [1]), c.unsqueeze(g, ends, [0]))
    index = c.reduce(g, "ReduceSum", g.cast(passed, torch.int64), [1], False)
    return g.cast(index, g.dtype(repeats))
