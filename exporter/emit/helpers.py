"""Helpers callable from `emit:` expressions in opspecs (`ints([dim])` -> `h.ints(g, [dim])`).

Each takes the GraphBuilder `g` first. Codegen reads this file's function names to check
specs, so a new helper is available to specs as soon as it is defined here.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any, overload

import onnx_ir as ir
import torch

from aten2onnx.exporter.dtypes import from_torch_dtype, parse_dtype
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.graph_builder import is_complex as marked_complex
from aten2onnx.exporter.emit.lib import special_ops

INT64_MAX = 2**63 - 1


def ints(g: GraphBuilder, values: Sequence[Any]) -> ir.Value:
    """A 1-D int64 tensor from ints; symbolic sizes (values) are concatenated in."""
    values = list(values)
    if all(not isinstance(v, ir.Value) for v in values):
        return g.constant([int(v) for v in values], torch.int64)
    parts = [g.op("Reshape", v if isinstance(v, ir.Value) else g.constant(int(v), torch.int64),
                  g.constant([1], torch.int64)) for v in values]
    return g.op("Concat", *parts, axis=0)


def ints_or_none(g: GraphBuilder, values: Sequence[Any] | None) -> ir.Value | None:
    return None if values is None else ints(g, values)


@overload
def like(g: GraphBuilder, value: None, reference: ir.Value) -> None: ...
@overload
def like(g: GraphBuilder, value: ir.Value | float, reference: ir.Value) -> ir.Value: ...
def like(g: GraphBuilder, value: Any, reference: ir.Value) -> ir.Value | None:
    """A 0-d constant with `reference`'s dtype (None stays None: an omitted input)."""
    if value is None:
        return None
    if isinstance(value, ir.Value):
        return g.cast(value, g.known_dtype(reference))
    return g.constant(value, g.dtype(reference))


def scalar(g: GraphBuilder, value: Any, dtype: Any) -> ir.Value:
    """A number as a 0-d value of a given dtype ('int64', torch.float32, ...): a constant, or a number
    known only at run time (TorchScript's int and float arithmetic, a 0-d value of the graph) cast to it
    (g.constant would cast it too; the Cast is written here so that codegen sees it among the emits)."""
    if isinstance(value, ir.Value):
        return g.cast(value, parse_dtype(dtype))
    return g.constant(value, parse_dtype(dtype))


def cast(g: GraphBuilder, value: ir.Value, dtype: Any) -> ir.Value:
    return g.cast(value, parse_dtype(dtype))


def cast_like(g: GraphBuilder, value: ir.Value, reference: ir.Value) -> ir.Value:
    return g.cast(value, g.known_dtype(reference))


def onnx_dtype(g: GraphBuilder, dtype: Any) -> int:
    """The ONNX enum for a dtype, for attributes such as Cast's `to`."""
    return int(from_torch_dtype(parse_dtype(dtype)))


def rank(g: GraphBuilder, value: ir.Value) -> int:
    return g.rank(value)


def shape(g: GraphBuilder, value: ir.Value) -> list[int | str]:
    return g.shape(value)


def dtype(g: GraphBuilder, value: ir.Value) -> torch.dtype:
    return g.known_dtype(value)


def is_float(g: GraphBuilder, value: ir.Value) -> bool:
    return g.known_dtype(value).is_floating_point


def norm_dim(g: GraphBuilder, dim: int, value: ir.Value) -> int:
    """A non-negative axis for `value` (torch allows dim -1 on 0-d tensors: axis 0)."""
    r = max(g.rank(value), 1)
    return dim + r if dim < 0 else dim


def norm_dims(g: GraphBuilder, dims: Sequence[int] | None, value: ir.Value) -> list[int]:
    """Axes for `value`; None or [] means every axis, as torch's reductions do."""
    if not dims:
        return list(range(g.rank(value)))
    return [norm_dim(g, d, value) for d in dims]


def reduce_axes(g: GraphBuilder, dims: Any, value: ir.Value) -> list[int] | None:
    """ONNX axes of `value` for torch's `dim` argument of a reduction (an int or a list); None
    (every axis) for None or [], as torch's reductions read them."""
    if dims is None:
        return None
    dims = [dims] if isinstance(dims, int) else list(dims)
    return [norm_dim(g, d, value) for d in dims] or None


# Integer (and bool) dtypes torch's sum and prod accumulate in int64.
_ACCUMULATED_IN_INT64 = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32)


def accumulated(g: GraphBuilder, value: ir.Value, dtype: Any) -> ir.Value:
    """The tensor torch's sum/prod add up: in `dtype` when given, else integers and bool in int64."""
    if dtype is not None:
        return cast(g, value, dtype)
    return g.cast(value, torch.int64) if g.dtype(value) in _ACCUMULATED_IN_INT64 else value


def expand_sizes(g: GraphBuilder, sizes: Sequence[Any]) -> list[Any]:
    """torch.expand sizes for ONNX Expand: -1 (keep this dim) becomes 1, which broadcasting keeps."""
    return [1 if isinstance(s, int) and s == -1 else s for s in sizes]


def unit_dims(g: GraphBuilder, value: ir.Value, dims: Sequence[int] | None = None) -> list[int]:
    """Sorted axes among `dims` (every axis when None) whose static size is 1: what torch squeezes."""
    r = g.rank(value)
    if r == 0:
        return []
    sizes = g.shape(value)
    axes = range(r) if dims is None else {d + r if d < 0 else d for d in dims}
    return sorted(a for a in axes if sizes[a] == 1)


def reshape_to(g: GraphBuilder, value: ir.Value, sizes: Any) -> ir.Value:
    """torch's view/reshape to `sizes` (ints, one may be -1, and sizes known only at run time, as
    0-d values; or a 1-D int64 shape value). A size that is 0 is 0, as in torch: Reshape's
    `allowzero` from opset 14. Before 14 a static 0 gives zeros of the shape, and a size known
    only at run time is taken as it is (where it is 0 at run time, ONNX copies the input's size
    at that position, which is 0 too for an axis that keeps its place, such as a batch axis)."""
    if isinstance(sizes, ir.Value):
        return g.op("Reshape", value, sizes, allowzero=1 if g.opset >= 14 else None)
    sizes = list(sizes)
    if not any(isinstance(s, ir.Value) for s in sizes):
        if 0 not in sizes:
            return g.op("Reshape", value, ints(g, sizes))
        if g.opset >= 14:
            return g.op("Reshape", value, ints(g, sizes), allowzero=1)
        return zeros_of_shape(g, sizes, value)
    if any(isinstance(s, int) and s == -1 for s in sizes):
        # allowzero forbids -1 beside a 0: the inferred size is the element count over the others
        known = [s for s in sizes if not (isinstance(s, int) and s == -1)]
        rest = g.op("ReduceProd", ints(g, known), keepdims=0) if known else g.constant(1, torch.int64)
        count = g.op("ReduceProd", g.op("Shape", value), keepdims=0)
        one = g.constant(1, torch.int64)
        inferred = g.op("Div", count, g.op("Where", g.op("Less", rest, one), one, rest))  # no int Max before 12
        sizes = [inferred if isinstance(s, int) and s == -1 else s for s in sizes]
    return g.op("Reshape", value, ints(g, sizes), allowzero=1 if g.opset >= 14 else None)


