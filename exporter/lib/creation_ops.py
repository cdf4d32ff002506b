"""Random mappings that need Python: sampling.

Each public function takes `(g, <every schema argument in order>)` and is referenced from
opspecs/random.yaml as `impl: exporter.lib.creation_ops.<name>`. The ONNX ops they use change
at these opsets, which the specs mark as variants: TopK's k (attribute -> input at 10), Dropout's
training mode (from 12), Squeeze/Unsqueeze axes (input at 13), Bernoulli (from 15), and opset 22, whose versions of the random ops ONNX
Runtime (1.31) does not implement: from there samples come from Dropout's random mask
(emit_helpers.random_uniform), normal ones by Box-Muller, multinomial by Gumbel-max.

Random ops map to ONNX's unseeded random generators, so results follow torch's distribution,
not its values. ONNX Runtime samples in float32 or float64 only: other dtypes are cast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter.lib import common as c

_SOURCE = "exporter/lib/creation_ops.py"


def _is_static(values: Sequence[Any]) -> bool:
    return not any(isinstance(v, ir.Value) for v in values)


# -- sampling building blocks -----------------------------------------------------------------------
def _uniform(g: Any, shape_of: Any, dtype: torch.dtype, low: float = 0.0, high: float = 1.0) -> ir.Value:
    return h.random_uniform(g, shape_of, dtype, low, high)


def _normal(g: Any, shape_of: Any, dtype: torch.dtype, mean: float = 0.0, std: float = 1.0) -> ir.Value:
    """Normal samples of `dtype`, shaped like a tensor or a size list.

    Up to opset 21: RandomNormal (static sizes) or RandomNormalLike. From 22 (no ONNX Runtime
    kernels): Box-Muller on two uniform samples, sqrt(-2 log(1 - u1)) * cos(2 pi u2). Both draw
    standard samples, then scale and shift them (ONNX Runtime aborts on scale=0).
    """
    sample = h.sample_dtype(g, dtype)
    if g.opset < 22:
        onnx_dtype = h.onnx_dtype(g, sample)
        if not isinstance(shape_of, ir.Value) and _is_static(shape_of) and len(shape_of) > 0:
            out = g.op("RandomNormal", shape=[int(s) for s in shape_of], dtype=onnx_dtype)
        else:  # a tensor, symbolic sizes, or 0-d (an empty `shape` attribute reads as missing)
            like = shape_of if isinstance(shape_of, ir.Value) else h.filled(g, shape_of, 0, sample)
            out = g.op("RandomNormalLike", like, dtype=onnx_dtype)
    else:
        one = g.constant(1.0, sample)
        radius = g.op("Sqrt", g.op("Mul", g.constant(-2.0, sample),
                                   g.op("Log", g.op("Sub", one, _uniform(g, shape_of, sample)))))
        angle = g.op("Mul", _uniform(g, shape_of, sample), g.constant(2 * math.pi, sample))
        out = g.op("Mul", radius, g.op("Cos", angle))
    if std != 1:
        out = g.op("Mul", out, g.constant(float(std), sample))
    if mean != 0:
        out = g.op("Add", out, g.constant(float(mean), sample))
    return g.cast(out, dtype)


def _topk_indices(g: Any, value: ir.Value, k: Any) -> ir.Value:
    """Indices of the k largest values along the last axis (k an attribute before opset 10)."""
    if g.opset >= 10:
        return g.op("TopK", value, h.ints(g, [k]), axis=-1, _outputs=2)[1]
    if isinstance(k, ir.Value):
        raise g.refuse("dynamic_count_before_10")
    return g.op("TopK", value, axis=-1, k=int(k), _outputs=2)[1]


# -- random factories ---------------------------------------------------------------------------------
def rand(g: Any, size: Any, dtype: Any = None, layout: Any = None, device: Any = None,
         pin_memory: Any = None) -> ir.Value:
    return _uniform(g, size, h.factory_dtype(g, dtype))


def randn(g: Any, size: Any, dtype: Any = None, layout: Any = None, device: Any = None,
          pin_memory: Any = None) -> ir.Value:
    return _normal(g, size, h.factory_dtype(g, dtype))


def rand_like(g: Any, self: ir.Value, dtype: Any = None, layout: Any = None, device: Any = None,
              pin_memory: Any = None, memory_format: Any = None) -> ir.Value:
    return _uniform(g, self, h.factory_dtype(g, dtype, self))


def randn_like(g: Any, self: ir.Value, dtype: Any = None, layout: Any = None, device: Any = None,
               pin_memory: Any = None, memory_format: Any = None) -> ir.Value:
    return _normal(g, self, h.factory_dtype(g, dtype, self))


def _randint(g: Any, low: Any, high: Any, shape_of: Any, dtype: torch.dtype) -> ir.Value:
    """floor(uniform [low, high)) in float64, kept below `high` (a float sample can round up to it).
    Bounds read at run time (sizes, or values from tensors) scale a [0, 1) sample in the graph."""
    if isinstance(low, ir.Value) or isinstance(high, ir.Value):
        lo, hi = (g.cast(v, torch.float64) if isinstance(v, ir.Value) else g.constant(float(v), torch.float64)
                  for v in (low, high))
        span = g.op("Sub", hi, lo)
        drawn = g.op("Floor", g.op("Add", lo, g.op("Mul", _uniform(g, shape_of, torch.float64), span)))
        return g.cast(g.op("Min", drawn, g.op("Sub", hi, g.constant(1.0, torch.float64))), dtype)
    drawn = g.op("Floor", _uniform(g, shape_of, torch.float64, low, high))
    drawn = g.op("Min", drawn, g.constant(float(high - 1), torch.float64))
    return g.cast(drawn, dtype)


def randint_low(g: Any, low: Any, high: Any, size: Any, dtype: Any = 4, layout: Any = None, device: Any = None,
                pin_memory: Any = None) -> ir.Value:
    return _randint(g, low, high, size, h.factory_dtype(g, dtype))


def randint(g: Any, high: Any, size: Any, dtype: Any = 4, layout: Any = None, device: Any = None,
            pin_memory: Any = None) -> ir.Value:
    return _randint(g, 0, high, size, h.factory_dtype(g, dtype))


def randint_like(g: Any, self: ir.Value, high: Any, dtype: Any = None, layout: Any = None, device: Any = None,
                 pin_memory: Any = None, memory_format: Any = None) -> ir.Value:
    return _randint(g, 0, high, self, h.factory_dtype(g, dtype, self))


def randint_like_low_dtype(g: Any, self: ir.Value, low: Any, high: Any, dtype: Any = None, layout: Any = None,
                           device: Any = None, pin_memory: Any = None, memory_format: Any = None) -> ir.Value:
    return _randint(g, low, high, self, h.factory_dtype(g, dtype, self))


def randperm(g: Any, n: Any, dtype: Any = 4, layout: Any = None, device: Any = None,
             pin_memory: Any = None) -> ir.Value:
    """The order that sorts n uniform samples: TopK's indices (always distinct) are a permutation."""
    if isinstance(n, int) and n == 0:  # TopK-1 refuses k=0
        return h.filled(g, [0], 0, h.factory_dtype(g, dtype))
    return g.cast(_topk_indices(g, _uniform(g, [n], torch.float32), n), h.factory_dtype(g, dtype))


