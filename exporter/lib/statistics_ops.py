"""Python mappings for statistics and norm ATen ops (opspecs/statistics.yaml).

Reductions take their axes as an attribute until opset 12 (ReduceSum) or 17 (the others) and
as an input after. ONNX Runtime's ReduceMax/ReduceMin and ArgMax/ArgMin ignore NaN where torch
propagates it: max/min and the inf-norms check for NaN themselves. Small integer and bool inputs
are reduced as int32 (ReduceMax/Min take int8/uint8 only from opset 12 and bool from 20), half
floats as float32, and cast back.

Values made here carry no shape information: ranks and sizes come from the op's inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter.lib import common as c

_SMALL_INTS = (torch.bool, torch.uint8, torch.int8, torch.int16)
_HALF = (torch.float16, torch.bfloat16)

# -- building blocks ---------------------------------------------------------------------------------


def _work(g: Any, x: ir.Value) -> ir.Value:
    """`x` in a dtype ONNX Runtime's Reduce*/ArgMax kernels take at every opset (order-preserving)."""
    dtype = g.dtype(x)
    if dtype in _SMALL_INTS:
        return h.cast(g, x, torch.int32)
    if dtype in _HALF:
        return h.cast(g, x, torch.float32)
    return x


def _nan(g: Any, like: ir.Value) -> ir.Value:
    return g.constant(float("nan"), g.dtype(like))


def _nan_seen(g: Any, x: ir.Value, axes: Sequence[int] | None, keepdim: bool) -> ir.Value:
    """Whether each reduced slice of float `x` holds a NaN (bool)."""
    flags = h.cast(g, g.op("IsNaN", x), torch.int32)
    return g.op("Greater", c.reduce(g, "ReduceMax", flags, axes, keepdim), g.constant(0, torch.int32))


def _count(g: Any, x: ir.Value, axes: Sequence[int] | None, dtype: torch.dtype) -> ir.Value:
    """How many elements each reduced slice of `x` has, as a 0-d value of `dtype`."""
    sizes = h.shape(g, x)
    picked = [sizes[a] for a in (range(len(sizes)) if axes is None else axes)]
    if all(isinstance(s, int) for s in picked):
        return g.constant(float(math.prod(picked)), dtype)
    shape = g.op("Shape", x)
    total = None
    for axis in range(len(sizes)) if axes is None else axes:
        size = h.cast(g, g.op("Gather", shape, g.constant(axis, torch.int64), axis=0), dtype)
        total = size if total is None else g.op("Mul", total, size)
    return total


# -- any / all ---------------------------------------------------------------------------------------


def any_all(g: Any, self: ir.Value, every: bool, dim: Any = None, keepdim: bool = False) -> ir.Value:
    """torch.any (`every` false) / torch.all: bool results (uint8 for uint8 input); dim None
    reduces every axis, dim [] keeps every element."""
    dims = dim
    truth = self if g.dtype(self) == torch.bool else h.cast(g, self, torch.bool)  # NaN is true
    out_dtype = torch.uint8 if g.dtype(self) == torch.uint8 else torch.bool
    reduce_all = dims is None
    dims = [] if dims is None else ([dims] if isinstance(dims, int) else list(dims))
    if g.rank(self) == 0 or (not dims and not reduce_all):
        return h.cast(g, g.op("Identity", truth), out_dtype)
    counted = g.op("Not", truth) if every else truth
    count = c.reduce(g, "ReduceSum", h.cast(g, counted, torch.int64), c.reduce_axes(g, dims, self), bool(keepdim))
    found = g.op("Greater", count, g.constant(0, torch.int64))
    return h.cast(g, g.op("Not", found) if every else found, out_dtype)


# -- max / min ---------------------------------------------------------------------------------------


def _extreme(g: Any, self: ir.Value, axes: Sequence[int] | None, keepdim: bool, largest: bool) -> ir.Value:
    """max/min values over `axes`; NaN wins, as in torch."""
    x = _work(g, self)
    out = c.reduce(g, "ReduceMax" if largest else "ReduceMin", x, axes, keepdim)
    if g.dtype(x).is_floating_point:
        out = g.op("Where", _nan_seen(g, x, axes, keepdim), _nan(g, x), out)
    return h.cast_like(g, out, self)


