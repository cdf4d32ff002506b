"""Python mappings for normalization ATen ops (opspecs/norms.yaml).

Each public function takes `(g, <every schema argument in order>)` and returns the ONNX
value(s). The whole-op ONNX normalizations are used where they exist and match torch:
LayerNormalization from opset 17, GroupNormalization from 21 (per-channel scale and bias;
its opset-18 form took them per group and is skipped), RMSNormalization from 23,
InstanceNormalization (float32; ONNX Runtime has no float64 kernel). Below those opsets, and
for the statistics torch returns beside the output (mean, rstd, running stats), the same
math is built from ReduceMean, Sub, Mul, Sqrt and Reciprocal: mean and biased variance over
the normalized axes, `(x - mean) / sqrt(var + eps)`, then scale and shift.

ReduceMean takes its axes as an attribute before opset 18 and as an input from 18 (the
specs mark 18 as a variant where a helper here may reduce).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter.lib import common as c
from exporter.lib import nn_ops

_STASH_DOUBLE = 11  # stash_type float64: statistics computed in double


def _filled_from(g: Any, x: ir.Value, start: int, fill: float) -> ir.Value:
    """A tensor of x.shape[start:] holding `fill` in x's dtype (the scale or bias torch omits)."""
    shape = c.shape_slice(g, x, start)
    if isinstance(shape, list):
        return g.constant(torch.full(shape, fill, dtype=g.dtype(x)))
    return g.op("Expand", h.scalar(g, fill, g.dtype(x)), shape)


def _channels(g: Any, x: ir.Value, fill: float) -> ir.Value:
    """A (C,) tensor of `fill` for an (N, C, ...) input."""
    channels = h.shape(g, x)[1]
    if isinstance(channels, int):
        return g.constant(torch.full([channels], fill, dtype=g.dtype(x)))
    size = h.slice_axes(g, g.op("Shape", x), [1], [2], [0])
    return g.op("Expand", h.scalar(g, fill, g.dtype(x)), size)


def _moments(g: Any, x: ir.Value, axes: Sequence[int]) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(mean, x - mean, biased variance) over `axes`, dims kept."""
    mean = c.reduce(g, "ReduceMean", x, list(axes), True)
    centered = g.op("Sub", x, mean)
    var = c.reduce(g, "ReduceMean", g.op("Mul", centered, centered), list(axes), True)
    return mean, centered, var


def _rstd(g: Any, var: ir.Value, eps: float, like: ir.Value) -> ir.Value:
    """1 / sqrt(var + eps), torch's `rstd` / `invstd`."""
    return g.op("Reciprocal", g.op("Sqrt", g.op("Add", var, h.scalar(g, float(eps), g.dtype(like)))))


# ONNX Runtime fuses x / sqrt(mean(x^2) + eps) * w written with Pow and Div (not Mul, Reciprocal) into
# one SimplifiedLayerNormalization kernel, in float32 and float64 (its CPU kernels); halves keep Mul.
_FUSABLE_DTYPES = (torch.float32, torch.float64)


def _square(g: Any, x: ir.Value) -> ir.Value:
    if g.dtype(x) in _FUSABLE_DTYPES:
        return g.op("Pow", x, h.scalar(g, 2.0, g.dtype(x)))
    return g.op("Mul", x, x)


def _normalize(g: Any, x: ir.Value, mean_square: ir.Value, eps: float) -> ir.Value:
    """x / sqrt(mean_square + eps): Div in ONNX Runtime's fusable form, else Mul by the rstd."""
    if g.dtype(x) in _FUSABLE_DTYPES:
        return g.op("Div", x, g.op("Sqrt", g.op("Add", mean_square, h.scalar(g, float(eps), g.dtype(x)))))
    return g.op("Mul", x, _rstd(g, mean_square, eps, x))


def _affine(g: Any, y: ir.Value, weight: ir.Value | None, bias: ir.Value | None,
            shape: Sequence[int] | None = None) -> ir.Value:
    """y * weight + bias, the parameters reshaped to `shape` first when given (per-channel)."""
    if weight is not None:
        y = g.op("Mul", y, weight if shape is None else g.op("Reshape", weight, h.ints(g, shape)))
    if bias is not None:
        y = g.op("Add", y, bias if shape is None else g.op("Reshape", bias, h.ints(g, shape)))
    return y


# -- layer norm ------------------------------------------------------------------------------------


