"""Fractional max pooling (opspecs/pooling.yaml) with the random samples as an input.

torch's CPU kernel (FractionalMaxPool2d.cpp / 3d, generate_intervals) starts window i of an axis
at int((i + u) * alpha) - int(u * alpha), alpha = (in - pool) / (out - 1), the last at in - pool,
all in the input's dtype, u the plane's sample for that axis (2-D: samples[..., 0] is the width's,
[..., 1] the height's; 3-D: time, height, width). The same arithmetic runs here on the samples
tensor, then every window is gathered (GatherElements over the flattened plane) and reduced: as
torch's loop (`val > max || isnan(val)`), a NaN wins (the last one), else the first maximum.
"""

from __future__ import annotations

import math
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c


def _window_starts(g: GraphBuilder, sample: ir.Value, size: int, pool: int, out: int) -> ir.Value:
    """The int64 start of each of `out` windows along one axis, [N, C, out], from `sample` [N, C, 1]."""
    last = size - pool
    alpha = (g.op("Div", h.like(g, float(last), sample), h.like(g, float(out - 1), sample)) if out > 1
             else h.like(g, 0.0, sample))
    i = g.constant(torch.arange(out, dtype=h.dtype(g, sample)))
    raw = g.op("Sub", g.op("Cast", g.op("Mul", g.op("Add", i, sample), alpha), to=h.onnx_dtype(g, "int64")),
               g.op("Cast", g.op("Mul", sample, alpha), to=h.onnx_dtype(g, "int64")))
    is_last = g.constant(torch.arange(out) == out - 1)
    return g.op("Where", is_last, h.scalar(g, last, "int64"), raw)


def fractional_max_pool(g: GraphBuilder, self: ir.Value, kernel_size: Any, output_size: Any,
                        random_samples: ir.Value, rank: int) -> tuple[ir.Value, ir.Value]:
    """torch's `rank`-D fractional max pooling: (values, indices flat in each input plane)."""
    pool, outs = h.per_dim(g, kernel_size, rank), h.per_dim(g, output_size, rank)
    sizes = [c.static_size(g, self, g.rank(self) - rank + a, refusal="dynamic_sizes") for a in range(rank)]
    x, added = c.batched(g, self, rank)
    # torch reads the first N rows of the samples (it accepts more)
    samples = g.op("Slice", random_samples, h.ints(g, [0]), h.slice_axes(g, g.op("Shape", x), [0], [1], [0]),
                   h.ints(g, [0]))
    sample_of_axis = [1, 0] if rank == 2 else [0, 1, 2]
    window, plane = math.prod(pool), math.prod(sizes)
    strides = [math.prod(sizes[a + 1:]) for a in range(rank)]
    # in-plane offset of each window element from the window's start, over the kernel axes
    offsets = sum(torch.arange(pool[a]).reshape([pool[a] if b == a else 1 for b in range(rank)]) * strides[a]
                  for a in range(rank))
    flat = g.constant(torch.as_tensor(offsets).reshape([1, 1] + [1] * rank + pool))
    for a in range(rank):
        sample = h.slice_axes(g, samples, [sample_of_axis[a]], [sample_of_axis[a] + 1], [2])
        start = g.op("Mul", _window_starts(g, sample, sizes[a], pool[a], outs[a]), h.scalar(g, strides[a], "int64"))
        others = [2 + b for b in range(rank) if b != a] + [2 + rank + b for b in range(rank)]
        flat = g.op("Add", flat, c.unsqueeze(g, start, others))
    flat = g.op("Reshape", flat, h.ints(g, [0, 0, *outs, window]))
    values = g.op("Reshape", g.op("GatherElements", g.op("Reshape", x, h.ints(g, [0, 0, plane])),
                                  g.op("Reshape", flat, h.ints(g, [0, 0, math.prod(outs) * window])), axis=2),
                  h.ints(g, [0, 0, *outs, window]))
    # a score per window element whose unique largest is torch's pick: NaNs above everything, the
    # later the higher; then maxima, the earlier the higher
    k = g.constant(torch.arange(window, dtype=torch.float32))
    zero = h.scalar(g, 0.0, "float32")
    nan_score = g.op("Where", g.op("IsNaN", values), g.op("Add", k, h.scalar(g, window + 1.0, "float32")), zero)
    top = c.reduce(g, "ReduceMax", values, [2 + rank], True)
    max_score = g.op("Where", g.op("Equal", values, top), g.op("Sub", h.scalar(g, float(window), "float32"), k), zero)
    pick = g.op("ArgMax", g.op("Max", nan_score, max_score), axis=2 + rank, keepdims=1)
    picked = (c.squeeze(g, g.op("GatherElements", values, pick, axis=2 + rank), [2 + rank]),
              c.squeeze(g, g.op("GatherElements", flat, pick, axis=2 + rank), [2 + rank]))
    values, indices = c.unbatched(g, picked, added)
    return values, indices