def extreme_dim(g: Any, self: ir.Value, dim: int, keepdim: bool, largest: bool) -> tuple[ir.Value, ir.Value]:
    """(values, indices) along `dim`: the first extreme's index, or the first NaN's, as in torch."""
    if g.rank(self) == 0:
        return g.op("Identity", self), g.constant(0, torch.int64)
    axis = h.norm_dim(g, dim, self)
    x = _work(g, self)
    values = c.reduce(g, "ReduceMax" if largest else "ReduceMin", x, [axis], keepdim)
    indices = g.op("ArgMax" if largest else "ArgMin", x, axis=axis, keepdims=int(keepdim))
    if g.dtype(x).is_floating_point:
        flags = h.cast(g, g.op("IsNaN", x), torch.int32)
        seen = g.op("Greater", c.reduce(g, "ReduceMax", flags, [axis], keepdim), g.constant(0, torch.int32))
        values = g.op("Where", seen, _nan(g, x), values)
        indices = g.op("Where", seen, g.op("ArgMax", flags, axis=axis, keepdims=int(keepdim)), indices)
    return h.cast_like(g, values, self), indices


def max_default(g, self):
    if g.rank(self) == 0:
        return g.op("Identity", self)
    return _extreme(g, self, None, False, True)


def min_default(g, self):
    if g.rank(self) == 0:
        return g.op("Identity", self)
    return _extreme(g, self, None, False, False)



# -- variance and standard deviation ------------------------------------------------------------------


def _var_mean(g: Any, self: ir.Value, dims: Any, correction: Any, keepdim: bool) -> tuple[ir.Value, ir.Value]:
    """(var, mean) as torch computes them: sum((x - mean)**2) / max(0, N - correction).

    Two passes (the mean, then squared deviations) instead of torch's Welford updates; half
    floats are computed in float32. N - correction <= 0 divides by 0 (inf or NaN, as in torch).
    """
    x = h.cast(g, self, torch.float32) if g.dtype(self) in _HALF else self
    correction = 1 if correction is None else correction
    if g.rank(self) == 0:
        centred = g.op("Sub", x, x)
        mean, squares = x, g.op("Mul", centred, centred)
        count = g.constant(1.0, g.dtype(x))
    else:
        axes = c.reduce_axes(g, dims, self)
        centred = g.op("Sub", x, c.reduce(g, "ReduceMean", x, axes, True))
        squares = c.reduce(g, "ReduceSum", g.op("Mul", centred, centred), axes, keepdim)
        mean = c.reduce(g, "ReduceMean", x, axes, keepdim)
        count = _count(g, self, axes, g.dtype(x))
    dof = g.op("Sub", count, g.constant(float(correction), g.dtype(x)))
    dof = g.op("Max", dof, g.constant(0.0, g.dtype(x)))
    return h.cast_like(g, g.op("Div", squares, dof), self), h.cast_like(g, mean, self)


def variance(g: Any, self: ir.Value, dim: Any, keepdim: bool, std: bool, with_mean: bool,
             correction: Any = None, unbiased: bool = True) -> Any:
    """var / std (`std`), alone or with the mean (`with_mean`), for the .correction overloads
    (correction None is 1) and the .dim ones (unbiased: correction 1, else 0)."""
    if correction is None:
        correction = 1 if unbiased else 0
    var, mean = _var_mean(g, self, dim, correction, keepdim)
    spread = g.op("Sqrt", var) if std else var
    return (spread, mean) if with_mean else spread


# -- logsumexp and norms -----------------------------------------------------------------------------


def logsumexp(g, self, dim, keepdim):
    """max + log(sum(exp(x - max))), the max taken as 0 where it is infinite (all -inf gives -inf)."""
    if g.rank(self) == 0:
        return g.op("Identity", self)
    x = h.cast(g, self, torch.float32) if g.dtype(self) in _HALF else self
    axes = c.reduce_axes(g, dim, self)
    shift = c.finite_or_zero(g, c.reduce(g, "ReduceMax", x, axes, True))
    total = c.reduce(g, "ReduceSum", g.op("Exp", g.op("Sub", x, shift)), axes, keepdim)
    kept = shift if keepdim else c.finite_or_zero(g, c.reduce(g, "ReduceMax", x, axes, False))
    return h.cast_like(g, g.op("Add", g.op("Log", total), kept), self)


def _vector_norm(g: Any, x: ir.Value, ord: float, axes: Sequence[int] | None, keepdim: bool) -> ir.Value:
    """The ord-norm of float `x` over `axes` (None: every axis), as torch.linalg.vector_norm."""
    magnitude = g.op("Abs", x)
    if ord == 0:
        return c.reduce(g, "ReduceSum", h.cast_like(g, h.cast(g, x, torch.bool), x), axes, keepdim)
    if ord == 1:
        return c.reduce(g, "ReduceSum", magnitude, axes, keepdim)
    if ord == 2:
        return g.op("Sqrt", c.reduce(g, "ReduceSum", g.op("Mul", x, x), axes, keepdim))
    if math.isinf(ord):
        out = c.reduce(g, "ReduceMax" if ord > 0 else "ReduceMin", magnitude, axes, keepdim)
        return g.op("Where", _nan_seen(g, x, axes, keepdim), _nan(g, x), out)
    powered = g.op("Pow", magnitude, g.constant(float(ord), g.dtype(x)))
    return g.op("Pow", c.reduce(g, "ReduceSum", powered, axes, keepdim), g.constant(1.0 / float(ord), g.dtype(x)))


