"""Python mappings for sorting and scan ATen ops (opspecs/sorting.yaml).

Sorting is ONNX TopK with k = the size of the dim. TopK is stable: the ONNX spec (and ONNX
Runtime at every opset) puts equal elements in index order, for largest and smallest alike,
which is torch's `stable=True` order. Before opset 11 TopK has no `largest` attribute: the
smallest elements are the largest of the negated key. ONNX Runtime's TopK takes integers only
from opset 11 (before: a float64 key, exact below 2**53) and no bools (a float32 key).

torch orders NaN above +inf; ONNX Runtime puts NaNs last in both directions. Floats are
therefore sorted on a float64 key with NaN -> +inf and +inf -> the largest finite double (a
float32 or float16 +inf widens to a value above every finite one; a float64 one is tied with
the largest finite double). From opset 11 the values are gathered from the input at the sorted
indices (GatherElements); before, they are mapped back from the key.

cumsum uses CumSum from opset 11. Before it, and for cumprod and logcumsumexp (no ONNX op at
any opset), out[j] reduces x[i] over i <= j: x gets a new axis after `dim`, a triangular mask
keeps i <= j (the rest becomes the reduction's identity: 0, 1 or -inf) and the original axis is
reduced. Loop-free and exact for integers (zeros and negatives included), but it materialises
n * n elements per slice along `dim`.

Values made here carry no shape information: ranks and sizes come from the op's inputs.
"""

from __future__ import annotations

import math
from typing import Any

import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter.lib import common as c

_DBL_MAX = float(torch.finfo(torch.float64).max)
_SMALL_INTS = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32)

# -- opset-dependent building blocks ---------------------------------------------------------------


def _topk(g: Any, key: ir.Value, k: Any, axis: int, largest: bool) -> tuple[ir.Value, ir.Value]:
    """Sorted TopK of a float or (from 11) integer key; `largest=False` negates before opset 11."""
    if g.opset < 11 and not largest:
        values, indices = _topk(g, g.op("Neg", key), k, axis, True)
        return g.op("Neg", values), indices
    if g.opset < 10:
        values, indices = g.op("TopK", key, k=k, axis=axis, _outputs=2)
    elif g.opset < 11:
        values, indices = g.op("TopK", key, h.ints(g, [k]), axis=axis, _outputs=2)
    else:
        values, indices = g.op("TopK", key, h.ints(g, [k]), axis=axis, largest=int(largest), sorted=1, _outputs=2)
    values.dtype = key.dtype
    return values, indices


def _sort_key(g: Any, x: ir.Value) -> ir.Value:
    """A key TopK orders as torch orders `x` (see the module docstring)."""
    dtype = g.dtype(x)
    if dtype == torch.bool:
        return h.cast(g, x, torch.float32)
    if not dtype.is_floating_point:
        return x if g.opset >= 11 else h.cast(g, x, torch.float64)
    wide = h.cast(g, x, torch.float64)
    biggest = g.constant(_DBL_MAX, torch.float64)
    capped = g.op("Where", g.op("Greater", wide, biggest), biggest, wide)
    return g.op("Where", g.op("IsNaN", wide), g.constant(float("inf"), torch.float64), capped)


def _values_from_key(g: Any, x: ir.Value, key_values: ir.Value) -> ir.Value:
    """Sorted values of `x` from its sorted key (before opset 11, when GatherElements is missing)."""
    dtype = g.dtype(x)
    if dtype.is_floating_point:
        biggest = g.constant(_DBL_MAX, torch.float64)
        nan = g.constant(float("nan"), torch.float64)
        inf = g.constant(float("inf"), torch.float64)
        restored = g.op("Where", g.op("Greater", key_values, biggest), nan,
                        g.op("Where", g.op("Less", key_values, biggest), key_values, inf))
        return h.cast(g, restored, dtype)
    return h.cast(g, key_values, dtype)


def _sorted(g: Any, x: ir.Value, k: Any, axis: int, largest: bool) -> tuple[ir.Value, ir.Value]:
    """(values, indices) of the k largest or smallest along `axis`, in order, ties by index."""
    key = _sort_key(g, x)
    key_values, indices = _topk(g, key, k, axis, largest)
    if key is x:
        return key_values, indices
    if g.opset >= 11:
        return g.op("GatherElements", x, indices, axis=axis), indices
    return _values_from_key(g, x, key_values), indices


def _index_zero(g: Any) -> ir.Value:
    return g.constant(0, torch.int64)


# -- sort, argsort, topk, kthvalue, median -----------------------------------------------------------


def sort(g: Any, self: ir.Value, dim: int, descending: bool) -> tuple[ir.Value, ir.Value]:
    """sort and sort.stable (every sort here is stable: ties keep their index order)."""
    if g.rank(self) == 0:
        return g.op("Identity", self), _index_zero(g)
    axis = h.norm_dim(g, dim, self)
    return _sorted(g, self, c.dim_size(g, self, axis), axis, bool(descending))


