"""Python mappings for pooling and bag ops (opspecs/pooling.yaml, and nn.yaml's poolings).

max_pool / avg_pool / adaptive_avg_pool are torch's n-D poolings; nn_ops' max_pool2d,
avg_pool2d, adaptive_avg_pool2d and the like (named by opspecs/nn.yaml) call them.
Max pooling: MaxPool, with torch-style in-plane indices; at opset 9 (no dilations, no
ceil_mode) explicit end padding, or one Gather per window offset. Average pooling:
AveragePool where its divisor matches torch's, otherwise explicit padding and a constant map
of torch's per-window divisors. Adaptive average pooling: GlobalAveragePool, AveragePool when
the output size divides the input size, else a constant averaging matrix per axis.
adaptive_max_pool1d/2d/3d: MaxPool when the input size divides the output size, otherwise one
Slice + ReduceMax/ArgMax per output position along each axis, last axis first, carrying the
in-plane index of each maximum so the first maximum in row-major order wins, as in torch.
embedding_bag: Gather of the rows, then a (bags, indices) membership matrix reduces them
(MatMul for sum/mean, masked ReduceMax for max).

Opset changes handled here: MaxPool's dilations and ceil_mode and Slice's inputs (10), Range
and GatherElements (11), Unsqueeze/Squeeze/ReduceSum axes as inputs (13), ReduceMax axes as
an input (18).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c

# -- window geometry -------------------------------------------------------------------------------


def _spatial_product(g: GraphBuilder, x: ir.Value, n: int) -> ir.Value:
    """The number of elements in one (N, C) plane of `x`, as an int64 scalar value."""
    dims = h.shape(g, x)[-n:]
    if c.is_static(dims):
        return h.scalar(g, math.prod(dims), "int64")
    shape = g.op("Shape", x)
    rank = g.rank(x)
    total = g.op("Gather", shape, h.scalar(g, rank - n, "int64"), axis=0)
    for axis in range(rank - n + 1, rank):
        total = g.op("Mul", total, g.op("Gather", shape, h.scalar(g, axis, "int64"), axis=0))
    return total


def _pool_out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling output size (a last window must start inside the input or left padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


# -- max pooling -----------------------------------------------------------------------------------


def max_pool(g: GraphBuilder, self: ir.Value, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
             ceil_mode: bool, rank: int, with_indices: bool) -> Any:
    """torch's `rank`-D max pooling (values, or (values, in-plane indices) `with_indices`)."""
    static = c.is_static(h.shape(g, self)[-rank:])
    if g.opset < 10 and not static and (ceil_mode or any(v != 1 for v in h.per_dim(g, dilation, rank))):
        # MaxPool-8 has neither: they are built from static sizes below
        raise g.refuse("dynamic_sizes_at_9", detail=f"input shape {h.shape(g, self)}")
    return _max_pool(g, self, kernel_size, stride, padding, dilation, ceil_mode, rank, with_indices)


