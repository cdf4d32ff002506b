"""Python mappings for neural-network ATen ops (opspecs/nn.yaml, activation.yaml).

Each public function takes `(g, <every schema argument in order>)` and returns the ONNX
value(s). The opset differences are hidden by exporter/lib/common.py (Unsqueeze/Squeeze axes
and ReduceSum axes become inputs at 13, the other Reduce* ops at 18, Pad's pads an input at 11)
and here: Softmax stops coercing to 2-D at 13. The poolings nn.yaml names are torch's n-D
poolings of exporter/lib/pooling_ops.py (the spec binds the spatial rank).

Values made here have no shape information, so ranks and sizes are always taken from the
op's inputs (which carry FX metadata), never from intermediate results.
"""

from __future__ import annotations

import math
from typing import Any

import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter.lib import common as c

# -- convolution -----------------------------------------------------------------------------------


def convolution(g: Any, input: ir.Value, weight: ir.Value, bias: ir.Value | None, stride: Any, padding: Any,
                dilation: Any, transposed: bool, output_padding: Any, groups: int) -> ir.Value:
    """torch.convolution; conv1d/2d/3d bind transposed=False, output_padding=[0] (the spatial rank
    comes from the weight)."""
    n = g.rank(weight) - 2
    x, added = c.batched(g, input, n)
    attrs = dict(strides=c.per_dim(stride, n), pads=c.per_dim(padding, n) * 2, dilations=c.per_dim(dilation, n), group=int(groups))
    if transposed:
        extra = c.per_dim(output_padding, n)
        sizes, kernel = h.shape(g, input)[-n:], h.shape(g, weight)[2:]
        if c.is_static(sizes) and c.is_static(kernel):
            outs = [(L - 1) * s - 2 * p + d * (k - 1) + e + 1
                    for L, s, p, d, k, e in zip(sizes, attrs["strides"], c.per_dim(padding, n), attrs["dilations"], kernel, extra)]
            if any(o <= 0 for o in outs):
                # torch returns an empty tensor when padding crops everything; ORT refuses that.
                channels = h.shape(g, weight)[1] * int(groups)
                batch = g.op("Gather", g.op("Shape", x), h.ints(g, [0]), axis=0)
                shape = g.op("Concat", batch, h.ints(g, [channels, *[max(o, 0) for o in outs]]), axis=0)
                y = g.op("Expand", h.scalar(g, 0, g.dtype(x)), shape)
                return c.squeeze(g, y, [0]) if added else y
        if all(e < s for e, s in zip(extra, attrs["strides"])):
            y = g.op("ConvTranspose", x, weight, bias, output_padding=extra, **attrs)
        else:
            # torch allows output_padding < max(stride, dilation), ONNX Runtime only < stride: grow
            # the end by cropping less, then by zero rows, and add the bias after.
            p = c.per_dim(padding, n)
            attrs["pads"] = p + [max(pp - e, 0) for pp, e in zip(p, extra)]
            y = g.op("ConvTranspose", x, weight, **attrs)
            grow = [max(e - pp, 0) for pp, e in zip(p, extra)]
            if any(grow):
                y = c.pad_constant(g, y, [0] * (n + 2) + [0, 0, *grow], 0.0)
            if bias is not None:
                y = g.op("Add", y, g.op("Reshape", bias, h.ints(g, [-1, *([1] * n)])))
    else:
        y = g.op("Conv", x, weight, bias, **attrs)
    return c.squeeze(g, y, [0]) if added else y


# -- matrix products -------------------------------------------------------------------------------


def _gemm_ok(g: Any, *values: ir.Value) -> bool:
    """ONNX Runtime's Gemm runs float32/float64 2-D operands."""
    return all(g.rank(v) == 2 and g.dtype(v) in (torch.float32, torch.float64) for v in values)


_ROWS_GEMM_DTYPES = (torch.float32, torch.float64, torch.float16)


def linear(g, input, weight, bias):
    gemm = g.rank(weight) == 2 and (bias is not None or g.opset >= 11)
    if gemm and _gemm_ok(g, input, weight):
        return g.op("Gemm", input, weight, bias, transB=1)
    if gemm and g.rank(input) > 2 and g.dtype(input) == g.dtype(weight) in _ROWS_GEMM_DTYPES \
            and c.is_static(h.shape(g, weight)) and h.shape(g, weight)[1] != 0 \
            and (g.opset >= 14 or 0 not in h.shape(g, input)):
        # The rows of the input through Gemm(transB=1): the weight is used as stored, so a saved model can
        # point at a checkpoint's bytes, and ONNX Runtime loads it 3x faster than with a Transpose it must
        # fold (BERT-base, LLaMA layers), as fast as a transposed copy, and runs it as fast. float16 too:
        # ONNX Runtime's CPU provider runs it in float32 as it does MatMul, without transposing the weight.
        rows = g.op("Reshape", input, h.ints(g, [-1, h.shape(g, weight)[1]]))
        product = g.op("Gemm", rows, weight, bias, transB=1)
        lead, out = h.shape_slice(g, input, 0, -1), h.shape(g, weight)[0]
        sizes = h.ints(g, [*lead, out]) if isinstance(lead, list) else g.op("Concat", lead, h.ints(g, [out]), axis=0)
        # allowzero: a leading size 0 (an empty batch) is 0, not "copy the input's size" (opset 14+;
        # before, a static 0 took the MatMul path above)
        return g.op("Reshape", product, sizes, allowzero=1 if g.opset >= 14 else None)
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


# -- softmax ---------------------------------------------------------------------------------------


def softmax(g: Any, self: ir.Value, dim: int, op: str, dtype: Any = None, half_to_float: bool = False) -> ir.Value:
    """softmax / log_softmax (`op` Softmax or LogSoftmax) and their internal forms: in `dtype` when
    given, in float32 for half_to_float."""
    x = h.cast(g, self, dtype) if dtype is not None else h.cast(g, self, torch.float32) if half_to_float else self
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


# -- batch normalization ---------------------------------------------------------------------------


def _batch_norm(g: Any, input: ir.Value, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                use_batch_stats: bool, eps: float) -> ir.Value:
    scale = h.per_channel(g, weight, 1.0, input, running_mean)
    shift = h.per_channel(g, bias, 0.0, input, running_mean)
    if not use_batch_stats:
        return g.op("BatchNormalization", input, scale, shift, running_mean, running_var, epsilon=float(eps))
    # Training mode: normalize with this batch's statistics (biased variance), as torch's output does.
    r = g.rank(input)
    axes = [0, *range(2, r)]
    mean = c.reduce(g, "ReduceMean", input, axes, True)
    centered = g.op("Sub", input, mean)
    var = c.reduce(g, "ReduceMean", g.op("Mul", centered, centered), axes, True)
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
    if c.is_static(weight_shape) and math.prod(weight_shape) == 1:
        slope = g.op("Reshape", weight, h.ints(g, []))  # one shared slope, any input rank
    else:
        slope = g.op("Reshape", weight, h.ints(g, [-1, *([1] * (g.rank(self) - 2))]))
    return g.op("PRelu", self, h.cast_like(g, slope, self))