def argsort(g, self, dim, descending):
    return sort(g, self, dim, descending)[1]


def argsort_stable(g, self, stable, dim, descending):
    return sort(g, self, dim, descending)[1]


def topk(g, self, k, dim, largest, sorted):
    if g.rank(self) == 0:
        return g.op("Identity", self), _index_zero(g)
    return _sorted(g, self, k, h.norm_dim(g, dim, self), bool(largest))


def _kth(g: Any, x: ir.Value, k: Any, axis: int, keepdim: bool) -> tuple[ir.Value, ir.Value]:
    """The k-th smallest (1-based) along `axis` and its index (the first such in index order)."""
    values, indices = _sorted(g, x, k, axis, False)
    last = g.op("Sub", k, g.constant(1, torch.int64)) if isinstance(k, ir.Value) else g.constant(k - 1, torch.int64)
    pick = g.op("Reshape", last, h.ints(g, [1])) if keepdim else last
    return g.op("Gather", values, pick, axis=axis), g.op("Gather", indices, pick, axis=axis)


def kthvalue(g, self, k, dim, keepdim):
    if g.rank(self) == 0:
        return g.op("Identity", self), _index_zero(g)
    return _kth(g, self, k, h.norm_dim(g, dim, self), bool(keepdim))


def _lower_median(g: Any, x: ir.Value, axis: int, keepdim: bool) -> tuple[ir.Value, ir.Value]:
    """torch's median: the lower of the two middle values; NaN (and the first NaN's index) if any."""
    n = c.dim_size(g, x, axis)
    k = (n - 1) // 2 + 1 if isinstance(n, int) else g.op(
        "Add", g.op("Div", g.op("Sub", n, g.constant(1, torch.int64)), g.constant(2, torch.int64)),
        g.constant(1, torch.int64))
    values, indices = _kth(g, x, k, axis, keepdim)
    if not g.dtype(x).is_floating_point:
        return values, indices
    nan = h.cast(g, g.op("IsNaN", x), torch.int32)
    has_nan = g.op("Greater", c.reduce(g, "ReduceMax", nan, [axis], keepdim), g.constant(0, torch.int32))
    first_nan = g.op("ArgMax", nan, axis=axis, keepdims=int(keepdim))
    return (g.op("Where", has_nan, g.constant(float("nan"), g.dtype(x)), values),
            g.op("Where", has_nan, first_nan, indices))


def median(g, self):
    if g.rank(self) == 0:
        return g.op("Identity", self)
    flat = g.op("Reshape", self, h.ints(g, [-1]))
    sizes = h.shape(g, self)
    flat.shape = ir.Shape([math.prod(sizes) if all(isinstance(s, int) for s in sizes) else None])
    return _lower_median(g, flat, 0, False)[0]


def median_dim(g, self, dim, keepdim):
    if g.rank(self) == 0:
        return g.op("Identity", self), _index_zero(g)
    return _lower_median(g, self, h.norm_dim(g, dim, self), bool(keepdim))


# -- scans -------------------------------------------------------------------------------------------


def _accumulate(g: Any, x: ir.Value, dtype: Any) -> ir.Value:
    """torch's cumsum/cumprod dtype: `dtype` if given, else integers and bool accumulate in int64."""
    if dtype is not None:
        return h.cast(g, x, dtype)
    return h.cast(g, x, torch.int64) if g.dtype(x) in _SMALL_INTS else x


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype ONNX Runtime's CumSum/Reduce*/Where run in for results of `dtype`."""
    if dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    if dtype in _SMALL_INTS:
        return torch.int64  # integer wrap-around survives the cast back
    return dtype


def _triangle(g: Any, x: ir.Value, axis: int) -> ir.Value:
    """A bool mask [n, n, 1, ...] (one 1 per axis after `axis`): mask[i, j] = i <= j."""
    trailing = g.rank(x) - axis - 1
    n = c.dim_size(g, x, axis)
    if isinstance(n, int):
        mask = torch.ones(n, n, dtype=torch.bool).triu()
        return g.constant(mask.reshape([n, n] + [1] * trailing))
    if g.opset < 11:
        raise g.refuse("dynamic_sizes_old_opset")
    steps = g.op("Range", g.constant(0, torch.int64), n, g.constant(1, torch.int64))
    rows, columns = c.unsqueeze(g, steps, [1]), c.unsqueeze(g, steps, [0])
    mask = g.op("Not", g.op("Greater", rows, columns))
    return g.op("Reshape", mask, h.ints(g, [n, n] + [1] * trailing))