# -- sampling from tensors ------------------------------------------------------------------------
def bernoulli_below(g: Any, self: ir.Value, p: Any = None) -> ir.Value:
    """bernoulli (p None: self holds the probabilities), .p and .Tensor: 1 (in self's dtype) where a
    uniform sample is below p (a float, or a tensor broadcasting to self). Not ONNX Bernoulli: ONNX
    Runtime's kernel (1.32, opsets 15-21) draws 1 with probability 1 - p, and it has none from 22."""
    p = self if p is None else p
    sample = h.sample_dtype(g, p if isinstance(p, ir.Value) else torch.float32)
    p = g.cast(p, sample) if isinstance(p, ir.Value) else g.constant(float(p), sample)
    return g.cast(g.op("Less", _uniform(g, self, sample), p), g.dtype(self))


def normal_tensor_float(g: Any, mean: ir.Value, std: float = 1.0, generator: Any = None) -> ir.Value:
    dtype = g.dtype(mean)
    return g.op("Add", mean, _normal(g, mean, dtype, 0.0, std))


def normal_float_tensor(g: Any, mean: float, std: ir.Value, generator: Any = None) -> ir.Value:
    dtype = g.dtype(std)
    return g.op("Add", g.op("Mul", _normal(g, std, dtype), std), g.constant(float(mean), dtype))


def normal_tensor_tensor(g: Any, mean: ir.Value, std: ir.Value, generator: Any = None) -> ir.Value:
    broadcast = g.op("Add", mean, std)  # only its shape is used
    return g.op("Add", mean, g.op("Mul", _normal(g, broadcast, g.dtype(mean)), std))