def linalg_vector_norm(g, self, ord, dim, keepdim, dtype):
    x = self if dtype is None else h.cast(g, self, dtype)
    result = x
    x = h.cast(g, x, torch.float32) if g.dtype(x) in _HALF else x
    if g.rank(self) == 0:
        if ord == 0:
            return h.cast_like(g, h.cast(g, x, torch.bool), result)
        return h.cast_like(g, g.op("Abs", x), result)
    return h.cast_like(g, _vector_norm(g, x, float(ord), c.reduce_axes(g, dim, self), bool(keepdim)), result)


def _cdist(g: Any, x1: ir.Value, x2: ir.Value, p: float) -> ir.Value:
    """Distances between the rows of x1 [..., P, M] and x2 [..., R, M]: [..., P, R]."""
    r1, r2 = g.rank(x1), g.rank(x2)
    diff = g.op("Sub", c.unsqueeze(g, x1, [r1 - 1]), c.unsqueeze(g, x2, [r2 - 2]))  # [..., P, R, M]
    return _vector_norm(g, diff, float(p), [max(r1, r2)], False)


def cdist_forward(g, x1, x2, p, compute_mode):
    work1 = h.cast(g, x1, torch.float32) if g.dtype(x1) in _HALF else x1
    work2 = h.cast_like(g, x2, work1)
    return h.cast_like(g, _cdist(g, work1, work2, p), x1)


def pdist_forward(g, self, p):
    """The upper triangle (i < j, row-major) of the pairwise row distances of self [N, M]."""
    x = h.cast(g, self, torch.float32) if g.dtype(self) in _HALF else self
    n = h.shape(g, self)[0]
    if isinstance(n, int):
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        if not pairs:
            return g.constant(torch.empty(0, dtype=g.dtype(self)))
        first = g.op("Gather", x, g.constant([i for i, _ in pairs], torch.int64), axis=0)
        second = g.op("Gather", x, g.constant([j for _, j in pairs], torch.int64), axis=0)
        return h.cast_like(g, _vector_norm(g, g.op("Sub", first, second), float(p), [1], False), self)
    if g.opset < 11:
        raise g.refuse("dynamic_sizes_old_opset")
    full = _cdist(g, x, x, p)  # [N, N]
    rows = g.op("Gather", g.op("Shape", x), g.constant(0, torch.int64), axis=0)
    steps = g.op("Range", g.constant(0, torch.int64), rows, g.constant(1, torch.int64))
    upper = g.op("Less", c.unsqueeze(g, steps, [1]), steps)
    flat = g.op("Reshape", full, h.ints(g, [-1]))
    return h.cast_like(g, g.op("Compress", flat, g.op("Reshape", upper, h.ints(g, [-1])), axis=0), self)


# -- einsum ------------------------------------------------------------------------------------------


def _sums_single_operand(equation: str, count: int) -> bool:
    """Whether torch computes this einsum with a plain sum (one operand, some letter summed out),
    which promotes integers and bool to int64."""
    if count != 1:
        return False
    inputs, arrow, output = equation.partition("->")
    letters = [c for c in inputs if c.isalpha()]
    kept = {c for c in output if c.isalpha()} if arrow else {c for c in letters if letters.count(c) == 1}
    return bool(set(letters) - kept)


def einsum(g, equation, tensors, path):
    """ONNX Einsum (opset 12) in float32/64 or int64: half floats are computed in float32, the other
    integers in int64 (ONNX Runtime's int32 Einsum gives an int64 result for some equations, such
    as the trace 'ii'; the cast back keeps torch's wrap-around). Like torch, a one-operand einsum
    that sums a letter out gives int64 for integer and bool inputs."""
    equation = str(equation).replace(" ", "")
    dtype = g.dtype(tensors[0])
    work = torch.float32 if dtype in _HALF else dtype if dtype.is_floating_point else torch.int64
    out = g.op("Einsum", *[h.cast(g, t, work) for t in tensors], equation=equation)
    if not dtype.is_floating_point and _sums_single_operand(equation, len(tensors)):
        return out
    return h.cast(g, out, dtype)