def _layer_norm(g: Any, input: ir.Value, normalized_shape: Sequence[Any], weight: ir.Value | None,
                bias: ir.Value | None, eps: float, with_stats: bool) -> Any:
    r = g.rank(input)
    axis = r - len(normalized_shape)
    dtype = g.dtype(input)
    # LayerNormalization gives float mean/rstd whatever the input (ONNX Runtime implements only
    # stash_type=1): float64 statistics are computed here instead.
    if g.opset >= 17 and not (with_stats and dtype == torch.float64):
        scale = weight if weight is not None else _filled_from(g, input, axis, 1.0)
        if not with_stats:
            return g.op("LayerNormalization", input, scale, bias, axis=axis, epsilon=float(eps))
        y, mean, rstd = g.op("LayerNormalization", input, scale, bias, axis=axis, epsilon=float(eps), _outputs=3)
        mean.dtype = rstd.dtype = ir.DataType.FLOAT
        return y, g.cast(mean, dtype), g.cast(rstd, dtype)
    # Not in ONNX Runtime's LayerNormFusion form (Pow, Div) on purpose: after a residual Add it
    # becomes SkipLayerNormalization, whose CPU kernel (1.31) is ~6x slower than Add +
    # LayerNormalization: BERT-base at opset 16 ran 3.6% slower in that form.
    mean, centered, var = _moments(g, input, range(axis, r))
    rstd = _rstd(g, var, eps, input)
    y = _affine(g, g.op("Mul", centered, rstd), weight, bias)
    return (y, mean, rstd) if with_stats else y


def layer_norm(g, input, normalized_shape, weight, bias, eps, cudnn_enable):
    return _layer_norm(g, input, normalized_shape, weight, bias, eps, False)


def native_layer_norm(g, input, normalized_shape, weight, bias, eps):
    return _layer_norm(g, input, normalized_shape, weight, bias, eps, True)


# -- group norm ------------------------------------------------------------------------------------


def _group_stats(g: Any, input: ir.Value, groups: int, eps: float) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(normalized input without scale/shift, mean (N, G), rstd (N, G)) over (N, G, C/G * spatial)."""
    grouped = g.op("Reshape", input, h.ints(g, [0, int(groups), -1]))
    mean, centered, var = _moments(g, grouped, [2])
    rstd = _rstd(g, var, eps, input)
    shape = c.shape_slice(g, input, 0)
    normalized = g.op("Reshape", g.op("Mul", centered, rstd), h.ints(g, shape) if isinstance(shape, list) else shape)
    return normalized, c.squeeze(g, mean, [2]), c.squeeze(g, rstd, [2])


def _group_norm_whole(g: Any, input: ir.Value, groups: int, weight: Any, bias: Any, eps: float) -> ir.Value:
    """GroupNormalization-21: scale and bias per channel, both required.

    Statistics in float64 (stash_type) whatever the input: ONNX Runtime runs the op as its ONNX
    function, whose variance E[x^2] - E[x]^2 loses everything to cancellation in float32 for a
    group of nearly equal values (errors of 0.07 where torch is within 2e-4).
    """
    scale = weight if weight is not None else _channels(g, input, 1.0)
    shift = bias if bias is not None else _channels(g, input, 0.0)
    return g.op("GroupNormalization", input, scale, shift, num_groups=int(groups), epsilon=float(eps),
                stash_type=_STASH_DOUBLE)


def group_norm(g, input, num_groups, weight, bias, eps, cudnn_enabled):
    if g.opset >= 21:
        return _group_norm_whole(g, input, num_groups, weight, bias, eps)
    normalized, _, _ = _group_stats(g, input, num_groups, eps)
    return _affine(g, normalized, weight, bias, [-1, *([1] * (g.rank(input) - 2))])


def native_group_norm(g, input, weight, bias, N, C, HxW, group, eps):
    # The statistics come from the decomposition; when only the output is used (as torch's
    # group_norm decomposition does) they are dead code and removed after export.
    normalized, mean, rstd = _group_stats(g, input, group, eps)
    if g.opset >= 21:
        return _group_norm_whole(g, input, group, weight, bias, eps), mean, rstd
    return _affine(g, normalized, weight, bias, [-1, *([1] * (g.rank(input) - 2))]), mean, rstd


# -- instance norm ---------------------------------------------------------------------------------


def instance_norm(g, input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn_enabled):
    if not use_input_stats:
        # The running statistics, per channel: BatchNormalization's inference form.
        return nn_ops.batch_norm(g, input, weight, bias, running_mean, running_var, False, momentum, eps, False)
    r = g.rank(input)
    x = c.unsqueeze(g, input, [2]) if r == 2 else input  # (N, C): one element per instance
    dtype = g.dtype(input)
    if dtype in (torch.float32, torch.float16, torch.bfloat16):  # halves in float32, as torch computes them
        scale = _channels(g, input, 1.0) if weight is None else weight
        shift = _channels(g, input, 0.0) if bias is None else bias
        y = g.op("InstanceNormalization", *(g.cast(v, torch.float32) for v in (x, scale, shift)), epsilon=float(eps))
        y = g.cast(y, dtype)
    else:  # ONNX Runtime's InstanceNormalization is float32 only
        _, centered, var = _moments(g, x, range(2, max(r, 3)))
        shape = [-1, *([1] * (max(r, 3) - 2))]
        y = _affine(g, g.op("Mul", centered, _rstd(g, var, eps, input)), weight, bias, shape)
    return c.squeeze(g, y, [2]) if r == 2 else y


# -- batch norm, training form ---------------------------------------------------------------------


def _batch_stats(g: Any, input: ir.Value, weight: Any, bias: Any, eps: float) -> tuple[ir.Value, ...]:
    """(output, mean (C,), biased var (C,), invstd (C,)) from this batch's statistics."""
    r = g.rank(input)
    axes = [0, *range(2, r)]
    mean, centered, var = _moments(g, input, axes)
    invstd = _rstd(g, var, eps, input)
    y = _affine(g, g.op("Mul", centered, invstd), weight, bias, [-1, *([1] * (r - 2))])
    flat = h.ints(g, [-1])
    return y, g.op("Reshape", mean, flat), g.op("Reshape", var, flat), g.op("Reshape", invstd, flat)