def _max_pool(g: GraphBuilder, self: ir.Value, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: bool, rank: int, with_indices: bool) -> Any:
    x, n = self, rank
    k = h.per_dim(g, kernel_size, n)
    s = h.per_dim(g, stride, n) if stride else list(k)
    p = h.per_dim(g, padding, n)
    d = h.per_dim(g, dilation, n)
    xb, added = c.batched(g, x, n)
    sizes = c.static_dims(h.shape(g, x)[-n:])  # None when one is dynamic
    if ceil_mode and sizes is not None and all(_pool_out_size(L, *a, True) == _pool_out_size(L, *a, False)
                                               for L, a in zip(sizes, zip(k, s, p, d))):
        ceil_mode = False  # ceil changes nothing here: plain floor mode
    outputs = 2 if with_indices else 1
    if g.opset >= 10:
        result = g.op("MaxPool", xb, kernel_shape=k, strides=s, pads=p * 2, dilations=d,
                      ceil_mode=int(ceil_mode), _outputs=outputs)
    elif sizes is None:  # max_pool refused dynamic sizes with ceil mode or dilation: plain MaxPool-8
        result = g.op("MaxPool", xb, kernel_shape=k, strides=s, pads=p * 2, _outputs=outputs)
    else:
        # MaxPool-8 has neither dilations nor ceil_mode: ceil mode is extra end padding (which
        # MaxPool treats as -inf, like torch), while ONNX Runtime requires pads < kernel.
        outs = [_pool_out_size(L, kk, ss, pp, dd, ceil_mode) for L, kk, ss, pp, dd in zip(sizes, k, s, p, d)]
        # (an axis where ceil changes nothing keeps its padding: the formula would give less)
        ends = [max((o - 1) * ss + dd * (kk - 1) + 1 - L - pp, pp) if ceil_mode else pp
                for o, L, kk, ss, pp, dd in zip(outs, sizes, k, s, p, d)]
        if all(v == 1 for v in d) and all(e < kk for e, kk in zip(ends, k)):
            result = g.op("MaxPool", xb, kernel_shape=k, strides=s, pads=p + ends, _outputs=outputs)
        else:
            result = _max_pool_gather(g, xb, sizes, outs, k, s, p, d, ends, with_indices)
            return c.unbatched(g, result, added) if with_indices else c.unbatched(g, (result[0],), added)[0]
    if not with_indices:
        return c.squeeze(g, result, [0]) if added else result
    values, flat = result
    # ONNX indexes the whole flattened tensor, torch each (N, C) plane: keep the in-plane part.
    plane = _spatial_product(g, x, n)
    if g.opset >= 10:
        indices = g.op("Mod", flat, plane)
    else:
        indices = g.op("Sub", flat, g.op("Mul", g.op("Div", flat, plane), plane))
    return c.unbatched(g, (values, indices), added)


def _max_pool_gather(g: GraphBuilder, x: ir.Value, sizes: list[int], outs: list[int], k: list[int], s: list[int],
                     p: list[int], d: list[int], ends: list[int], with_indices: bool) -> tuple[ir.Value, ...]:
    """Opset 9 dilated (or wide ceil-mode) max pooling: one Gather per window offset, then Max.

    Each offset j (row-major over the kernel, as torch scans it) picks x_padded[o*s + j*d] for
    every output position o; the values are their elementwise Max and the indices come from
    the first offset holding the maximum.
    """
    n = len(k)
    lowest = float("-inf") if g.known_dtype(x).is_floating_point else float(torch.iinfo(g.known_dtype(x)).min)
    padded = c.pad_constant(g, x, [0, 0, *p, 0, 0, *ends], lowest)
    offsets = list(itertools.product(*(range(kk) for kk in k)))
    slices = []
    for offset in offsets:
        value = padded
        for axis in range(n):
            index = [o * s[axis] + offset[axis] * d[axis] for o in range(outs[axis])]
            value = g.op("Gather", value, g.constant(index, torch.int64), axis=2 + axis)
        slices.append(value)
    values = g.op("Max", *slices) if len(slices) > 1 else g.op("Identity", slices[0])
    if not with_indices:
        return (values,)
    stacked = g.op("Concat", *[c.unsqueeze(g, v, [0]) for v in slices], axis=0)
    first = g.op("ArgMax", stacked, axis=0, keepdims=1)  # (1, N, C, *outs), the first maximum
    # table[j, o...] = the in-plane (row-major, unpadded) index that offset j reads at output o
    table = np.zeros([len(offsets), *outs], dtype=np.int64)
    for j, offset in enumerate(offsets):
        for position in itertools.product(*(range(o) for o in outs)):
            flat = 0
            for axis in range(n):
                flat = flat * sizes[axis] + position[axis] * s[axis] - p[axis] + offset[axis] * d[axis]
            table[(j, *position)] = flat
    table_value = g.constant(torch.from_numpy(table.reshape(len(offsets), 1, 1, *outs)))
    which = g.constant(torch.arange(len(offsets)).reshape(len(offsets), *([1] * (n + 2))))
    onehot = g.op("Cast", g.op("Equal", first, which), to=int(h.onnx_dtype(g, "int64")))
    indices = c.reduce(g, "ReduceSum", g.op("Mul", onehot, table_value), [0], False)
    return values, indices


# -- average pooling -------------------------------------------------------------------------------