def squeezed(g: GraphBuilder, value: ir.Value, dims: Sequence[int] | None = None) -> ir.Value:
    """torch.squeeze: the axes among `dims` (every axis when None) whose size is 1. A size known
    only at run time is checked at run time, as torch does: the result's rank then depends on
    the input's sizes (Compress of the shape, then Reshape)."""
    r = g.rank(value)
    if r == 0:
        return value
    sizes = g.shape(value)
    axes = sorted(set(range(r) if dims is None else [d + r if d < 0 else d for d in dims]))
    if all(isinstance(sizes[a], int) for a in axes):
        ones = [a for a in axes if sizes[a] == 1]
        if not ones:
            return value
        if g.opset >= 13:
            return g.op("Squeeze", value, ints(g, ones))
        return g.op("Squeeze", value, axes=ones)
    shape = g.op("Shape", value)
    candidate = g.constant([a in axes for a in range(r)], torch.bool)
    keep = g.op("Or", g.op("Not", candidate), g.op("Not", g.op("Equal", shape, g.constant(1, torch.int64))))
    return reshape_to(g, value, g.op("Compress", shape, keep, axis=0))


def swapped_axes(g: GraphBuilder, value: ir.Value, dim0: int, dim1: int) -> list[int]:
    """The Transpose perm that swaps two (possibly negative) dims of `value`."""
    perm = list(range(g.rank(value)))
    a, b = norm_dim(g, dim0, value), norm_dim(g, dim1, value)
    perm[a], perm[b] = perm[b], perm[a]
    return perm


def promoted_list(g: GraphBuilder, tensors: Sequence[ir.Value]) -> list[ir.Value]:
    """A tensor list cast to torch's common dtype (as torch.cat/stack promote their inputs)."""
    return g.promote(list(tensors), "DEFAULT")


def is_bool(g: GraphBuilder, value: ir.Value) -> bool:
    """True for a bool tensor (ONNX arithmetic and comparison ops have no bool kernels)."""
    return g.dtype(value) == torch.bool


def zeros_of_shape(g: GraphBuilder, sizes: Sequence[Any], like: ir.Value) -> ir.Value:
    """Zeros of the given sizes in `like`'s dtype (ConstantOfShape is float32, then Cast)."""
    out = g.op("ConstantOfShape", ints(g, sizes))
    out.dtype = ir.DataType.FLOAT  # g.op would guess the dtype of the shape input
    return g.cast(out, g.known_dtype(like))


def floor_div_exact(g: GraphBuilder, a: ir.Value, b: ir.Value) -> ir.Value:
    """floor(a / b) of float tensors as torch computes it, without ONNX Mod (opset 9).

    In float64, floor(fl(a / b)) can be one too large when the quotient rounds up onto an
    integer q; the sign of the exact residual a - b * q (Veltkamp-split product, exact for
    |q| < 2**26) tells, and q is lowered by one.
    """
    x, y = g.cast(a, torch.float64), g.cast(b, torch.float64)
    q = g.op("Floor", g.op("Div", x, y))
    c = g.op("Mul", y, g.constant(134217729.0, torch.float64))  # 2**27 + 1
    hi = g.op("Sub", c, g.op("Sub", c, y))
    residual = g.op("Sub", g.op("Sub", x, g.op("Mul", hi, q)), g.op("Mul", g.op("Sub", y, hi), q))
    wrong = g.op("Less", g.op("Mul", residual, y), g.constant(0.0, torch.float64))
    return g.cast(g.op("Sub", q, g.cast(wrong, torch.float64)), g.known_dtype(a))


# c10::ScalarType numbers, as schema defaults give them (randint's `dtype=4` is int64).
_SCALAR_TYPE_NUMBERS = {0: torch.uint8, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.int64,
                        5: torch.float16, 6: torch.float32, 7: torch.float64, 11: torch.bool, 15: torch.bfloat16}


def factory_dtype(g: GraphBuilder, dtype: Any, *like: Any) -> torch.dtype:
    """The dtype a factory op (zeros, full, arange, *_like, new_*) produces, as torch infers it.

    `dtype` when given (a torch dtype, a name or a ScalarType number); else the dtype torch
    recorded for the result (`g.output_dtype`, set while translating a model's node: the default
    dtype may have been another while the model ran); else, for one tensor in `like`, its dtype;
    else from Python scalars: any float -> the default dtype, bool -> bool, ints (or symbolic
    ints) -> int64; with nothing to go by, the default dtype.
    """
    if dtype is not None:
        return _SCALAR_TYPE_NUMBERS[dtype] if isinstance(dtype, int) else parse_dtype(dtype)
    if g.output_dtype is not None:
        return g.output_dtype
    if len(like) == 1 and isinstance(like[0], ir.Value):
        return g.known_dtype(like[0])
    kinds = [g.dtype(v) if isinstance(v, ir.Value) else type(v) for v in like]
    if not kinds or any(k is float or (isinstance(k, torch.dtype) and k.is_floating_point) for k in kinds):
        return torch.get_default_dtype()
    if all(k is bool or k == torch.bool for k in kinds):
        return torch.bool
    return torch.int64


def filled(g: GraphBuilder, size: Any, value: Any, dtype: Any) -> ir.Value:
    """A tensor of `size` (a list of ints or symbolic sizes, or a 1-D int64 shape value) holding
    `value` in `dtype`, converted as torch does (2.7 -> 2 for ints, nonzero -> True for bool).

    A Python value becomes ConstantOfShape's `value`; a tensor or symbolic value is cast and
    expanded. ConstantOfShape takes bfloat16 only from opset 20: before, float32 and a Cast.
    """
    dtype = parse_dtype(dtype)
    shape = size if isinstance(size, ir.Value) else ints(g, size)
    if isinstance(value, ir.Value):
        return g.op("Expand", g.cast(value, dtype), shape)
    build = torch.float32 if dtype == torch.bfloat16 and g.opset < 20 else dtype
    out = g.op("ConstantOfShape", shape, value=torch.full([1], value, dtype=build))
    return g.cast(out, dtype)


def sample_dtype(g: GraphBuilder, like: Any) -> torch.dtype:
    """The dtype to draw random samples in for results like `like` (a tensor or a dtype): ONNX
    Runtime's random ops produce float32 and float64 only, so float64 stays, the rest is float32."""
    wanted = g.known_dtype(like) if isinstance(like, ir.Value) else parse_dtype(like)
    return torch.float64 if wanted == torch.float64 else torch.float32