def normal_functional(g: Any, self: ir.Value, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> ir.Value:
    return _normal(g, self, g.dtype(self), mean, std)


def normal_float_float(g: Any, mean: float, std: float, size: Any, generator: Any = None, dtype: Any = None,
                       layout: Any = None, device: Any = None, pin_memory: Any = None) -> ir.Value:
    return _normal(g, size, h.factory_dtype(g, dtype), mean, std)


def multinomial(g: Any, self: ir.Value, num_samples: Any, replacement: bool = False,
                generator: Any = None) -> ir.Value:
    """Category indices drawn with weights `self` (1-D, or 2-D rows).

    With replacement: ONNX Multinomial on log-weights (float32; rows as a batch); from opset 22
    (no ONNX Runtime kernel) the Gumbel-max trick, argmax(log w + g) with g = -log(-log(u)) drawn
    for each sample and category. Without replacement (or for one sample): torch's own method,
    the top num_samples of self / q with q ~ Exp(1) (q = -log(u), u uniform).
    """
    if replacement and not (isinstance(num_samples, int) and num_samples == 1):
        if g.opset >= 22:
            return _multinomial_gumbel(g, self, num_samples)
        if isinstance(num_samples, ir.Value):
            raise g.refuse("dynamic_count_with_replacement")
        logits = g.op("Log", g.cast(self, torch.float32))
        batched = logits if g.rank(self) == 2 else c.unsqueeze(g, logits, [0])
        drawn = g.op("Multinomial", batched, sample_size=int(num_samples), dtype=h.onnx_dtype(g, torch.int64))
        return drawn if g.rank(self) == 2 else c.squeeze(g, drawn, [0])
    q = g.op("Neg", g.op("Log", _uniform(g, self, h.sample_dtype(g, self))))
    return _topk_indices(g, g.op("Div", g.cast(self, h.sample_dtype(g, self)), q), num_samples)


def _multinomial_gumbel(g: Any, self: ir.Value, num_samples: Any) -> ir.Value:
    """num_samples draws with replacement per row (opset 22+): [..., C] weights -> [..., S] indices."""
    sample = h.sample_dtype(g, self)
    logits = g.op("Unsqueeze", g.op("Log", g.cast(self, sample)), h.ints(g, [-2]))  # [..., 1, C]
    scores = g.op("Add", logits, h.filled(g, [num_samples, 1], 0, sample))          # [..., S, C]
    gumbel = g.op("Neg", g.op("Log", g.op("Neg", g.op("Log", _uniform(g, scores, sample)))))
    return g.op("ArgMax", g.op("Add", scores, gumbel), axis=-1, keepdims=0)


# -- dropout ---------------------------------------------------------------------------------------
def native_dropout(g: Any, input: ir.Value, p: float, train: bool | None) -> tuple[ir.Value, ir.Value]:
    """(output, mask). train=False: the input and an all-True mask. Otherwise each element is kept
    with probability 1 - p and scaled by 1 / (1 - p): ONNX Dropout in training mode from opset 12
    (float types, p < 1), else a uniform-sample mask as torch builds it. p == 1 drops everything
    (torch's scale is then 0, ONNX Dropout refuses the ratio).
    """
    dtype = g.dtype(input)
    shape = g.op("Shape", input)
    if train is False:
        return g.op("Identity", input), h.filled(g, shape, True, torch.bool)
    if input.shape is not None and any(d == 0 for d in input.shape):
        return g.op("Identity", input), h.filled(g, shape, 0, dtype)  # torch: empty_like(input)
    if p >= 1:
        return g.op("Mul", input, g.constant(0, dtype)), h.filled(g, shape, False, torch.bool)
    if g.opset >= 12 and dtype in (torch.float16, torch.float32, torch.float64):
        ratio, training = g.constant(float(p), torch.float32), g.constant(True, torch.bool)
        output, mask = g.op("Dropout", input, ratio, training, _outputs=2)
        mask.dtype = ir.DataType.BOOL
        return output, mask
    sample = h.sample_dtype(g, dtype)
    mask = g.op("Not", g.op("Less", _uniform(g, input, sample), g.constant(float(p), sample)))
    kept = g.op("Mul", input, g.cast(mask, dtype))
    return g.op("Mul", kept, g.constant(1.0 / (1.0 - p), dtype)), mask
