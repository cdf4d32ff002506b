"""Python mappings for pooling and bag ops (opspecs/pooling.yaml).

avg_pool1d/3d: AveragePool where its divisor matches torch's, otherwise explicit padding
and a constant map of torch's per-window divisors (the n-D form of nn_ops.avg_pool2d).
adaptive_avg_pool3d: nn_ops' adaptive average pooling. adaptive_max_pool1d/2d/3d: MaxPool
(with torch-style in-plane indices, nn_ops._max_pool) when the input size divides the output
size, otherwise one Slice + ReduceMax/ArgMax per output position along each axis, last axis
first, carrying the in-plane index of each maximum so the first maximum in row-major order
wins, as in torch. embedding_bag: Gather of the rows, then a (bags, indices) membership
matrix reduces them (MatMul for sum/mean, masked ReduceMax for max).

Opset changes handled here: Slice's inputs (10), Range and GatherElements (11),
Unsqueeze/Squeeze/ReduceSum axes as inputs (13), ReduceMax axes as an input (18).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter.lib import nn_ops

_INT64_MAX = 2**63 - 1


def _constraint(g: Any, message: str) -> Exception:
    return g.constraint_error(message, "exporter/lib/pooling_ops.py")


# -- average pooling -------------------------------------------------------------------------------


def _avg_pool(g: Any, self: ir.Value, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
              count_include_pad: bool, divisor_override: Any, n: int) -> ir.Value:
    k = nn_ops._n(kernel_size, n)
    s = nn_ops._n(stride, n) if stride else list(k)
    p = nn_ops._n(padding, n)
    x, added = nn_ops._batched(g, self, n)
    sizes = h.shape(g, self)[-n:]
    static = nn_ops._static(sizes)
    if ceil_mode and static and all(nn_ops._pool_out_size(L, kk, ss, pp, 1, True)
                                    == nn_ops._pool_out_size(L, kk, ss, pp, 1, False)
                                    for L, kk, ss, pp in zip(sizes, k, s, p)):
        ceil_mode = False
    area = math.prod(k)
    if not ceil_mode:
        # Every window lies inside the padded input: count_include_pad divides by the kernel area.
        include = bool(count_include_pad) or divisor_override is not None
        y = g.op("AveragePool", x, kernel_shape=k, strides=s, pads=p * 2, count_include_pad=int(include))
        if divisor_override is not None and divisor_override != area:
            y = g.op("Mul", y, h.scalar(g, area / divisor_override, g.dtype(self)))
    elif divisor_override is None and g.opset >= 10:
        y = g.op("AveragePool", x, kernel_shape=k, strides=s, pads=p * 2, count_include_pad=int(count_include_pad),
                 ceil_mode=1)
    else:
        if not static:
            raise _constraint(g, f"avg_pool{n}d with ceil_mode and divisor_override (or ceil_mode at opset 9) "
                                 "needs static spatial sizes")
        # Pad explicitly (zeros, plus the ceil-mode overhang), average full windows, then rescale
        # each output position from the kernel area to torch's divisor there.
        outs = [nn_ops._pool_out_size(L, kk, ss, pp, 1, True) for L, kk, ss, pp in zip(sizes, k, s, p)]
        ends = [max((o - 1) * ss + kk - L - pp, pp) for o, L, kk, ss, pp in zip(outs, sizes, k, s, p)]
        padded = nn_ops._pad(g, x, [0, 0, *p, 0, 0, *ends], 0.0)
        y = g.op("AveragePool", padded, kernel_shape=k, strides=s)
        per_axis = []
        for o, L, kk, ss, pp in zip(outs, sizes, k, s, p):
            starts = np.arange(o) * ss - pp
            stops = np.minimum(starts + kk, L + pp)
            if count_include_pad:
                per_axis.append(stops - starts)
            else:
                per_axis.append(np.minimum(stops, L) - np.maximum(starts, 0))
        divisor = functools.reduce(np.multiply.outer, per_axis).astype(np.float64)
        if divisor_override is not None:
            divisor[...] = divisor_override
        scale = torch.from_numpy(area / divisor).to(g.dtype(self))
        y = g.op("Mul", y, g.constant(scale))
    return nn_ops._squeeze(g, y, [0]) if added else y


def avg_pool1d(g, self, kernel_size, stride, padding, ceil_mode, count_include_pad):
    return _avg_pool(g, self, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool3d(g, self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    return _avg_pool(g, self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 3)


def adaptive_avg_pool3d(g, self, output_size):
    return nn_ops._adaptive_avg_pool(g, self, output_size, 3)


# -- adaptive max pooling --------------------------------------------------------------------------


def _window_max(g: Any, values: ir.Value, indices: ir.Value, axis: int, start: int, stop: int,
                rank: int) -> tuple[ir.Value, ir.Value]:
    """Max over [start, stop) along `axis` (kept), and the index carried by its first maximum."""
    v = h.slice_axes(g, values, [start], [stop], [axis])
    ix = h.slice_axes(g, indices, [start], [stop], [axis])
    if stop - start == 1:
        return v, ix
    top = nn_ops._reduce(g, "ReduceMax", v, [axis], True)
    first = g.op("ArgMax", v, axis=axis, keepdims=1)
    if g.opset >= 11:
        return top, g.op("GatherElements", ix, first, axis=axis)
    # GatherElements is new in 11: pick with a one-hot along the axis and sum it away
    positions = g.constant(torch.arange(stop - start).reshape([-1] + [1] * (rank - 1 - axis)))
    onehot = g.op("Cast", g.op("Equal", positions, first), to=h.onnx_dtype(g, "int64"))
    return top, nn_ops._reduce(g, "ReduceSum", g.op("Mul", onehot, ix), [axis], True)


def _adaptive_max_pool(g: Any, self: ir.Value, output_size: Any, n: int) -> tuple[ir.Value, ir.Value]:
    out = nn_ops._n(output_size, n)
    sizes = h.shape(g, self)[-n:]
    x, added = nn_ops._batched(g, self, n)
    rank = n + 2
    if all(o == 1 for o in out):
        # One window per plane: the max and the first flat position of it.
        values = nn_ops._reduce(g, "ReduceMax", x, list(range(2, rank)), True)
        flat = g.op("Reshape", x, h.ints(g, [0, 0, -1]))
        indices = g.op("Reshape", g.op("ArgMax", flat, axis=2, keepdims=1), h.ints(g, [0, 0, *([1] * n)]))
        return nn_ops._unbatch(g, (values, indices), added)
    if not nn_ops._static(sizes):
        raise _constraint(g, f"adaptive_max_pool{n}d to {out} needs static input spatial sizes unless the output "
                             "size is 1")
    if all(L % o == 0 for L, o in zip(sizes, out)):
        kernel = [L // o for L, o in zip(sizes, out)]
        return nn_ops._max_pool(g, self, kernel, kernel, [0] * n, [1] * n, False, n, True)
    # Windows of varying size (torch's [floor(i*L/o), ceil((i+1)*L/o))): separable, last axis first.
    plane = torch.arange(math.prod(sizes)).reshape(1, 1, *sizes)
    values, indices = x, g.op("Expand", g.constant(plane), g.op("Shape", x))
    for axis in reversed(range(n)):
        L, o = sizes[axis], out[axis]
        if L == o:
            continue
        pieces = [_window_max(g, values, indices, 2 + axis, (i * L) // o, -(-((i + 1) * L) // o), rank)
                  for i in range(o)]
        values = g.op("Concat", *[v for v, _ in pieces], axis=2 + axis)
        indices = g.op("Concat", *[i for _, i in pieces], axis=2 + axis)
    return nn_ops._unbatch(g, (values, indices), added)


def adaptive_max_pool1d(g, self, output_size):
    return _adaptive_max_pool(g, self, output_size, 1)


def adaptive_max_pool2d(g, self, output_size):
    return _adaptive_max_pool(g, self, output_size, 2)


def adaptive_max_pool3d(g, self, output_size):
    return _adaptive_max_pool(g, self, output_size, 3)


def max_pool1d_with_indices(g, self, kernel_size, stride, padding, dilation, ceil_mode):
    return nn_ops._max_pool(g, self, kernel_size, stride, padding, dilation, ceil_mode, 1, True)


# -- embedding bag ---------------------------------------------------------------------------------

_SUM, _MEAN, _MAX = 0, 1, 2
# torch's CPU sum fast path (these dtypes, no padding_idx) leaves offset2bag empty
_FAST_SUM_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _arange(g: Any, length: Any, like: ir.Value) -> ir.Value:
    """0 .. length-1 (int64) for `like`'s first dim: a constant when static, else Range (11) or
    the positions NonZero finds in a tensor of ones (before 11)."""
    if isinstance(length, int):
        return g.constant(torch.arange(length))
    if g.opset >= 11:
        count = nn_ops._squeeze(g, h.slice_axes(g, g.op("Shape", like), [0], [1], [0]), [0])
        return g.op("Range", h.scalar(g, 0, "int64"), count, h.scalar(g, 1, "int64"))
    ones = g.op("ConstantOfShape", h.slice_axes(g, g.op("Shape", like), [0], [1], [0]),
                value=torch.ones(1, dtype=torch.int64))
    return g.op("Reshape", g.op("NonZero", ones), h.ints(g, [-1]))


def _embedding_bag(g: Any, weight: ir.Value, indices: ir.Value, offsets: ir.Value, mode: int,
                   per_sample_weights: Any, include_last_offset: bool, padding_idx: Any,
                   forward_only: bool) -> tuple[ir.Value, ...]:
    """torch's CPU embedding bag; `forward_only`: embedding_bag(.padding_idx), whose kernel sizes
    the sum-mode bag_size / max_indices zeros like offsets (_embedding_bag: like the bags)."""
    if g.rank(indices) != 1:
        raise _constraint(g, "embedding_bag with 2-D indices: torch.nn.EmbeddingBag passes them flattened "
                             "with offsets; pass 1-D indices and offsets")
    dtype, index_dtype = g.dtype(weight), g.dtype(indices)
    padding = padding_idx is not None and padding_idx >= 0
    count = h.shape(g, indices)[0]
    starts = h.slice_axes(g, offsets, [0], [-1], [0]) if include_last_offset else offsets
    bags = h.shape(g, offsets)[0]
    bags = bags - 1 if isinstance(bags, int) and include_last_offset else bags
    index64 = h.cast(g, indices, torch.int64)
    # bag of index j: how many bag starts are <= j, minus 1
    positions = _arange(g, count, indices)
    started = g.op("Not", g.op("Less", nn_ops._unsqueeze(g, positions, [1]),
                               nn_ops._unsqueeze(g, h.cast(g, starts, torch.int64), [0])))
    bag = g.op("Sub", nn_ops._reduce(g, "ReduceSum", g.op("Cast", started, to=h.onnx_dtype(g, "int64")), [1], False),
               h.scalar(g, 1, "int64"))
    member = g.op("Equal", nn_ops._unsqueeze(g, _arange(g, bags, starts), [1]), nn_ops._unsqueeze(g, bag, [0]))
    if padding:
        kept = g.op("Not", g.op("Equal", index64, h.scalar(g, int(padding_idx), "int64")))
        member = g.op("And", member, nn_ops._unsqueeze(g, kept, [0]))  # (bags, count)
    rows = g.op("Gather", weight, index64, axis=0)  # (count, D)
    sizes = nn_ops._reduce(g, "ReduceSum", g.op("Cast", member, to=h.onnx_dtype(g, "int64")), [1], False)
    if mode == _MAX:
        masked = g.op("Where", nn_ops._unsqueeze(g, member, [2]), nn_ops._unsqueeze(g, rows, [0]),
                      h.scalar(g, -np.inf, dtype))  # (bags, count, D)
        # one more -inf entry (and row 0) at the end: no reduction over an empty axis when there
        # are no indices; an empty bag's pick is replaced by 0 below anyway
        masked = nn_ops._pad(g, masked, [0, 0, 0, 0, 1, 0], -np.inf)
        candidates = g.op("Concat", index64, g.constant([0], torch.int64), axis=0)
        empty = nn_ops._unsqueeze(g, g.op("Equal", sizes, h.scalar(g, 0, "int64")), [1])
        output = g.op("Where", empty, h.scalar(g, 0.0, dtype), nn_ops._reduce(g, "ReduceMax", masked, [1], False))
        chosen = g.op("Gather", candidates, g.op("ArgMax", masked, axis=1, keepdims=0), axis=0)
        max_indices = g.op("Where", empty, h.scalar(g, 0, "int64"), chosen)
    else:
        if per_sample_weights is not None:
            rows = g.op("Mul", rows, nn_ops._unsqueeze(g, h.cast_like(g, per_sample_weights, rows), [1]))
        output = g.op("MatMul", h.cast(g, member, dtype), rows)
        if mode == _MEAN:
            divisor = g.op("Max", h.cast(g, sizes, dtype), h.scalar(g, 1.0, dtype))
            output = g.op("Div", output, nn_ops._unsqueeze(g, divisor, [1]))
        max_indices = sizes
    if mode == _SUM:
        like = h.cast(g, offsets, torch.int64) if forward_only else sizes
        zeros = g.op("Mul", like, h.scalar(g, 0, "int64"))  # zeros of any (dynamic) length
        bag_size, max_indices = zeros, zeros
        offset2bag = g.constant(torch.empty(0, dtype=torch.int64)) if dtype in _FAST_SUM_DTYPES and not padding \
            else bag
    else:
        bag_size, offset2bag = sizes, bag
    return output, *(h.cast(g, v, index_dtype) for v in (offset2bag, bag_size, max_indices))


def embedding_bag(g, weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
                  include_last_offset):
    return _embedding_bag(g, weight, indices, offsets, mode, per_sample_weights, include_last_offset, None, True)


def embedding_bag_padding_idx(g, weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
                              include_last_offset, padding_idx):
    return _embedding_bag(g, weight, indices, offsets, mode, per_sample_weights, include_last_offset, padding_idx,
                          True)


def embedding_bag_internal(g, weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
                           include_last_offset, padding_idx):
    return _embedding_bag(g, weight, indices, offsets, mode, per_sample_weights, include_last_offset, padding_idx,
                          False)