def random_uniform(g: GraphBuilder, shape_of: Any, dtype: Any, low: float = 0.0, high: float = 1.0) -> ir.Value:
    """Unseeded uniform samples in [low, high) of `dtype`, shaped like a tensor or a size list.

    Up to opset 21: RandomUniform (static sizes) or RandomUniformLike. ONNX Runtime has no
    kernels for their opset-22 versions, so from 22 the samples come from Dropout's training
    mask (a fair random bit per element): 24 bits (float32) or 53 (float64), weighted by 2**-k,
    give a uniform sample on the grid torch's own rand uses.
    """
    dtype = parse_dtype(dtype)
    sample = sample_dtype(g, dtype)
    static = not isinstance(shape_of, ir.Value) and all(not isinstance(s, ir.Value) for s in shape_of)
    if g.opset < 22:
        attributes: dict[str, Any] = {"dtype": onnx_dtype(g, sample), "low": float(low), "high": float(high)}
        if static and len(shape_of) > 0:
            out = g.op("RandomUniform", shape=[int(s) for s in shape_of], **attributes)
        else:  # a tensor, symbolic sizes, or 0-d (an empty `shape` attribute reads as missing)
            like = shape_of if isinstance(shape_of, ir.Value) else filled(g, shape_of, 0, sample)
            out = g.op("RandomUniformLike", like, **attributes)
        return g.cast(out, dtype)
    bits = 24 if sample == torch.float32 else 53
    shape = g.op("Shape", shape_of) if isinstance(shape_of, ir.Value) else ints(g, shape_of)
    ones = filled(g, g.op("Concat", shape, ints(g, [bits]), axis=0), 1, sample)  # [..., bits]
    half, training = g.constant(0.5, torch.float32), g.constant(True, torch.bool)
    mask = g.op("Dropout", ones, half, training, _outputs=2)[1]
    mask.dtype = ir.DataType.BOOL
    weights = g.constant(torch.tensor([[2.0 ** -k] for k in range(1, bits + 1)], dtype=sample))
    # exact sums (distinct powers of two); weights [bits, 1] then Reshape, as ONNX Runtime's
    # MatMul refuses an empty left operand with a 1-D right one
    out = g.op("Reshape", g.op("MatMul", g.cast(mask, sample), weights), shape, allowzero=1)
    if (low, high) != (0.0, 1.0):
        out = g.op("Add", g.op("Mul", out, g.constant(float(high) - float(low), sample)), g.constant(float(low), sample))
    return g.cast(out, dtype)


def number_dtype(g: GraphBuilder, value: ir.Value) -> torch.dtype:
    """The dtype of the 0-d value standing for the Python number `value.item()` gives:
    int64 for integers, float64 for floats, bool for bool (symbolic sizes use the same)."""
    dtype = g.known_dtype(value)
    if dtype == torch.bool:
        return torch.bool
    return torch.float64 if dtype is not None and (dtype.is_floating_point or dtype.is_complex) else torch.int64


def slice_axes(g: GraphBuilder, value: ir.Value, starts: Sequence[Any], ends: Sequence[Any], axes: Sequence[int]) -> ir.Value:
    """`value[start:end]` along each of `axes` (step 1): Slice takes attributes before opset 10,
    inputs from 10. Ends past the size clamp, as in Python (INT64_MAX: to the end)."""
    if g.opset >= 10:
        return g.op("Slice", value, ints(g, starts), ints(g, ends), ints(g, axes))
    return g.op("Slice", value, starts=[int(s) for s in starts], ends=[int(e) for e in ends], axes=list(axes))


def shape_slice(g: GraphBuilder, x: ir.Value, start: int, end: int | None = None) -> list[int] | ir.Value:
    """x.shape[start:end] (negative bounds count from the end): ints when static, else a 1-D int64 value."""
    r = g.rank(x)
    lo = start + r if start < 0 else start
    hi = r if end is None else end + r if end < 0 else end
    sizes = g.shape(x)[lo:hi]
    if all(isinstance(d, int) for d in sizes):
        return [int(d) for d in sizes]
    return slice_axes(g, g.op("Shape", x), [lo], [hi], [0])


def as_shape(g: GraphBuilder, shape: Any) -> ir.Value:
    """A shape for Reshape or Expand: a list of ints (or symbolic sizes) as an int64 tensor; a 1-D
    int64 value as it is."""
    return shape if isinstance(shape, ir.Value) else ints(g, shape)


def dtype_in(g: GraphBuilder, value: ir.Value, *names: str) -> bool:
    """True when value's dtype is one of these ('float32', 'float16', ...)."""
    return g.dtype(value) in {parse_dtype(n) for n in names}


def filled_tail(g: GraphBuilder, x: ir.Value, start: int, fill: float) -> ir.Value:
    """A tensor of x.shape[start:] holding `fill` in x's dtype (the scale or bias torch omits): a
    constant when those sizes are static, else `fill` expanded to them."""
    shape = shape_slice(g, x, start)
    if isinstance(shape, list):
        return g.constant(torch.full(shape, fill, dtype=g.known_dtype(x)))
    return g.op("Expand", scalar(g, fill, g.known_dtype(x)), shape)


def channel_fill(g: GraphBuilder, x: ir.Value, fill: float) -> ir.Value:
    """A (C,) tensor of `fill` in x's dtype for an (N, C, ...) input."""
    channels = g.shape(x)[1]
    if isinstance(channels, int):
        return g.constant(torch.full([channels], fill, dtype=g.known_dtype(x)))
    return g.op("Expand", scalar(g, fill, g.known_dtype(x)), slice_axes(g, g.op("Shape", x), [1], [2], [0]))


def per_channel(g: GraphBuilder, value: ir.Value | None, fill: float, x: ir.Value, reference: ir.Value | None) -> ir.Value:
    """`value`, or a (C,) tensor of `fill` for an (N, C, ...) input when torch passed None (sized
    like `reference` when given, a (C,) tensor such as the running mean)."""
    if value is not None:
        return value
    channels = g.shape(x)[1]
    if isinstance(channels, int):
        return g.constant([fill] * channels, g.dtype(x))
    if reference is not None:
        size = g.op("Shape", reference)
    else:
        size = g.op("Gather", g.op("Shape", x), ints(g, [1]), axis=0)
    return g.op("Expand", scalar(g, fill, g.known_dtype(x)), size)