def _prefix_reduce(g: Any, op: str, x: ir.Value, source: ir.Value, axis: int, fill: float) -> ir.Value:
    """out[j] = op over x[i], i <= j, along `axis` (the masked-triangle construction)."""
    spread = g.op("Where", _triangle(g, source, axis), c.unsqueeze(g, x, [axis + 1]), g.constant(fill, g.dtype(x)))
    return c.reduce(g, op, spread, [axis], False)


def cumsum(g, self, dim, dtype):
    x = _accumulate(g, self, dtype)
    if g.rank(self) == 0:
        return g.op("Identity", x)
    axis = h.norm_dim(g, dim, self)
    work = h.cast(g, x, _compute_dtype(g.dtype(x)))
    if g.opset >= 11:
        out = g.op("CumSum", work, g.constant(axis, torch.int64))
    else:
        out = _prefix_reduce(g, "ReduceSum", work, self, axis, 0)
    return h.cast_like(g, out, x)


def cumprod(g, self, dim, dtype):
    x = _accumulate(g, self, dtype)
    if g.rank(self) == 0:
        return g.op("Identity", x)
    axis = h.norm_dim(g, dim, self)
    work = h.cast(g, x, _compute_dtype(g.dtype(x)))
    return h.cast_like(g, _prefix_reduce(g, "ReduceProd", work, self, axis, 1), x)


def logcumsumexp(g, self, dim):
    if g.rank(self) == 0:
        return g.op("Identity", self)
    axis = h.norm_dim(g, dim, self)
    x = h.cast(g, self, _compute_dtype(g.dtype(self)))
    spread = g.op("Where", _triangle(g, self, axis), c.unsqueeze(g, x, [axis + 1]),
                  g.constant(float("-inf"), g.dtype(x)))
    shift = c.finite_or_zero(g, c.reduce(g, "ReduceMax", spread, [axis], True))
    total = c.reduce(g, "ReduceSum", g.op("Exp", g.op("Sub", spread, shift)), [axis], False)
    shift = g.op("Squeeze", shift, h.ints(g, [axis])) if g.opset >= 13 else g.op("Squeeze", shift, axes=[axis])
    return h.cast_like(g, g.op("Add", g.op("Log", total), shift), self)


def running_extreme(g: Any, self: ir.Value, dim: int, largest: bool) -> tuple[ir.Value, ir.Value]:
    """cummax/cummin: the running extreme and the index of its last occurrence so far; once a NaN
    has been seen the value is NaN and the index that of the latest NaN, as in torch."""
    if g.rank(self) == 0:
        return g.op("Identity", self), g.constant(0, torch.int64)
    axis = h.norm_dim(g, dim, self)
    dtype = g.dtype(self)
    x = h.cast(g, self, torch.int32) if dtype in _SMALL_INTS and dtype != torch.int32 else self
    x = h.cast(g, x, torch.float32) if dtype in (torch.float16, torch.bfloat16) else x
    work = g.dtype(x)
    info = torch.finfo(work) if work.is_floating_point else torch.iinfo(work)
    fill = (float("-inf") if largest else float("inf")) if work.is_floating_point else (info.min if largest else info.max)
    op = "ReduceMax" if largest else "ReduceMin"
    triangle = _triangle(g, self, axis)  # [n_i, n_j, 1...]: i <= j
    column = c.unsqueeze(g, x, [axis + 1])  # x_i along the new j axis
    running = c.reduce(g, op, g.op("Where", triangle, column, g.constant(fill, work)), [axis], True)  # [.., 1, n_j, ..]
    equal = g.op("Not", g.op("Or", g.op("Less", column, running), g.op("Greater", column, running)))
    if work.is_floating_point:
        nan_i = g.op("IsNaN", column)
        nan_flags = g.op("Where", triangle, h.cast(g, nan_i, torch.int32), g.constant(0, torch.int32))
        seen = g.op("Greater", c.reduce(g, "ReduceMax", nan_flags, [axis], True), g.constant(0, torch.int32))
        equal = g.op("Or", g.op("And", seen, nan_i),  # no bool Where kernel in ONNX Runtime
                     g.op("And", g.op("Not", seen), g.op("And", equal, g.op("Not", nan_i))))
        running = g.op("Where", seen, g.constant(float("nan"), work), running)
    n = c.dim_size(g, self, axis)
    trailing = g.rank(self) - axis - 1
    if isinstance(n, int):
        positions = g.constant(torch.arange(n).reshape([n, 1] + [1] * trailing))
    else:
        steps = g.op("Range", g.constant(0, torch.int64), n, g.constant(1, torch.int64))
        positions = g.op("Reshape", steps, h.ints(g, [-1, 1] + [1] * trailing))
    hits = g.op("Where", g.op("And", triangle, equal), positions, g.constant(-1, torch.int64))
    indices = c.reduce(g, "ReduceMax", hits, [axis], False)
    values = g.op("Squeeze", running, h.ints(g, [axis])) if g.opset >= 13 else g.op("Squeeze", running, axes=[axis])
    return h.cast(g, values, dtype), indices

