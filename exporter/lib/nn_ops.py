"""Python mappings for neural-network ATen ops (opspecs/nn.yaml, reduction.yaml, activation.yaml).

Each public function takes `(g, <every schema argument in order>)` and returns the ONNX
value(s). Private helpers (leading underscore) hide the opset differences: Unsqueeze/Squeeze
axes and ReduceSum axes become inputs at 13, the other Reduce* ops at 18, Pad's pads an input
at 11, MaxPool gains dilations and ceil_mode at 10, Softmax stops coercing to 2-D at 13.

Values made here have no shape information, so ranks and sizes are always taken from the
op's inputs (which carry FX metadata), never from intermediate results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from exporter import emit_helpers as h

# -- opset-dependent building blocks ---------------------------------------------------------------


def _unsqueeze(g: Any, x: ir.Value, axes: Sequence[int]) -> ir.Value:
    if g.opset >= 13:
        return g.op("Unsqueeze", x, h.ints(g, axes))
    return g.op("Unsqueeze", x, axes=list(axes))


def _squeeze(g: Any, x: ir.Value, axes: Sequence[int]) -> ir.Value:
    if g.opset >= 13:
        return g.op("Squeeze", x, h.ints(g, axes))
    return g.op("Squeeze", x, axes=list(axes))


def _reduce(g: Any, op: str, x: ir.Value, axes: Sequence[int] | None, keepdims: bool) -> ir.Value:
    """Reduce over `axes` (None: every axis). ReduceSum takes axes as an input from 13, others from 18."""
    axes_is_input = g.opset >= (13 if op == "ReduceSum" else 18)
    if axes is None:
        return g.op(op, x, keepdims=int(keepdims))
    if axes_is_input:
        return g.op(op, x, h.ints(g, axes), keepdims=int(keepdims))
    return g.op(op, x, axes=list(axes), keepdims=int(keepdims))


def _pad(g: Any, x: ir.Value, pads: Sequence[int], value: float) -> ir.Value:
    """Constant padding; `pads` is ONNX-style [begins..., ends...] over every axis."""
    if g.opset >= 11:
        return g.op("Pad", x, h.ints(g, pads), h.scalar(g, value, g.dtype(x)), mode="constant")
    return g.op("Pad", x, pads=list(pads), value=float(value), mode="constant")


def _n(values: Any, n: int) -> list[int]:
    """torch's `int[n]` arguments: one value stands for all n."""
    if isinstance(values, int):
        return [values] * n
    values = [int(v) for v in values]
    return values * n if len(values) == 1 else values


def _static(dims: Sequence[Any]) -> bool:
    return all(isinstance(d, int) for d in dims)


def _spatial_product(g: Any, x: ir.Value, n: int) -> ir.Value:
    """The number of elements in one (N, C) plane of `x`, as an int64 scalar value."""
    dims = h.shape(g, x)[-n:]
    if _static(dims):
        return h.scalar(g, math.prod(dims), "int64")
    shape = g.op("Shape", x)
    rank = len(h.shape(g, x))
    total = None
    for axis in range(rank - n, rank):
        size = g.op("Gather", shape, h.scalar(g, axis, "int64"), axis=0)
        total = size if total is None else g.op("Mul", total, size)
    return total


def _batched(g: Any, x: ir.Value, n: int) -> tuple[ir.Value, bool]:
    """(x with a batch axis, whether one was added): torch accepts unbatched (C, *spatial) inputs."""
    if g.rank(x) == n + 1:
        return _unsqueeze(g, x, [0]), True
    return x, False