def unbiased_factor(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """n / (n - 1) for the n values per channel of an (N, C, ...) input, in its dtype (inf for
    n = 1, as torch's division gives): a constant when the sizes are static."""
    dims = g.shape(x)
    dtype = g.known_dtype(x)
    sizes = [d for d in dims if isinstance(d, int)]
    if len(sizes) == len(dims):
        n = math.prod(sizes) // max(sizes[1], 1)
        return scalar(g, n / (n - 1) if n > 1 else math.inf, dtype)
    count = g.cast(g.op("Div", g.op("Size", x), g.op("Gather", g.op("Shape", x), scalar(g, 1, "int64"), axis=0)), dtype)
    return g.op("Div", count, g.op("Sub", count, scalar(g, 1.0, dtype)))


def empty(g: GraphBuilder, like: ir.Value) -> ir.Value:
    """A tensor of no elements in like's dtype (the statistics torch returns when it computes none)."""
    return g.constant(torch.empty(0, dtype=g.known_dtype(like)))


def default_eps(g: GraphBuilder, x: ir.Value, eps: Any) -> float:
    """`eps`, or for None the epsilon of the dtype torch computes x in (float32 for half floats)."""
    if eps is not None:
        return float(eps)
    dtype = g.known_dtype(x)
    return float(torch.finfo(torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype).eps)


def float_statistic(g: GraphBuilder, value: ir.Value, like: ir.Value) -> ir.Value:
    """A Mean/InvStdDev output of ONNX LayerNormalization (float, its stash_type 1) in like's dtype."""
    value.dtype = ir.DataType.FLOAT  # g.op takes the dtype of the first input for every output
    return g.cast(value, g.known_dtype(like))


def finite_max(g: GraphBuilder, value: ir.Value) -> float:
    """The largest finite number of `value`'s floating-point dtype (what torch.nan_to_num puts for +inf)."""
    return float(torch.finfo(g.known_dtype(value)).max)


def functional(g: GraphBuilder, overload: str, **arguments: Any) -> Any:
    """The mapping of another overload (`'add.Tensor'`) on these arguments, at this opset: what an
    in-place op's spec (`add_.Tensor`) computes before its result is cast back to the written dtype."""
    name = overload if "::" in overload else f"aten::{overload}"
    name = name if "." in name.split("::", 1)[1] else f"{name}.default"
    function = g.registry.lookup(name, g.opset)
    if function is None:
        raise ValueError(f"{name} has no mapping at opset {g.opset}")
    if getattr(function, "declaration", None) is not None:
        return function(g, **arguments)
    # a user's function from custom_translation_table: what it emits is not this spec's to declare
    saved, g.declared = g.declared, None
    try:
        return function(g, **arguments)
    finally:
        g.declared = saved


def number_tensor(g: GraphBuilder, value: Any) -> ir.Value:
    """A 0-d tensor holding a Python number (or a symbolic one), in the dtype torch gives it:
    int64 for ints, float64 for floats, bool for bools (TorchScript's prim::NumToTensor)."""
    if isinstance(value, ir.Value):
        return g.op("Identity", value)
    dtype = torch.bool if isinstance(value, bool) else torch.float64 if isinstance(value, float) else torch.int64
    return g.constant(value, dtype)


def is_sequence(g: GraphBuilder, value: Any) -> bool:
    """A tensor list that only exists at run time: an ONNX sequence (a list grown in a scripted loop)."""
    return isinstance(value, ir.Value) and isinstance(value.type, ir.SequenceType)


# -- nn, padding, bitwise, activation, attention, math, torchscript (issue 11) ----------------------
def powers_of_two(g: GraphBuilder, count: int) -> list[int]:
    """2**k for k < count as int64 values: 2**63 wraps to -2**63, as torch's 1 << 63 does."""
    return [(1 << k) - (1 << 64 if k == 63 else 0) for k in range(count)]


def per_dim(g: GraphBuilder, values: Any, n: int) -> list[int]:
    """torch's `int[n]` arguments (kernel_size, stride, ...) as n ints: one value stands for all n."""
    if isinstance(values, int):
        return [values] * n
    values = [int(v) for v in values]
    return values * n if len(values) == 1 else values


def has_static_shape(g: GraphBuilder, value: ir.Value) -> bool:
    """True when every size of `value` is a known int."""
    return all(isinstance(d, int) for d in g.shape(value))


def have_static_shapes(g: GraphBuilder, values: Sequence[ir.Value]) -> bool:
    """True when every size of every tensor of the list is a known int (histogramdd's edge tensors)."""
    return all(has_static_shape(g, v) for v in values)


def shape_concat(g: GraphBuilder, lead: Any, tail: Sequence[int]) -> ir.Value:
    """A 1-D int64 shape: `lead` (ints, or a 1-D int64 value as shape_slice gives) then `tail`;
    one constant when `lead` is static."""
    if isinstance(lead, ir.Value):
        return g.op("Concat", lead, ints(g, tail), axis=0)
    return ints(g, [*lead, *tail])


def clamped_difference(g: GraphBuilder, a: Sequence[int], b: Sequence[int]) -> list[int]:
    """max(a_i - b_i, 0) for each i."""
    return [max(int(x) - int(y), 0) for x, y in zip(a, b, strict=True)]


def all_less(g: GraphBuilder, a: Sequence[int], b: Sequence[int]) -> bool:
    """True when a_i < b_i for every i."""
    return all(x < y for x, y in zip(a, b, strict=True))


def conv_transpose_empty_sizes(g: GraphBuilder, input: ir.Value, weight: ir.Value, strides: Sequence[int],
                               pads: Sequence[int], dilations: Sequence[int], extra: Sequence[int]) -> list[int] | None:
    """The spatial sizes (each at least 0) of a transposed convolution whose padding crops its
    output to nothing (torch returns an empty tensor, ONNX Runtime refuses), when the sizes are
    static; None when the output is not empty or its sizes are known only at run time."""
    n = len(strides)
    sizes, kernel = g.shape(input)[-n:], g.shape(weight)[2:]
    if not all(isinstance(d, int) for d in [*sizes, *kernel]):
        return None
    outs = [(size - 1) * s - 2 * p + d * (k - 1) + e + 1
            for size, s, p, d, k, e in zip(sizes, strides, pads, dilations, kernel, extra, strict=True)]
    return [max(o, 0) for o in outs] if any(o <= 0 for o in outs) else None


def is_complex(g: GraphBuilder, value: Any) -> bool:
    """True for a complex tensor, stored as (real, imag) pairs on a trailing axis."""
    return marked_complex(value)


# A Python number in a list is the 0-d value the exporter uses for numbers: int64, float64 or bool.
_NUMBER_DTYPES = {bool: torch.bool, int: torch.int64, float: torch.float64}


def as_sequence(g: GraphBuilder, items: Any) -> ir.Value:
    """A TorchScript list as an ONNX sequence: one already is; a Python list of values and numbers
    becomes SequenceConstruct of them (numbers as 0-d constants)."""
    if isinstance(items, ir.Value):
        return items
    values = [as_value(g, v) for v in items]
    out = g.op("SequenceConstruct", *values)
    out.type = ir.SequenceType(ir.TensorType(from_torch_dtype(g.known_dtype(values[0]))))
    return out


def sequence_like(g: GraphBuilder, value: ir.Value, sequence: ir.Value) -> ir.Value:
    """`value`, a sequence made from `sequence` (SequenceInsert, ...), typed as it is."""
    value.type = sequence.type
    return value


def element_of(g: GraphBuilder, value: ir.Value, sequence: ir.Value) -> ir.Value:
    """`value`, an element taken from `sequence` (SequenceAt), with the sequence's element dtype."""
    element = sequence.type.elem_type if isinstance(sequence.type, ir.SequenceType) else None
    # onnx_ir's setter takes None (a tensor of unknown dtype); its annotation leaves that out
    value.dtype = element.dtype if isinstance(element, ir.TensorType) else None  # type: ignore[assignment]
    return value


def as_value(g: GraphBuilder, item: Any) -> ir.Value:
    """A list element (TorchScript's generic `t`) as a value: a number becomes a 0-d constant."""
    return item if isinstance(item, ir.Value) else g.constant(item, _NUMBER_DTYPES.get(type(item)))
# -- special functions (opspecs/special.yaml): evaluation schemes over static coefficient lists ----
# Each unrolls a loop over a list or a bounded count known at export time; the math stays in the spec.

def horner(g: GraphBuilder, x: ir.Value, coefficients: Sequence[float]) -> ir.Value:
    """c[0] x^n + c[1] x^(n-1) + ... + c[n] by Horner's rule in x's dtype (Cephes' polevl order)."""
    result = g.constant(float(coefficients[0]), g.dtype(x))
    for c in coefficients[1:]:
        result = g.op("Add", g.op("Mul", result, x), g.constant(float(c), g.dtype(x)))
    return result


def chebyshev_series(g: GraphBuilder, x: ir.Value, coefficients: Sequence[float]) -> ir.Value:
    """sum' c[i] T_i(x / 2) by Clenshaw's recurrence (Cephes' chbevl: the constant term last,
    x already mapped onto [-2, 2])."""
    b0 = g.constant(float(coefficients[0]), g.dtype(x))
    b1 = g.constant(0.0, g.dtype(x))
    b2 = b1
    for c in coefficients[1:]:
        b2, b1 = b1, b0
        b0 = g.op("Add", g.op("Sub", g.op("Mul", x, b1), b2), g.constant(float(c), g.dtype(x)))
    return g.op("Mul", g.op("Sub", b0, b2), g.constant(0.5, g.dtype(x)))


def shifted_sum(g: GraphBuilder, x: ir.Value, count: Any, most: int, power: Any = 1) -> ir.Value:
    """sum_{i < count} (x + i)^-power, the terms a recurrence shifts out (digamma, trigamma, zeta).
    `count` is an int or a tensor of counts (each at most `most`); `power` 1, 2 or a tensor."""
    dtype = g.known_dtype(x)
    total = g.constant(0.0, dtype)
    for i in range(most):
        shifted = g.op("Add", x, g.constant(float(i), dtype)) if i else x
        if power == 1:
            term = g.op("Reciprocal", shifted)
        elif power == 2:
            term = g.op("Reciprocal", g.op("Mul", shifted, shifted))
        else:
            term = g.op("Pow", shifted, g.op("Neg", power))
        if not isinstance(count, int):
            term = g.op("Where", g.op("Less", g.constant(float(i), dtype), count), term, g.constant(0.0, dtype))
        elif i >= count:
            break
        total = g.op("Add", total, term)
    return total


def rising_factorial(g: GraphBuilder, x: ir.Value, count: ir.Value, most: int) -> ir.Value:
    """x (x + 1) ... (x + count - 1) for a tensor of counts, each at most `most` (1 for count 0)."""
    dtype = g.known_dtype(x)
    product = g.constant(1.0, dtype)
    for i in range(most):
        factor = g.op("Add", x, g.constant(float(i), dtype)) if i else x
        factor = g.op("Where", g.op("Less", g.constant(float(i), dtype), count), factor, g.constant(1.0, dtype))
        product = g.op("Mul", product, factor)
    return product


# (2k)! / B_2k: the Euler-Maclaurin coefficients of torch's (Cephes') zeta
_ZETA_A = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
           -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
           1.8152105401943546773e17, -7.1661652561756670113e18)