def _empty(g: Any, like: ir.Value) -> ir.Value:
    return g.constant(torch.empty(0, dtype=g.dtype(like)))


def _unbiased_factor(g: Any, input: ir.Value) -> ir.Value:
    """n / (n - 1) for n values per channel (inf for n = 1, as torch's division gives)."""
    dims = h.shape(g, input)
    dtype = g.dtype(input)
    if c.is_static(dims):
        n = math.prod(dims) // max(int(dims[1]), 1)
        return h.scalar(g, n / (n - 1) if n > 1 else math.inf, dtype)
    n = g.cast(g.op("Div", g.op("Size", input), g.op("Gather", g.op("Shape", input), h.scalar(g, 1, "int64"),
                                                         axis=0)), dtype)
    return g.op("Div", n, g.op("Sub", n, h.scalar(g, 1.0, dtype)))


def native_batch_norm_legit(g, input, weight, bias, running_mean, running_var, training, momentum, eps):
    if not training:
        out = nn_ops.batch_norm(g, input, weight, bias, running_mean, running_var, False, momentum, eps, False)
        return out, _empty(g, input), _empty(g, input)
    y, mean, _, invstd = _batch_stats(g, input, weight, bias, eps)
    return y, mean, invstd


def native_batch_norm_legit_no_stats(g, input, weight, bias, training, momentum, eps):
    y, mean, _, invstd = _batch_stats(g, input, weight, bias, eps)
    return y, mean, invstd


def native_batch_norm_legit_functional(g, input, weight, bias, running_mean, running_var, training, momentum, eps):
    if not training:
        out = nn_ops.batch_norm(g, input, weight, bias, running_mean, running_var, False, momentum, eps, False)
        return out, _empty(g, input), _empty(g, input), g.op("Identity", running_mean), g.op("Identity", running_var)
    y, mean, var, invstd = _batch_stats(g, input, weight, bias, eps)
    # torch: running = (1 - momentum) * running + momentum * batch, with the unbiased variance.
    stats_dtype = g.dtype(running_mean)
    keep = h.scalar(g, 1.0 - float(momentum), stats_dtype)
    take = h.scalar(g, float(momentum), stats_dtype)
    unbiased = g.op("Mul", var, _unbiased_factor(g, input))
    new_mean = g.op("Add", g.op("Mul", running_mean, keep), g.op("Mul", g.cast(mean, stats_dtype), take))
    new_var = g.op("Add", g.op("Mul", running_var, keep), g.op("Mul", g.cast(unbiased, stats_dtype), take))
    return y, mean, invstd, new_mean, new_var


# -- RMS norm --------------------------------------------------------------------------------------


def rms_norm(g, input, normalized_shape, weight, eps):
    dtype = g.dtype(input)
    # torch's default is the epsilon of its computation type: float32 for float16/bfloat16 inputs
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    eps = float(torch.finfo(compute).eps) if eps is None else float(eps)
    r = g.rank(input)
    axis = r - len(normalized_shape)
    if g.opset >= 23:
        scale = weight if weight is not None else _filled_from(g, input, axis, 1.0)
        stash = {"stash_type": _STASH_DOUBLE} if dtype == torch.float64 else {}  # default float would round
        return g.op("RMSNormalization", input, scale, axis=axis, epsilon=eps, **stash)
    mean_square = c.reduce(g, "ReduceMean", _square(g, input), list(range(axis, r)), True)
    y = _normalize(g, input, mean_square, eps)
    return y if weight is None else g.op("Mul", y, weight)