def _pool_out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling output size (a last window must start inside the input or left padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _constraint(g: Any, message: str) -> Exception:
    return g.constraint_error(message, "exporter/lib/nn_ops.py")


# -- convolution -----------------------------------------------------------------------------------


def _conv(g: Any, input: ir.Value, weight: ir.Value, bias: ir.Value | None, stride: Any, padding: Any,
          dilation: Any, transposed: bool, output_padding: Any, groups: int) -> ir.Value:
    n = g.rank(weight) - 2
    x, added = _batched(g, input, n)
    attrs = dict(strides=_n(stride, n), pads=_n(padding, n) * 2, dilations=_n(dilation, n), group=int(groups))
    if transposed:
        extra = _n(output_padding, n)
        sizes, kernel = h.shape(g, input)[-n:], h.shape(g, weight)[2:]
        if _static(sizes) and _static(kernel):
            outs = [(L - 1) * s - 2 * p + d * (k - 1) + e + 1
                    for L, s, p, d, k, e in zip(sizes, attrs["strides"], _n(padding, n), attrs["dilations"], kernel, extra)]
            if any(o <= 0 for o in outs):
                # torch returns an empty tensor when padding crops everything; ORT refuses that.
                channels = h.shape(g, weight)[1] * int(groups)
                batch = g.op("Gather", g.op("Shape", x), h.ints(g, [0]), axis=0)
                shape = g.op("Concat", batch, h.ints(g, [channels, *[max(o, 0) for o in outs]]), axis=0)
                y = g.op("Expand", h.scalar(g, 0, g.dtype(x)), shape)
                return _squeeze(g, y, [0]) if added else y
        if all(e < s for e, s in zip(extra, attrs["strides"])):
            y = g.op("ConvTranspose", x, weight, bias, output_padding=extra, **attrs)
        else:
            # torch allows output_padding < max(stride, dilation), ONNX Runtime only < stride: grow
            # the end by cropping less, then by zero rows, and add the bias after.
            p = _n(padding, n)
            attrs["pads"] = p + [max(pp - e, 0) for pp, e in zip(p, extra)]
            y = g.op("ConvTranspose", x, weight, **attrs)
            grow = [max(e - pp, 0) for pp, e in zip(p, extra)]
            if any(grow):
                y = _pad(g, y, [0] * (n + 2) + [0, 0, *grow], 0.0)
            if bias is not None:
                y = g.op("Add", y, g.op("Reshape", bias, h.ints(g, [-1, *([1] * n)])))
    else:
        y = g.op("Conv", x, weight, bias, **attrs)
    return _squeeze(g, y, [0]) if added else y


def convolution(g, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    return _conv(g, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)


def conv_nd(g, input, weight, bias, stride, padding, dilation, groups):
    """conv1d / conv2d / conv3d (the spatial rank comes from the weight)."""
    return _conv(g, input, weight, bias, stride, padding, dilation, False, [0], groups)


# -- matrix products -------------------------------------------------------------------------------


def _gemm_ok(g: Any, *values: ir.Value) -> bool:
    """ONNX Runtime's Gemm runs float32/float64 2-D operands."""
    return all(g.rank(v) == 2 and g.dtype(v) in (torch.float32, torch.float64) for v in values)


def linear(g, input, weight, bias):
    if g.rank(weight) == 2 and _gemm_ok(g, input, weight) and (bias is not None or g.opset >= 11):
        return g.op("Gemm", input, weight, bias, transB=1)
    w = weight if g.rank(weight) < 2 else g.op("Transpose", weight, perm=[1, 0])
    y = g.op("MatMul", input, w)
    return y if bias is None else g.op("Add", y, bias)


def addmm(g, self, mat1, mat2, beta, alpha):
    if beta != 0 and _gemm_ok(g, mat1, mat2):
        # C broadcasts unidirectionally to (M, N), as torch expands self.
        return g.op("Gemm", mat1, mat2, h.cast_like(g, self, mat1), alpha=float(alpha), beta=float(beta))
    product = g.op("MatMul", mat1, mat2)
    if alpha != 1:
        product = g.op("Mul", product, h.like(g, alpha, mat1))
    if beta == 0:  # torch ignores self (even NaN/inf in it) when beta is 0
        if tuple(h.shape(g, self)) == tuple(h.shape(g, mat1)[:1] + h.shape(g, mat2)[1:]):
            return product
        shape = g.op("Shape", g.op("Add", product, h.cast_like(g, self, mat1)))
        return g.op("Expand", product, shape)
    term = self if beta == 1 else g.op("Mul", self, h.like(g, beta, self))
    return g.op("Add", product, h.cast_like(g, term, mat1))


# -- max pooling -----------------------------------------------------------------------------------


def _max_pool(g: Any, x: ir.Value, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: bool, n: int, with_indices: bool) -> Any:
    k = _n(kernel_size, n)
    s = _n(stride, n) if stride else list(k)
    p = _n(padding, n)
    d = _n(dilation, n)
    xb, added = _batched(g, x, n)
    sizes = h.shape(g, x)[-n:]
    static = _static(sizes)
    if ceil_mode and static and all(_pool_out_size(L, *a, True) == _pool_out_size(L, *a, False)
                                    for L, a in zip(sizes, zip(k, s, p, d))):
        ceil_mode = False  # ceil changes nothing here: plain floor mode
    outputs = 2 if with_indices else 1
    if g.opset >= 10:
        result = g.op("MaxPool", xb, kernel_shape=k, strides=s, pads=p * 2, dilations=d,
                      ceil_mode=int(ceil_mode), _outputs=outputs)
    else:
        # MaxPool-8 has neither dilations nor ceil_mode: ceil mode is extra end padding (which
        # MaxPool treats as -inf, like torch), while ONNX Runtime requires pads < kernel.
        if not static and (ceil_mode or any(v != 1 for v in d)):
            raise _constraint(g, "max pooling with ceil_mode or dilation at opset 9 needs static spatial "
                                 "sizes; export with opset_version >= 10")
        outs = [_pool_out_size(L, kk, ss, pp, dd, ceil_mode) if static else None
                for L, kk, ss, pp, dd in zip(sizes, k, s, p, d)]
        # (an axis where ceil changes nothing keeps its padding: the formula would give less)
        ends = [max((o - 1) * ss + dd * (kk - 1) + 1 - L - pp, pp) if ceil_mode else pp
                for o, L, kk, ss, pp, dd in zip(outs, sizes, k, s, p, d)]
        if all(v == 1 for v in d) and all(e < kk for e, kk in zip(ends, k)):
            result = g.op("MaxPool", xb, kernel_shape=k, strides=s, pads=p + ends, _outputs=outputs)
        else:
            result = _max_pool_gather(g, xb, sizes, outs, k, s, p, d, ends, with_indices)
            return _unbatch(g, result, added) if with_indices else _unbatch(g, (result[0],), added)[0]
    if not with_indices:
        return _squeeze(g, result, [0]) if added else result
    values, flat = result
    # ONNX indexes the whole flattened tensor, torch each (N, C) plane: keep the in-plane part.
    plane = _spatial_product(g, x, n)
    if g.opset >= 10:
        indices = g.op("Mod", flat, plane)
    else:
        indices = g.op("Sub", flat, g.op("Mul", g.op("Div", flat, plane), plane))
    return _unbatch(g, (values, indices), added)


def _unbatch(g: Any, values: Sequence[ir.Value], added: bool) -> tuple[ir.Value, ...]:
    return tuple(_squeeze(g, v, [0]) for v in values) if added else tuple(values)


def _max_pool_gather(g: Any, x: ir.Value, sizes: list[int], outs: list[int], k: list[int], s: list[int],
                     p: list[int], d: list[int], ends: list[int], with_indices: bool) -> tuple[ir.Value, ...]:
    """Opset 9 dilated (or wide ceil-mode) max pooling: one Gather per window offset, then Max.

    Each offset j (row-major over the kernel, as torch scans it) picks x_padded[o*s + j*d] for
    every output position o; the values are their elementwise Max and the indices come from
    the first offset holding the maximum.
    """
    n = len(k)
    lowest = float("-inf") if g.dtype(x).is_floating_point else float(torch.iinfo(g.dtype(x)).min)
    padded = _pad(g, x, [0, 0, *p, 0, 0, *ends], lowest)
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
    stacked = g.op("Concat", *[_unsqueeze(g, v, [0]) for v in slices], axis=0)
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
    indices = _reduce(g, "ReduceSum", g.op("Mul", onehot, table_value), [0], False)
    return values, indices


def max_pool1d(g, self, kernel_size, stride, padding, dilation, ceil_mode):
    return _max_pool(g, self, kernel_size, stride, padding, dilation, ceil_mode, 1, False)


def max_pool2d(g, self, kernel_size, stride, padding, dilation, ceil_mode):
    return _max_pool(g, self, kernel_size, stride, padding, dilation, ceil_mode, 2, False)


def max_pool3d(g, self, kernel_size, stride, padding, dilation, ceil_mode):
    return _max_pool(g, self, kernel_size, stride, padding, dilation, ceil_mode, 3, False)


def max_pool2d_with_indices(g, self, kernel_size, stride, padding, dilation, ceil_mode):
    return _max_pool(g, self, kernel_size, stride, padding, dilation, ceil_mode, 2, True)


def max_pool3d_with_indices(g, self, kernel_size, stride, padding, dilation, ceil_mode):
    return _max_pool(g, self, kernel_size, stride, padding, dilation, ceil_mode, 3, True)


# -- average pooling -------------------------------------------------------------------------------


def avg_pool2d(g, self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    n = 2
    k = _n(kernel_size, n)
    s = _n(stride, n) if stride else list(k)
    p = _n(padding, n)
    x, added = _batched(g, self, n)
    sizes = h.shape(g, self)[-n:]
    static = _static(sizes)
    if ceil_mode and static and all(_pool_out_size(L, kk, ss, pp, 1, True) == _pool_out_size(L, kk, ss, pp, 1, False)
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
            raise _constraint(g, "avg_pool2d with ceil_mode and divisor_override (or ceil_mode at opset 9) "
                                 "needs static spatial sizes")
        # Pad explicitly (zeros, plus the ceil-mode overhang), average full windows, then rescale
        # each output position from the kernel area to torch's divisor there.
        outs = [_pool_out_size(L, kk, ss, pp, 1, True) for L, kk, ss, pp in zip(sizes, k, s, p)]
        ends = [max((o - 1) * ss + kk - L - pp, pp) for o, L, kk, ss, pp in zip(outs, sizes, k, s, p)]
        padded = _pad(g, x, [0, 0, *p, 0, 0, *ends], 0.0)
        y = g.op("AveragePool", padded, kernel_shape=k, strides=s)
        per_axis = []
        for o, L, kk, ss, pp in zip(outs, sizes, k, s, p):
            starts = np.arange(o) * ss - pp
            stops = np.minimum(starts + kk, L + pp)
            if count_include_pad:
                per_axis.append(stops - starts)
            else:
                per_axis.append(np.minimum(stops, L) - np.maximum(starts, 0))
        divisor = np.multiply.outer(per_axis[0], per_axis[1]).astype(np.float64)
        if divisor_override is not None:
            divisor[:] = divisor_override
        scale = torch.from_numpy(area / divisor).to(g.dtype(self))
        y = g.op("Mul", y, g.constant(scale))
    return _squeeze(g, y, [0]) if added else y


def _adaptive_avg_pool(g: Any, self: ir.Value, output_size: Any, n: int) -> ir.Value:
    out = _n(output_size, n)
    x, added = _batched(g, self, n)
    sizes = h.shape(g, self)[-n:]
    if all(o == 1 for o in out):
        y = g.op("GlobalAveragePool", x)
    elif not _static(sizes):
        raise _constraint(g, f"adaptive_avg_pool{n}d to {out} needs static input spatial sizes "
                             "unless the output size is 1")
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
            weights = g.constant(torch.from_numpy(matrix).to(g.dtype(self)))
            last = rank - 1
            target = 2 + axis
            if target == last:
                y = g.op("MatMul", y, weights)
            else:
                perm = list(range(rank))
                perm[target], perm[last] = perm[last], perm[target]
                y = g.op("Transpose", g.op("MatMul", g.op("Transpose", y, perm=perm), weights), perm=perm)
    return _squeeze(g, y, [0]) if added else y


def adaptive_avg_pool1d(g, self, output_size):
    return _adaptive_avg_pool(g, self, output_size, 1)


def adaptive_avg_pool2d(g, self, output_size):
    return _adaptive_avg_pool(g, self, output_size, 2)


# -- softmax ---------------------------------------------------------------------------------------


def _softmax(g: Any, op: str, x: ir.Value, dim: int) -> ir.Value:
    r = g.rank(x)
    if r == 0:  # softmax of a single element: work on a 1-element vector
        y = g.op(op, g.op("Reshape", x, h.ints(g, [1])), axis=0)
        return g.op("Reshape", y, h.ints(g, []))
    axis = dim % r
    if g.opset >= 13 or axis == r - 1:
        # Before 13, Softmax coerces the input to 2-D at `axis`: right only for the last axis.
        return g.op(op, x, axis=axis)
    perm = list(range(r))
    perm[axis], perm[r - 1] = r - 1, axis
    return g.op("Transpose", g.op(op, g.op("Transpose", x, perm=perm), axis=r - 1), perm=perm)


def softmax_int(g, self, dim, dtype):
    return _softmax(g, "Softmax", self if dtype is None else h.cast(g, self, dtype), dim)


def log_softmax_int(g, self, dim, dtype):
    return _softmax(g, "LogSoftmax", self if dtype is None else h.cast(g, self, dtype), dim)


def softmax_internal(g, self, dim, half_to_float):
    return _softmax(g, "Softmax", h.cast(g, self, torch.float32) if half_to_float else self, dim)


def log_softmax_internal(g, self, dim, half_to_float):
    return _softmax(g, "LogSoftmax", h.cast(g, self, torch.float32) if half_to_float else self, dim)


# -- batch normalization ---------------------------------------------------------------------------


def _per_channel(g: Any, value: ir.Value | None, fill: float, input: ir.Value, reference: ir.Value | None) -> ir.Value:
    """`value`, or a (C,) tensor of `fill` when torch passed None."""
    if value is not None:
        return value
    channels = h.shape(g, input)[1]
    if isinstance(channels, int):
        return g.constant([fill] * channels, g.dtype(input))
    if reference is not None:
        size = g.op("Shape", reference)
    else:
        size = g.op("Gather", g.op("Shape", input), h.ints(g, [1]), axis=0)
    return g.op("Expand", h.scalar(g, fill, g.dtype(input)), size)


def _batch_norm(g: Any, input: ir.Value, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                use_batch_stats: bool, eps: float) -> ir.Value:
    scale = _per_channel(g, weight, 1.0, input, running_mean)
    shift = _per_channel(g, bias, 0.0, input, running_mean)
    if not use_batch_stats:
        return g.op("BatchNormalization", input, scale, shift, running_mean, running_var, epsilon=float(eps))
    # Training mode: normalize with this batch's statistics (biased variance), as torch's output does.
    r = g.rank(input)
    axes = [0, *range(2, r)]
    mean = _reduce(g, "ReduceMean", input, axes, True)
    centered = g.op("Sub", input, mean)
    var = _reduce(g, "ReduceMean", g.op("Mul", centered, centered), axes, True)
    normalized = g.op("Div", centered, g.op("Sqrt", g.op("Add", var, h.scalar(g, float(eps), g.dtype(input)))))
    shape = h.ints(g, [-1, *([1] * (r - 2))])
    return g.op("Add", g.op("Mul", normalized, g.op("Reshape", scale, shape)), g.op("Reshape", shift, shape))


def batch_norm(g, input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
    use_batch_stats = bool(training) or running_mean is None or running_var is None
    return _batch_norm(g, input, weight, bias, running_mean, running_var, use_batch_stats, eps)


def native_batch_norm_no_training(g, input, weight, bias, running_mean, running_var, momentum, eps):
    out = _batch_norm(g, input, weight, bias, running_mean, running_var, False, eps)
    # Without training torch returns empty save_mean / save_invstd.
    empty = torch.empty(0, dtype=g.dtype(input))
    return out, g.constant(empty), g.constant(empty)


# -- activations -----------------------------------------------------------------------------------


def prelu(g, self, weight):
    """PRelu broadcasts the slope unidirectionally: shape the weight (C,) -> (C, 1, ...) or a scalar."""
    weight_shape = h.shape(g, weight)
    if _static(weight_shape) and math.prod(weight_shape) == 1:
        slope = g.op("Reshape", weight, h.ints(g, []))  # one shared slope, any input rank
    else:
        slope = g.op("Reshape", weight, h.ints(g, [-1, *([1] * (g.rank(self) - 2))]))
    return g.op("PRelu", self, h.cast_like(g, slope, self))


# -- reductions ------------------------------------------------------------------------------------

_SMALL_INTS = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32)


def _accumulate_dtype(g: Any, x: ir.Value, dtype: Any) -> ir.Value:
    """torch's sum/prod: the requested dtype, else integers (and bool) accumulate in int64."""
    if dtype is not None:
        return h.cast(g, x, dtype)
    if g.dtype(x) in _SMALL_INTS:
        return h.cast(g, x, torch.int64)
    return x


def _axes(g: Any, dims: Any, x: ir.Value) -> list[int] | None:
    """ONNX axes for torch's dim list; None (reduce all) for None or []."""
    if dims is None:
        return None
    if isinstance(dims, int):
        dims = [dims]
    if not dims:
        return None
    return [h.norm_dim(g, d, x) for d in dims]


def _reduction(g: Any, op: str, x: ir.Value, source: ir.Value, dims: Any, keepdim: bool) -> ir.Value:
    if g.rank(source) == 0:  # a 0-d tensor reduced over dim 0 or -1 (or all) is itself
        return g.op("Identity", x)
    return _reduce(g, op, x, _axes(g, dims, source), keepdim)


def sum_all(g, self, dtype):
    return _reduction(g, "ReduceSum", _accumulate_dtype(g, self, dtype), self, None, False)


def sum_dims(g, self, dim, keepdim, dtype):
    return _reduction(g, "ReduceSum", _accumulate_dtype(g, self, dtype), self, dim, keepdim)


def mean_all(g, self, dtype):
    return _reduction(g, "ReduceMean", self if dtype is None else h.cast(g, self, dtype), self, None, False)


def mean_dims(g, self, dim, keepdim, dtype):
    return _reduction(g, "ReduceMean", self if dtype is None else h.cast(g, self, dtype), self, dim, keepdim)


def amax(g, self, dim, keepdim):
    return _reduction(g, "ReduceMax", self, self, dim, keepdim)


def amin(g, self, dim, keepdim):
    return _reduction(g, "ReduceMin", self, self, dim, keepdim)


def prod_dim(g, self, dim, keepdim, dtype):
    return _reduction(g, "ReduceProd", _accumulate_dtype(g, self, dtype), self, [dim], keepdim)


def prod_all(g, self, dtype):
    return _reduction(g, "ReduceProd", _accumulate_dtype(g, self, dtype), self, None, False)


def _arg_reduce(g: Any, op: str, x: ir.Value, dim: Any, keepdim: bool) -> ir.Value:
    r = g.rank(x)
    if dim is None or r == 0:
        # Over the flattened tensor; keepdim keeps every axis as size 1.
        flat = g.op(op, g.op("Reshape", x, h.ints(g, [-1])), axis=0, keepdims=0)
        return g.op("Reshape", flat, h.ints(g, [1] * r)) if keepdim and r else flat
    return g.op(op, x, axis=h.norm_dim(g, dim, x), keepdims=int(keepdim))


def argmax(g, self, dim, keepdim):
    return _arg_reduce(g, "ArgMax", self, dim, keepdim)


def argmin(g, self, dim, keepdim):
    return _arg_reduce(g, "ArgMin", self, dim, keepdim)