def hurwitz_zeta(g: GraphBuilder, x: ir.Value, q: ir.Value) -> ir.Value:
    """zeta(x, q) = sum_k (q + k)^-x as torch computes it (Cephes): the direct sum (an ONNX Loop,
    special_ops.zeta_direct_sum), then the Euler-Maclaurin tail with 12 Bernoulli terms, each
    element stopping where a term falls below eps times the sum; float64 in and out.
    Special values: inf for x == 1 and for q a non-positive integer, NaN for x < 1 and for a
    non-positive q with a non-integer x."""
    def f(value: float) -> ir.Value:
        return g.constant(float(value), torch.float64)

    def is_integer(v: ir.Value) -> ir.Value:
        return g.op("Not", g.op("Or", g.op("Less", g.op("Floor", v), v), g.op("IsNaN", v)))

    nonpositive = g.op("Not", g.op("Or", g.op("Greater", q, f(0.0)), g.op("IsNaN", q)))  # q <= 0
    q_is_integer = is_integer(q)
    x_is_integer = is_integer(x)
    long_sum = g.op("And", g.op("And", nonpositive, g.op("Not", q_is_integer)),
                    g.op("And", x_is_integer, g.op("Greater", x, f(1.0))))
    q_far = g.op("Where", long_sum, q, f(1.0))
    a, s, b, done = special_ops.zeta_direct_sum(g, x, q, q_far)
    w = a
    s = g.op("Sub", g.op("Add", s, g.op("Div", g.op("Mul", b, w), g.op("Sub", x, f(1.0)))), g.op("Mul", b, f(0.5)))
    factor, k = f(1.0), 0.0
    for coefficient in _ZETA_A:
        factor = g.op("Mul", factor, g.op("Add", x, f(k)))
        b = g.op("Div", b, w)
        t = g.op("Div", g.op("Mul", factor, b), f(coefficient))
        added = g.op("Add", s, t)
        s = g.op("Where", done, s, added)
        done = g.op("Or", done, g.op("Less", g.op("Abs", g.op("Div", t, added)), f(special_ops.ZETA_EPS)))
        factor = g.op("Mul", factor, g.op("Add", x, f(k + 1.0)))
        b = g.op("Div", b, w)
        k += 2.0
    # torch's special cases, the last written first: NaN from the sums, then q <= 0, x < 1, x == 1
    inf, nan = f(float("inf")), f(float("nan"))
    s = g.op("Where", g.op("Or", g.op("IsNaN", x), g.op("IsNaN", q)), nan, s)
    s = g.op("Where", g.op("And", nonpositive, g.op("Not", x_is_integer)), nan, s)
    s = g.op("Where", g.op("And", nonpositive, q_is_integer), inf, s)
    s = g.op("Where", g.op("Less", x, f(1.0)), nan, s)
    return g.op("Where", g.op("Not", g.op("Or", g.op("Or", g.op("Less", x, f(1.0)), g.op("Greater", x, f(1.0))),
                                              g.op("IsNaN", x))), inf, s)