def avg_pool(g: GraphBuilder, self: ir.Value, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
             count_include_pad: bool, rank: int, divisor_override: Any = None) -> ir.Value:
    """torch's `rank`-D average pooling (padding counted or not, a divisor override, ceil mode)."""
    n = rank
    k = h.per_dim(g, kernel_size, n)
    s = h.per_dim(g, stride, n) if stride else list(k)
    p = h.per_dim(g, padding, n)
    x, added = c.batched(g, self, n)
    sizes = c.static_dims(h.shape(g, self)[-n:])  # None when one is dynamic
    if ceil_mode and sizes is not None and all(_pool_out_size(L, kk, ss, pp, 1, True)
                                               == _pool_out_size(L, kk, ss, pp, 1, False)
                                               for L, kk, ss, pp in zip(sizes, k, s, p)):
        ceil_mode = False
    area = math.prod(k)
    if not ceil_mode:
        # Every window lies inside the padded input: count_include_pad divides by the kernel area.
        include = bool(count_include_pad) or divisor_override is not None
        y = g.op("AveragePool", x, kernel_shape=k, strides=s, pads=p * 2, count_include_pad=int(include))
        if divisor_override is not None and divisor_override != area:
            y = g.op("Mul", y, g.constant(area / divisor_override, g.known_dtype(self)))
    elif divisor_override is None and g.opset >= 10:
        y = g.op("AveragePool", x, kernel_shape=k, strides=s, pads=p * 2, count_include_pad=int(count_include_pad),
                 ceil_mode=1)
    else:
        if sizes is None:
            raise g.refuse("dynamic_sizes_ceil_mode", detail=f"input shape {h.shape(g, self)}")
        # Pad explicitly (zeros, plus the ceil-mode overhang), average full windows, then rescale
        # each output position from the kernel area to torch's divisor there.
        outs = [_pool_out_size(L, kk, ss, pp, 1, True) for L, kk, ss, pp in zip(sizes, k, s, p)]
        ends = [max((o - 1) * ss + kk - L - pp, pp) for o, L, kk, ss, pp in zip(outs, sizes, k, s, p)]
        padded = c.pad_constant(g, x, [0, 0, *p, 0, 0, *ends], 0.0)
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
        scale = torch.from_numpy(area / divisor).to(g.known_dtype(self))
        y = g.op("Mul", y, g.constant(scale))
    return c.squeeze(g, y, [0]) if added else y