def arange_constant(g: GraphBuilder, start: float, end: float, step: float, dtype: Any) -> ir.Value:
    """A 1-D constant holding torch.arange(start, end, step) in `dtype`."""
    return g.constant(torch.arange(start, end, step, dtype=torch.float64).to(parse_dtype(dtype)))


def polygamma_factor(g: GraphBuilder, n: int) -> float:
    """(-1)^(n+1) n! as torch's polygamma computes it for n >= 2: exp(lgamma(n + 1)) in double."""
    return (1.0 if n % 2 else -1.0) * math.exp(math.lgamma(n + 1))


def airy_series(g: GraphBuilder, x: ir.Value, terms: int) -> tuple[ir.Value, ir.Value]:
    """The Maclaurin series f, g of Ai = c1 f - c2 g (f = sum x^3k / ((2)(3)(5)(6)...), g likewise
    from x), in torch's operation order, each element stopping once |term / f| <= float64 eps;
    `terms` bounds the unrolled loop (|x| < 2.09 needs 13)."""
    dtype = g.known_dtype(x)

    def f(value: float) -> ir.Value:
        return g.constant(float(value), dtype)

    z = g.op("Mul", g.op("Mul", x, x), x)
    m, n, total_f, total_g = f(1.0), x, f(1.0), x
    going = g.op("Not", g.op("IsNaN", x))
    k = 1.0
    for _ in range(terms):
        m_next = g.op("Div", g.op("Div", g.op("Mul", m, z), f(k + 1.0)), f(k + 2.0))
        n_next = g.op("Div", g.op("Div", g.op("Mul", n, z), f(k + 2.0)), f(k + 3.0))
        f_next = g.op("Add", total_f, m_next)
        g_next = g.op("Add", total_g, n_next)
        m, n = g.op("Where", going, m_next, m), g.op("Where", going, n_next, n)
        total_f, total_g = g.op("Where", going, f_next, total_f), g.op("Where", going, g_next, total_g)
        going = g.op("And", going, g.op("Greater", g.op("Abs", g.op("Div", m_next, f_next)), f(2.220446049250313e-16)))
        k += 3.0
    return total_f, total_g


def incomplete_gamma_sum(g: GraphBuilder, kind: str, a: ir.Value, x: ir.Value, active: ir.Value) -> ir.Value:
    """The iterated sums of torch's incomplete gamma functions, ONNX Loops run until every `active`
    element converged (exporter/emit/lib/special_ops.py): the lower series ('series'), the upper series
    ('upper_series') or the upper continued fraction ('fraction'); x is eta for 'asymptotic'."""
    if kind == "asymptotic":
        return special_ops.igam_asymptotic_sum(g, a, x)
    loops = {"series": special_ops.igam_series, "upper_series": special_ops.igamc_series,
             "fraction": special_ops.igamc_continued_fraction}
    return loops[kind](g, a, x, active)


# -- statistics and sorting (opspecs/statistics.yaml, opspecs/sorting.yaml) ---------------------------


def static_count(g: GraphBuilder, x: ir.Value, axes: Sequence[int] | None) -> int | None:
    """The element count of each slice of x reduced over `axes` (None: every axis), when static: 0 as
    soon as one reduced size is 0, None when a size (or x's shape) is known only at run time."""
    if x.shape is None:
        return None
    sizes = g.shape(x)
    picked = [sizes[a] for a in (range(len(sizes)) if axes is None else axes)]
    known = [s for s in picked if isinstance(s, int)]
    return math.prod(known) if len(known) == len(picked) or 0 in known else None


def statistic_dtype(g: GraphBuilder, *values: Any) -> torch.dtype:
    """The dtype of a statistic of tensors (cov), as torch gives it: their promoted dtype (None
    skipped), or for integers the float dtype torch recorded (the default one), as it divides by a count."""
    dtypes = [g.known_dtype(v) for v in values if v is not None]
    promoted = functools.reduce(torch.promote_types, dtypes)
    if promoted.is_floating_point:
        return promoted
    return g.output_dtype if g.output_dtype is not None else torch.get_default_dtype()


def combination_indices(g: GraphBuilder, n: int, r: int, with_replacement: bool) -> ir.Value:
    """torch.combinations' [count, r] int64 constant of positions into a vector of static length n, in
    torch's (lexicographic) order: itertools.combinations, or combinations_with_replacement."""
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = list(pick(range(n), r))
    return g.constant(torch.tensor(rows, dtype=torch.int64) if rows else torch.empty(0, r, dtype=torch.int64))


def row_pairs(g: GraphBuilder, n: int) -> tuple[list[int], list[int]]:
    """The row pairs (i, j), i < j, of n rows in row-major order, as two index lists (pdist's)."""
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    return [i for i, _ in pairs], [j for _, j in pairs]


def histogram_layout(g: GraphBuilder, bins: Sequence[int]) -> dict[str, list[Any]]:
    """Index tables of a histogramdd with these bin counts per dimension, over its bin edges
    concatenated (bins[d] + 1 per dimension) and its bins q (bins[d] per dimension, in order):
    bin_dim / lower / upper / closed per bin (its coordinate, its edges' positions, whether it is
    its dimension's last, closed bin); flat: each bin's stride in the flattened histogram times its
    index; corners: for each flattened bin, its bin q in every dimension; edges: the edge counts
    per dimension."""
    starts = list(itertools.accumulate([b + 1 for b in bins], initial=0))
    bin_starts = list(itertools.accumulate(bins, initial=0))
    strides = [math.prod(bins[d + 1:]) for d in range(len(bins))]
    layout: dict[str, list[Any]] = {"bin_dim": [], "lower": [], "upper": [], "closed": [], "flat": []}
    for d, b in enumerate(bins):
        layout["bin_dim"] += [d] * b
        layout["lower"] += [starts[d] + i for i in range(b)]
        layout["upper"] += [starts[d] + i + 1 for i in range(b)]
        layout["closed"] += [i == b - 1 for i in range(b)]
        layout["flat"] += [float(i * strides[d]) for i in range(b)]
    layout["corners"] = [[bin_starts[d] + i for d, i in enumerate(at)] for at in itertools.product(*map(range, bins))]
    layout["edges"] = [b + 1 for b in bins]
    return layout


def histogramdd_bounds(g: GraphBuilder, bounds: Sequence[float], lower: bool) -> list[float]:
    """histogramdd's outer edges from its range [lo0, hi0, lo1, hi1, ...] (in double, as torch): the
    lower (or upper) one of each dimension, a one-value range widened by 0.5 each way."""
    pairs = list(zip(map(float, bounds[::2]), map(float, bounds[1::2]), strict=True))
    return [(lo - 0.5 if lo == hi else lo) if lower else (hi + 0.5 if lo == hi else hi) for lo, hi in pairs]