def adaptive_avg_pool(g: GraphBuilder, self: ir.Value, output_size: Any, rank: int) -> ir.Value:
    """torch's `rank`-D adaptive average pooling."""
    n = rank
    out = h.per_dim(g, output_size, n)
    x, added = c.batched(g, self, n)
    sizes = h.shape(g, self)[-n:]
    if all(o == 1 for o in out) and 0 in sizes:
        # torch's mean over no elements is NaN (0 / 0); GlobalAveragePool refuses an empty plane
        total = c.reduce(g, "ReduceSum", x, list(range(2, n + 2)), True)
        y = g.op("Div", total, h.scalar(g, 0.0, g.known_dtype(self)))
    elif all(o == 1 for o in out):
        y = g.op("GlobalAveragePool", x)
    elif not c.is_static(sizes):
        raise g.refuse("dynamic_sizes", detail=f"output size {out}, input shape {h.shape(g, self)}")
    elif all(L % o == 0 for L, o in zip(sizes, out)):
        kernel = [L // o for L, o in zip(sizes, out)]
        y = g.op("AveragePool", x, kernel_shape=kernel, strides=kernel)
    else:
        # Windows of varying size: average along each spatial axis with a constant (L, o) matrix
        # (column o holds 1/len over torch's window [floor(o*L/out), ceil((o+1)*L/out))).
        y = x
        rank = n + 2
        for axis in reversed(range(n)):
            L, o = sizes[axis], out[axis]
            matrix = np.zeros((L, o), dtype=np.float64)
            for i in range(o):
                start, stop = (i * L) // o, -(-((i + 1) * L) // o)
                matrix[start:stop, i] = 1.0 / (stop - start)
            weights = g.constant(torch.from_numpy(matrix).to(g.known_dtype(self)))
            last = rank - 1
            target = 2 + axis
            if target == last:
                y = g.op("MatMul", y, weights)
            else:
                perm = list(range(rank))
                perm[target], perm[last] = perm[last], perm[target]
                y = g.op("Transpose", g.op("MatMul", g.op("Transpose", y, perm=perm), weights), perm=perm)
    return c.squeeze(g, y, [0]) if added else y


# -- adaptive max pooling --------------------------------------------------------------------------


def _window_max(g: GraphBuilder, values: ir.Value, indices: ir.Value, axis: int, start: int, stop: int,
                rank: int) -> tuple[ir.Value, ir.Value]:
    """Max over [start, stop) along `axis` (kept), and the index carried by its first maximum."""
    v = h.slice_axes(g, values, [start], [stop], [axis])
    ix = h.slice_axes(g, indices, [start], [stop], [axis])
    if stop - start == 1:
        return v, ix
    top = c.reduce(g, "ReduceMax", v, [axis], True)
    first = g.op("ArgMax", v, axis=axis, keepdims=1)
    if g.opset >= 11:
        return top, g.op("GatherElements", ix, first, axis=axis)
    # GatherElements is new in 11: pick with a one-hot along the axis and sum it away
    positions = g.constant(torch.arange(stop - start).reshape([-1] + [1] * (rank - 1 - axis)))
    onehot = g.op("Cast", g.op("Equal", positions, first), to=h.onnx_dtype(g, "int64"))
    return top, c.reduce(g, "ReduceSum", g.op("Mul", onehot, ix), [axis], True)


def adaptive_max_pool(g: GraphBuilder, self: ir.Value, output_size: Any, rank: int) -> tuple[ir.Value, ir.Value]:
    """torch's `rank`-D adaptive max pooling: (values, in-plane indices)."""
    n = rank
    out = h.per_dim(g, output_size, n)
    sizes = h.shape(g, self)[-n:]
    x, added = c.batched(g, self, n)
    rank = n + 2
    if all(o == 1 for o in out):
        # One window per plane: the max and the first flat position of it.
        values = c.reduce(g, "ReduceMax", x, list(range(2, rank)), True)
        flat = g.op("Reshape", x, h.ints(g, [0, 0, -1]))
        indices = g.op("Reshape", g.op("ArgMax", flat, axis=2, keepdims=1), h.ints(g, [0, 0, *([1] * n)]))
        values, indices = c.unbatched(g, (values, indices), added)
        return values, indices
    if not c.is_static(sizes):
        raise g.refuse("dynamic_sizes", detail=f"output size {out}, input shape {h.shape(g, self)}")
    if all(L % o == 0 for L, o in zip(sizes, out)):
        kernel = [L // o for L, o in zip(sizes, out)]
        return _max_pool(g, self, kernel, kernel, [0] * n, [1] * n, False, n, True)
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
    values, indices = c.unbatched(g, (values, indices), added)
    return values, indices


# -- embedding bag ---------------------------------------------------------------------------------

_SUM, _MEAN, _MAX = 0, 1, 2
# torch's CPU sum fast path (these dtypes, no padding_idx) leaves offset2bag empty
_FAST_SUM_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _arange(g: GraphBuilder, length: Any, like: ir.Value) -> ir.Value:
    """0 .. length-1 (int64) for `like`'s first dim: a constant when static, else Range (11) or
    the positions NonZero finds in a tensor of ones (before 11)."""
    if isinstance(length, int):
        return g.constant(torch.arange(length))
    if g.opset >= 11:
        count = c.squeeze(g, h.slice_axes(g, g.op("Shape", like), [0], [1], [0]), [0])
        return g.op("Range", h.scalar(g, 0, "int64"), count, h.scalar(g, 1, "int64"))
    ones = g.op("ConstantOfShape", h.slice_axes(g, g.op("Shape", like), [0], [1], [0]),
                value=torch.ones(1, dtype=torch.int64))
    return g.op("Reshape", g.op("NonZero", ones), h.ints(g, [-1]))


def embedding_bag(g: GraphBuilder, weight: ir.Value, indices: ir.Value, offsets: ir.Value, mode: int,
                  per_sample_weights: Any, include_last_offset: bool, forward_only: bool,
                  padding_idx: Any = None) -> tuple[ir.Value, ...]:
    """torch's CPU embedding bag; `forward_only`: embedding_bag(.padding_idx), whose kernel sizes
    the sum-mode bag_size / max_indices zeros like offsets (_embedding_bag: like the bags)."""
    # 1-D: nn.EmbeddingBag flattens 2-D input itself (with 2-D indices and offsets torch crashes)
    assert g.rank(indices) == 1, "embedding_bag takes 1-D indices with offsets"
    dtype, index_dtype = g.known_dtype(weight), g.known_dtype(indices)
    padding = padding_idx is not None and padding_idx >= 0
    count = h.shape(g, indices)[0]
    starts = h.slice_axes(g, offsets, [0], [-1], [0]) if include_last_offset else offsets
    bags = h.shape(g, offsets)[0]
    bags = bags - 1 if isinstance(bags, int) and include_last_offset else bags
    index64 = h.cast(g, indices, torch.int64)
    # bag of index j: how many bag starts are <= j, minus 1
    positions = _arange(g, count, indices)
    started = g.op("Not", g.op("Less", c.unsqueeze(g, positions, [1]),
                               c.unsqueeze(g, h.cast(g, starts, torch.int64), [0])))
    bag = g.op("Sub", c.reduce(g, "ReduceSum", g.op("Cast", started, to=h.onnx_dtype(g, "int64")), [1], False),
               h.scalar(g, 1, "int64"))
    member = g.op("Equal", c.unsqueeze(g, _arange(g, bags, starts), [1]), c.unsqueeze(g, bag, [0]))
    if padding:
        kept = g.op("Not", g.op("Equal", index64, h.scalar(g, int(padding_idx), "int64")))
        member = g.op("And", member, c.unsqueeze(g, kept, [0]))  # (bags, count)
    rows = g.op("Gather", weight, index64, axis=0)  # (count, D)
    sizes = c.reduce(g, "ReduceSum", g.op("Cast", member, to=h.onnx_dtype(g, "int64")), [1], False)
    if mode == _MAX:
        masked = g.op("Where", c.unsqueeze(g, member, [2]), c.unsqueeze(g, rows, [0]),
                      h.scalar(g, -np.inf, dtype))  # (bags, count, D)
        # one more -inf entry (and row 0) at the end: no reduction over an empty axis when there
        # are no indices; an empty bag's pick is replaced by 0 below anyway
        masked = c.pad_constant(g, masked, [0, 0, 0, 0, 1, 0], -np.inf)
        candidates = g.op("Concat", index64, g.constant([0], torch.int64), axis=0)
        empty = c.unsqueeze(g, g.op("Equal", sizes, h.scalar(g, 0, "int64")), [1])
        output = g.op("Where", empty, h.scalar(g, 0.0, dtype), c.reduce(g, "ReduceMax", masked, [1], False))
        chosen = g.op("Gather", candidates, g.op("ArgMax", masked, axis=1, keepdims=0), axis=0)
        max_indices = g.op("Where", empty, h.scalar(g, 0, "int64"), chosen)
    else:
        if per_sample_weights is not None:
            rows = g.op("Mul", rows, c.unsqueeze(g, h.cast_like(g, per_sample_weights, rows), [1]))
        summed = member
        if include_last_offset and dtype in _FAST_SUM_DTYPES and not padding:
            # torch's fast CPU kernel (these dtypes, no padding_idx) sums the last bag only up to the
            # last offset: indices past it count in the bag's size (mean divides by it) but add nothing
            last = h.slice_axes(g, h.cast(g, offsets, torch.int64), [-1], [h.INT64_MAX], [0])
            summed = g.op("And", member, c.unsqueeze(g, g.op("Less", positions, last), [0]))
        output = g.op("MatMul", h.cast(g, summed, dtype), rows)
        if mode == _MEAN:
            divisor = g.op("Max", h.cast(g, sizes, dtype), h.scalar(g, 1.0, dtype))
            output = g.op("Div", output, c.unsqueeze(g, divisor, [1]))
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