def edge_bins(g: GraphBuilder, edges: Sequence[ir.Value]) -> list[int]:
    """The bin count of each 1-D tensor of bin edges (its static size less one)."""
    sizes = [g.shape(e)[0] for e in edges]
    assert all(isinstance(n, int) for n in sizes), f"histogramdd needs bin-edge tensors of static lengths, got {sizes}"
    return [int(n) - 1 for n in sizes]


def upper_triangle(g: GraphBuilder, x: ir.Value, axis: int) -> ir.Value:
    """A bool constant [n, n, 1, ...] for x's static size n along `axis` (one 1 per later axis):
    mask[i, j] = i <= j, the prefix mask of the scans."""
    n = int(g.shape(x)[axis])
    trailing = g.rank(x) - axis - 1
    return g.constant(torch.ones(n, n, dtype=torch.bool).triu().reshape([n, n] + [1] * trailing))


def positions(g: GraphBuilder, x: ir.Value, axis: int) -> ir.Value:
    """An int64 constant [n, 1, 1, ...] holding 0 .. n-1 for x's static size n along `axis` (one 1
    per later axis): the positions along the reduced axis of the prefix mask."""
    n = int(g.shape(x)[axis])
    trailing = g.rank(x) - axis - 1
    return g.constant(torch.arange(n).reshape([n, 1] + [1] * trailing))


def empty_median(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """torch's median of no elements, 0-d in x's dtype."""
    # torch fills it with NaN converted to x's dtype (for integers, whatever the conversion gives)
    return g.constant(torch.tensor(math.nan).to(g.known_dtype(x)))


def reduce_identity(g: GraphBuilder, x: ir.Value, largest: bool) -> float | int:
    """The value ReduceMax (`largest`) or ReduceMin leaves unchanged in x's dtype: -inf or +inf for
    floats, the smallest or largest integer for integers."""
    dtype = g.known_dtype(x)
    if dtype.is_floating_point:
        return -math.inf if largest else math.inf
    info = torch.iinfo(dtype)
    return info.min if largest else info.max


def cast_all(g: GraphBuilder, tensors: Sequence[ir.Value], dtype: Any) -> list[ir.Value]:
    """Each tensor of a list cast to `dtype` (an op's variadic inputs in one compute dtype)."""
    return [cast(g, t, dtype) for t in tensors]


def einsum_equation(g: GraphBuilder, equation: str) -> str:
    """An einsum equation without spaces (ONNX Einsum's grammar has none)."""
    return str(equation).replace(" ", "")


def einsum_sums_out(g: GraphBuilder, equation: str, count: int) -> bool:
    """Whether torch computes this einsum as a plain sum (one operand, some letter summed out),
    which gives int64 for integer and bool inputs."""
    if count != 1:
        return False
    inputs, arrow, output = einsum_equation(g, equation).partition("->")
    letters = [c for c in inputs if c.isalpha()]
    kept = {c for c in output if c.isalpha()} if arrow else {c for c in letters if letters.count(c) == 1}
    return bool(set(letters) - kept)


# -- indexing, shape, creation and dynamic specs (issue 11 migration) ------------------------------
def tensor(g: GraphBuilder, values: Any, dtype: Any) -> ir.Value:
    """A constant tensor of `values` (a number or a nested list, [] for no elements) in `dtype`."""
    return g.constant(torch.tensor(values, dtype=parse_dtype(dtype)))


def all_known(g: GraphBuilder, *values: Any) -> bool:
    """True when none of the numbers is known only at run time (a 0-d value of the graph)."""
    return not any(isinstance(v, ir.Value) for v in values)


# dtypes ONNX Runtime's Unique has kernels for (1.31); others are computed in int64 or float32
_UNIQUE_DTYPES = (torch.float32, torch.float64, torch.float16, torch.int64, torch.int8)


def unique_dtype(g: GraphBuilder, value: ir.Value) -> torch.dtype:
    """The dtype torch.unique's values are computed in: value's own, or float32 for other floats
    and int64 for other integers and bool (Unique has no kernels for them)."""
    dtype = g.known_dtype(value)
    if dtype in _UNIQUE_DTYPES:
        return dtype
    return torch.float32 if dtype is not None and dtype.is_floating_point else torch.int64


def is_floating(g: GraphBuilder, dtype: Any) -> bool:
    """True for a floating-point dtype (a torch dtype or its name)."""
    return parse_dtype(dtype).is_floating_point


def arange_terms(g: GraphBuilder, start: Any, end: Any, step: Any, dtype: Any) -> tuple[int, torch.dtype, Any, Any]:
    """torch.arange with static bounds: (length, accumulation dtype, start, step). The length is
    the eager op's own (its CPU kernel truncates integer bounds first); values are start + i * step
    in torch's accumulation type: float64 for float32/64, float32 for half floats, else int64."""
    dtype = parse_dtype(dtype)
    length = torch.ops.aten.arange.start_step(start, end, step, dtype=dtype).shape[0]
    if dtype.is_floating_point:
        accumulation = torch.float64 if dtype in (torch.float32, torch.float64) else torch.float32
        return length, accumulation, float(start), float(step)
    return length, torch.int64, int(start), int(step)


def static_size(g: GraphBuilder, value: ir.Value, axis: int) -> int | None:
    """value's size along `axis` when known at export time, else None."""
    size = g.shape(value)[axis]
    return size if isinstance(size, int) else None


def known_size(g: GraphBuilder, value: ir.Value, axis: int) -> int:
    """value's size along `axis` where the spec's constraints require it static (a dynamic size
    here is a missing constraint of that spec)."""
    size = static_size(g, value, axis)
    if size is None:
        raise ValueError(f"size {axis} of '{value.name}' is not known while translating {g.overload}; its spec "
                         "needs a constraint requiring it static")
    return size


def dim_sizes(g: GraphBuilder, value: ir.Value) -> list[Any]:
    """value's sizes: ints where known, else a 0-d int64 value read from its shape at run time."""
    sizes: list[Any] = list(g.shape(value))
    for axis, size in enumerate(sizes):
        if not isinstance(size, int):
            sizes[axis] = g.op("Gather", g.op("Shape", value), g.constant(axis, torch.int64), axis=0)
    return sizes


def product(g: GraphBuilder, values: Sequence[int]) -> int:
    """The product of ints (1 for none)."""
    return math.prod(int(v) for v in values)


def dim_size(g: GraphBuilder, value: ir.Value, axis: int) -> Any:
    """value's size along `axis`: an int, or a 0-d int64 value read from its shape at run time."""
    size = g.shape(value)[axis]
    if isinstance(size, int):
        return size
    return g.op("Gather", g.op("Shape", value), g.constant(axis, torch.int64), axis=0)


def as_vector(g: GraphBuilder, value: ir.Value) -> ir.Value:
    """A 0-d tensor as shape [1] (torch's gather and scatter ops treat it as a 1-element vector);
    any other tensor as it is."""
    if g.rank(value) != 0:
        return value
    out = g.op("Reshape", value, ints(g, [1]))
    out.shape = ir.Shape([1])
    return out


def gather_offsets(g: GraphBuilder, data: ir.Value, index: ir.Value, axis: int) -> tuple[int, ir.Value]:
    """For torch.gather as a Gather at flat positions (static shapes, 0-d as [1]): data's stride
    along `axis`, and the constant sum over the other axes k of position_k * stride_k, shaped
    like index."""
    data_shape = [int(d) for d in g.shape(data)] or [1]
    index_shape = [int(d) for d in g.shape(index)] or [1]
    strides = [math.prod(data_shape[k + 1:]) for k in range(len(data_shape))]
    offsets = torch.zeros(index_shape, dtype=torch.int64)
    for k, size in enumerate(index_shape):
        if k != axis:
            view = [1] * len(index_shape)
            view[k] = size
            offsets = offsets + (torch.arange(size, dtype=torch.int64) * strides[k]).reshape(view)
    return strides[axis], g.constant(offsets)


def triangle_mask(g: GraphBuilder, value: ir.Value, diagonal: int, upper: bool) -> ir.Value:
    """The constant bool mask of torch.triu (upper) or torch.tril over value's last two (static) dims."""
    rows, cols = (int(d) for d in g.shape(value)[-2:])
    ones = torch.ones(rows, cols, dtype=torch.bool)
    return g.constant(torch.triu(ones, diagonal) if upper else torch.tril(ones, diagonal))


def window_positions(g: GraphBuilder, length: int, size: int, step: int) -> ir.Value:
    """Tensor.unfold's constant [windows, size] index matrix along a dim of static `length`."""
    count = (length - size) // step + 1
    return g.constant(torch.arange(count).unsqueeze(1) * step + torch.arange(size).unsqueeze(0))


# -- random and resize (mig-resize) ------------------------------------------------------------------
def is_value(g: GraphBuilder, value: Any) -> bool:
    """True for a value known only at run time (a tensor, a symbolic size or number), False for a
    Python number or list."""
    return isinstance(value, ir.Value)


def static_sizes(g: GraphBuilder, shape_of: Any) -> list[int] | None:
    """A size list of Python ints as ints (for a `shape` attribute); None for a tensor, symbolic
    sizes or no sizes (0-d: an empty `shape` attribute reads as missing)."""
    if isinstance(shape_of, ir.Value) or any(isinstance(s, ir.Value) for s in shape_of) or len(shape_of) == 0:
        return None
    return [int(s) for s in shape_of]


def floats(g: GraphBuilder, values: Sequence[Any]) -> ir.Value:
    """A 1-D float32 tensor (Resize's roi and scales inputs)."""
    return g.constant(torch.tensor([float(v) for v in values], dtype=torch.float32))


def resize_dynamic(g: GraphBuilder, x: ir.Value, output_size: Any) -> bool:
    """A resized axis of x has a size known only at run time, or an output size is a value
    (output_size None: every axis after N and C)."""
    sizes = list(output_size) if output_size is not None else []
    spatial = g.shape(x)[g.rank(x) - len(sizes):] if sizes else g.shape(x)[2:]
    return any(not isinstance(d, int) for d in spatial) or any(isinstance(o, ir.Value) for o in sizes)


def _resized(g: GraphBuilder, x: ir.Value, output_size: Sequence[Any]) -> tuple[list[int], list[int]]:
    n = len(output_size)
    return [int(d) for d in g.shape(x)[g.rank(x) - n:]], [int(o) for o in output_size]


def nearest_plan(g: GraphBuilder, x: ir.Value, exact: bool, output_size: Sequence[Any], scales: Sequence[Any]) -> tuple:
    """resize_ops.nearest_plan for x's static sizes: (kind, factors, source indices per axis)."""
    from aten2onnx.exporter.emit.lib import resize_ops  # imported late: aten2onnx.exporter.emit.lib imports this module

    sizes, outs = _resized(g, x, output_size)
    return resize_ops.nearest_plan(exact, g.known_dtype(x), g.opset, sizes, outs, list(scales))


def interpolation_plan(g: GraphBuilder, x: ir.Value, mode: str, align_corners: bool, output_size: Sequence[Any],
                       scales: Sequence[Any]) -> tuple:
    """resize_ops.interpolation_plan for x's static sizes; the weight matrices as constants in x's dtype."""
    from aten2onnx.exporter.emit.lib import resize_ops

    sizes, outs = _resized(g, x, output_size)
    kind, factors, matrices = resize_ops.interpolation_plan(mode, align_corners, g.known_dtype(x), g.opset, sizes, outs,
                                                            list(scales))
    weights = None if matrices is None else [
        None if m is None else g.constant(torch.from_numpy(m), g.dtype(x)) for m in matrices]
    return kind, factors, weights


def antialias_weights(g: GraphBuilder, x: ir.Value, mode: str, align_corners: bool, output_size: Sequence[Any],
                      scales: Sequence[Any]) -> list[ir.Value | None]:
    """resize_ops.antialias_matrices for x's static sizes, as constants in x's dtype."""
    from aten2onnx.exporter.emit.lib import resize_ops

    sizes, outs = _resized(g, x, output_size)
    matrices = resize_ops.antialias_matrices(mode, align_corners, g.known_dtype(x), sizes, outs, list(scales))
    return [None if m is None else g.constant(torch.from_numpy(m), g.dtype(x)) for m in matrices]


def antialias_unwritten(g: GraphBuilder, x: ir.Value, mode: str, align_corners: bool, output_size: Sequence[Any],
                        scales: Sequence[Any]) -> bool:
    """resize_ops.antialias_window_empty for x's static sizes: torch leaves some output unwritten."""
    from aten2onnx.exporter.emit.lib import resize_ops

    sizes, outs = _resized(g, x, output_size)
    return resize_ops.antialias_window_empty(mode, align_corners, g.known_dtype(x), sizes, outs, list(scales))


def vec_output_sizes(g: GraphBuilder, x: ir.Value, output_size: Any, scale_factors: Any, align_corners: Any) -> list[int]:
    """The output sizes torch computes for this `.vec` overload (`g.overload`) on x's static sizes."""
    from aten2onnx.codegen.shared.torch_schema import resolve_overload
    from aten2onnx.exporter.emit.lib import resize_ops

    n = len(output_size if output_size is not None else scale_factors)
    sizes = [int(d) for d in g.shape(x)[g.rank(x) - n:]]
    return resize_ops.vec_sizes(resolve_overload(g.overload), sizes, output_size, scale_factors, align_corners)
