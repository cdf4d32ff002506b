"""Helpers callable from `emit:` expressions in opspecs (`ints([dim])` -> `h.ints(g, [dim])`).

Each takes the GraphBuilder `g` first. Codegen reads this file's function names to check
specs, so a new helper is available to specs as soon as it is defined here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from exporter.dtypes import from_torch_dtype, parse_dtype

INT64_MAX = 2**63 - 1


def ints(g: Any, values: Sequence[Any]) -> ir.Value:
    """A 1-D int64 tensor from ints; symbolic sizes (values) are concatenated in."""
    values = list(values)
    if all(not isinstance(v, ir.Value) for v in values):
        return g.constant([int(v) for v in values], torch.int64)
    parts = [g.op("Reshape", v if isinstance(v, ir.Value) else g.constant(int(v), torch.int64),
                  g.constant([1], torch.int64)) for v in values]
    return g.op("Concat", *parts, axis=0)


def ints_or_none(g: Any, values: Sequence[Any] | None) -> ir.Value | None:
    return None if values is None else ints(g, values)


def like(g: Any, value: Any, reference: ir.Value) -> ir.Value | None:
    """A 0-d constant with `reference`'s dtype (None stays None: an omitted input)."""
    if value is None:
        return None
    if isinstance(value, ir.Value):
        return g.cast(value, g.dtype(reference))
    return g.constant(value, g.dtype(reference))


def scalar(g: Any, value: Any, dtype: Any) -> ir.Value:
    """A 0-d constant of a given dtype ('int64', torch.float32, ...)."""
    return g.constant(value, parse_dtype(dtype))


def number(g: Any, value: Any, dtype: Any) -> ir.Value:
    """A number argument as a 0-d value of `dtype`: a constant, or a number known only at run time
    (TorchScript's int and float arithmetic, a 0-d value of the graph) cast to it."""
    if isinstance(value, ir.Value):
        return g.cast(value, parse_dtype(dtype))
    return g.constant(value, parse_dtype(dtype))


def cast(g: Any, value: ir.Value, dtype: Any) -> ir.Value:
    return g.cast(value, parse_dtype(dtype))


def cast_like(g: Any, value: ir.Value, reference: ir.Value) -> ir.Value:
    return g.cast(value, g.dtype(reference))


def onnx_dtype(g: Any, dtype: Any) -> int:
    """The ONNX enum for a dtype, for attributes such as Cast's `to`."""
    return int(from_torch_dtype(parse_dtype(dtype)))


def rank(g: Any, value: ir.Value) -> int:
    return g.rank(value)


def shape(g: Any, value: ir.Value) -> list[int | str]:
    return g.shape(value)


def dtype(g: Any, value: ir.Value) -> torch.dtype:
    return g.dtype(value)


def is_float(g: Any, value: ir.Value) -> bool:
    return g.dtype(value).is_floating_point


def norm_dim(g: Any, dim: int, value: ir.Value) -> int:
    """A non-negative axis for `value` (torch allows dim -1 on 0-d tensors: axis 0)."""
    r = max(g.rank(value), 1)
    return dim + r if dim < 0 else dim


def norm_dims(g: Any, dims: Sequence[int] | None, value: ir.Value) -> list[int]:
    """Axes for `value`; None or [] means every axis, as torch's reductions do."""
    if not dims:
        return list(range(g.rank(value)))
    return [norm_dim(g, d, value) for d in dims]


def reduce_axes(g: Any, dims: Any, value: ir.Value) -> list[int] | None:
    """ONNX axes of `value` for torch's `dim` argument of a reduction (an int or a list); None
    (every axis) for None or [], as torch's reductions read them."""
    if dims is None:
        return None
    dims = [dims] if isinstance(dims, int) else list(dims)
    return [norm_dim(g, d, value) for d in dims] or None


# Integer (and bool) dtypes torch's sum and prod accumulate in int64.
_ACCUMULATED_IN_INT64 = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32)


def accumulated(g: Any, value: ir.Value, dtype: Any) -> ir.Value:
    """The tensor torch's sum/prod add up: in `dtype` when given, else integers and bool in int64."""
    if dtype is not None:
        return cast(g, value, dtype)
    return g.cast(value, torch.int64) if g.dtype(value) in _ACCUMULATED_IN_INT64 else value


def expand_sizes(g: Any, sizes: Sequence[Any]) -> list[Any]:
    """torch.expand sizes for ONNX Expand: -1 (keep this dim) becomes 1, which broadcasting keeps."""
    return [1 if isinstance(s, int) and s == -1 else s for s in sizes]


def unit_dims(g: Any, value: ir.Value, dims: Sequence[int] | None = None) -> list[int]:
    """Sorted axes among `dims` (every axis when None) whose static size is 1: what torch squeezes."""
    r = g.rank(value)
    if r == 0:
        return []
    sizes = g.shape(value)
    axes = range(r) if dims is None else {d + r if d < 0 else d for d in dims}
    return sorted(a for a in axes if sizes[a] == 1)


def reshape_to(g: Any, value: ir.Value, sizes: Any) -> ir.Value:
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


def squeezed(g: Any, value: ir.Value, dims: Sequence[int] | None = None) -> ir.Value:
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


def swapped_axes(g: Any, value: ir.Value, dim0: int, dim1: int) -> list[int]:
    """The Transpose perm that swaps two (possibly negative) dims of `value`."""
    perm = list(range(g.rank(value)))
    a, b = norm_dim(g, dim0, value), norm_dim(g, dim1, value)
    perm[a], perm[b] = perm[b], perm[a]
    return perm


def promoted_list(g: Any, tensors: Sequence[ir.Value]) -> list[ir.Value]:
    """A tensor list cast to torch's common dtype (as torch.cat/stack promote their inputs)."""
    return g.promote(list(tensors), "DEFAULT")


def is_bool(g: Any, value: ir.Value) -> bool:
    """True for a bool tensor (ONNX arithmetic and comparison ops have no bool kernels)."""
    return g.dtype(value) == torch.bool


def zeros_of_shape(g: Any, sizes: Sequence[Any], like: ir.Value) -> ir.Value:
    """Zeros of the given sizes in `like`'s dtype (ConstantOfShape is float32, then Cast)."""
    out = g.op("ConstantOfShape", ints(g, sizes))
    out.dtype = ir.DataType.FLOAT  # g.op would guess the dtype of the shape input
    return g.cast(out, g.dtype(like))


def floor_div_exact(g: Any, a: ir.Value, b: ir.Value) -> ir.Value:
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
    return g.cast(g.op("Sub", q, g.cast(wrong, torch.float64)), g.dtype(a))


# c10::ScalarType numbers, as schema defaults give them (randint's `dtype=4` is int64).
_SCALAR_TYPE_NUMBERS = {0: torch.uint8, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.int64,
                        5: torch.float16, 6: torch.float32, 7: torch.float64, 11: torch.bool, 15: torch.bfloat16}


def factory_dtype(g: Any, dtype: Any, *like: Any) -> torch.dtype:
    """The dtype a factory op (zeros, full, arange, *_like, new_*) produces, as torch infers it.

    `dtype` when given (a torch dtype, a name or a ScalarType number); else the dtype torch
    recorded for the result (`g.output_dtype`, set while translating a model's node: the default
    dtype may have been another while the model ran); else, for one tensor in `like`, its dtype;
    else from Python scalars: any float -> the default dtype, bool -> bool, ints (or symbolic
    ints) -> int64; with nothing to go by, the default dtype.
    """
    if dtype is not None:
        return _SCALAR_TYPE_NUMBERS[dtype] if isinstance(dtype, int) else parse_dtype(dtype)
    if getattr(g, "output_dtype", None) is not None:
        return g.output_dtype
    if len(like) == 1 and isinstance(like[0], ir.Value):
        return g.dtype(like[0])
    kinds = [g.dtype(v) if isinstance(v, ir.Value) else type(v) for v in like]
    if not kinds or any(k is float or (isinstance(k, torch.dtype) and k.is_floating_point) for k in kinds):
        return torch.get_default_dtype()
    if all(k is bool or k == torch.bool for k in kinds):
        return torch.bool
    return torch.int64


def filled(g: Any, size: Any, value: Any, dtype: Any) -> ir.Value:
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


def sample_dtype(g: Any, like: Any) -> torch.dtype:
    """The dtype to draw random samples in for results like `like` (a tensor or a dtype): ONNX
    Runtime's random ops produce float32 and float64 only, so float64 stays, the rest is float32."""
    wanted = g.dtype(like) if isinstance(like, ir.Value) else parse_dtype(like)
    return torch.float64 if wanted == torch.float64 else torch.float32


def random_uniform(g: Any, shape_of: Any, dtype: Any, low: float = 0.0, high: float = 1.0) -> ir.Value:
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
        attributes = {"dtype": onnx_dtype(g, sample), "low": float(low), "high": float(high)}
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


def number_dtype(g: Any, value: ir.Value) -> torch.dtype:
    """The dtype of the 0-d value standing for the Python number `value.item()` gives:
    int64 for integers, float64 for floats, bool for bool (symbolic sizes use the same)."""
    dtype = g.dtype(value)
    if dtype == torch.bool:
        return torch.bool
    return torch.float64 if dtype is not None and (dtype.is_floating_point or dtype.is_complex) else torch.int64


def slice_axes(g: Any, value: ir.Value, starts: Sequence[Any], ends: Sequence[Any], axes: Sequence[int]) -> ir.Value:
    """`value[start:end]` along each of `axes` (step 1): Slice takes attributes before opset 10,
    inputs from 10. Ends past the size clamp, as in Python (INT64_MAX: to the end)."""
    if g.opset >= 10:
        return g.op("Slice", value, ints(g, starts), ints(g, ends), ints(g, axes))
    return g.op("Slice", value, starts=[int(s) for s in starts], ends=[int(e) for e in ends], axes=list(axes))


def shape_slice(g: Any, x: ir.Value, start: int, end: int | None = None) -> list[int] | ir.Value:
    """x.shape[start:end] (negative bounds count from the end): ints when static, else a 1-D int64 value."""
    r = g.rank(x)
    lo = start + r if start < 0 else start
    hi = r if end is None else end + r if end < 0 else end
    sizes = g.shape(x)[lo:hi]
    if all(isinstance(d, int) for d in sizes):
        return [int(d) for d in sizes]
    return slice_axes(g, g.op("Shape", x), [lo], [hi], [0])


def as_shape(g: Any, shape: Any) -> ir.Value:
    """A shape for Reshape or Expand: a list of ints (or symbolic sizes) as an int64 tensor; a 1-D
    int64 value as it is."""
    return shape if isinstance(shape, ir.Value) else ints(g, shape)


def dtype_in(g: Any, value: ir.Value, *names: str) -> bool:
    """True when value's dtype is one of these ('float32', 'float16', ...)."""
    return g.dtype(value) in {parse_dtype(n) for n in names}


def filled_tail(g: Any, x: ir.Value, start: int, fill: float) -> ir.Value:
    """A tensor of x.shape[start:] holding `fill` in x's dtype (the scale or bias torch omits): a
    constant when those sizes are static, else `fill` expanded to them."""
    shape = shape_slice(g, x, start)
    if isinstance(shape, list):
        return g.constant(torch.full(shape, fill, dtype=g.dtype(x)))
    return g.op("Expand", scalar(g, fill, g.dtype(x)), shape)


def channel_fill(g: Any, x: ir.Value, fill: float) -> ir.Value:
    """A (C,) tensor of `fill` in x's dtype for an (N, C, ...) input."""
    channels = g.shape(x)[1]
    if isinstance(channels, int):
        return g.constant(torch.full([channels], fill, dtype=g.dtype(x)))
    return g.op("Expand", scalar(g, fill, g.dtype(x)), slice_axes(g, g.op("Shape", x), [1], [2], [0]))


def per_channel(g: Any, value: ir.Value | None, fill: float, x: ir.Value, reference: ir.Value | None) -> ir.Value:
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
    return g.op("Expand", scalar(g, fill, g.dtype(x)), size)


def unbiased_factor(g: Any, x: ir.Value) -> ir.Value:
    """n / (n - 1) for the n values per channel of an (N, C, ...) input, in its dtype (inf for
    n = 1, as torch's division gives): a constant when the sizes are static."""
    dims = g.shape(x)
    dtype = g.dtype(x)
    if all(isinstance(d, int) for d in dims):
        n = math.prod(dims) // max(int(dims[1]), 1)
        return scalar(g, n / (n - 1) if n > 1 else math.inf, dtype)
    n = g.cast(g.op("Div", g.op("Size", x), g.op("Gather", g.op("Shape", x), scalar(g, 1, "int64"), axis=0)), dtype)
    return g.op("Div", n, g.op("Sub", n, scalar(g, 1.0, dtype)))


def empty(g: Any, like: ir.Value) -> ir.Value:
    """A tensor of no elements in like's dtype (the statistics torch returns when it computes none)."""
    return g.constant(torch.empty(0, dtype=g.dtype(like)))


def default_eps(g: Any, x: ir.Value, eps: Any) -> float:
    """`eps`, or for None the epsilon of the dtype torch computes x in (float32 for half floats)."""
    if eps is not None:
        return float(eps)
    dtype = g.dtype(x)
    return float(torch.finfo(torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype).eps)


def float_statistic(g: Any, value: ir.Value, like: ir.Value) -> ir.Value:
    """A Mean/InvStdDev output of ONNX LayerNormalization (float, its stash_type 1) in like's dtype."""
    value.dtype = ir.DataType.FLOAT  # g.op takes the dtype of the first input for every output
    return g.cast(value, g.dtype(like))


def finite_max(g: Any, value: ir.Value) -> float:
    """The largest finite number of `value`'s floating-point dtype (what torch.nan_to_num puts for +inf)."""
    return float(torch.finfo(g.dtype(value)).max)


def functional(g: Any, overload: str, **arguments: Any) -> Any:
    """The mapping of another overload (`'add.Tensor'`) on these arguments, at this opset: what an
    in-place op's spec (`add_.Tensor`) computes before its result is cast back to the written dtype."""
    from exporter import registry  # imported late: the registry imports the generated specs

    name = overload if "::" in overload else f"aten::{overload}"
    name = name if "." in name.split("::", 1)[1] else f"{name}.default"
    function = registry.lookup(name, g.opset)
    if function is None:
        raise ValueError(f"{name} has no mapping at opset {g.opset}")
    return function(g, **arguments)


def number_tensor(g: Any, value: Any) -> ir.Value:
    """A 0-d tensor holding a Python number (or a symbolic one), in the dtype torch gives it:
    int64 for ints, float64 for floats, bool for bools (TorchScript's prim::NumToTensor)."""
    if isinstance(value, ir.Value):
        return g.op("Identity", value)
    dtype = torch.bool if isinstance(value, bool) else torch.float64 if isinstance(value, float) else torch.int64
    return g.constant(value, dtype)


def is_sequence(g: Any, value: Any) -> bool:
    """A tensor list that only exists at run time: an ONNX sequence (a list grown in a scripted loop)."""
    return isinstance(value, ir.Value) and isinstance(value.type, ir.SequenceType)


# -- random and resize (mig-resize) ------------------------------------------------------------------
def is_value(g: Any, value: Any) -> bool:
    """True for a value known only at run time (a tensor, a symbolic size or number), False for a
    Python number or list."""
    return isinstance(value, ir.Value)


def static_sizes(g: Any, shape_of: Any) -> list[int] | None:
    """A size list of Python ints as ints (for a `shape` attribute); None for a tensor, symbolic
    sizes or no sizes (0-d: an empty `shape` attribute reads as missing)."""
    if isinstance(shape_of, ir.Value) or any(isinstance(s, ir.Value) for s in shape_of) or len(shape_of) == 0:
        return None
    return [int(s) for s in shape_of]


def static_dim(g: Any, x: ir.Value, axis: int) -> int | None:
    """x's size along `axis` when known at export time, else None."""
    size = g.shape(x)[axis]
    return int(size) if isinstance(size, int) else None


def floats(g: Any, values: Sequence[Any]) -> ir.Value:
    """A 1-D float32 tensor (Resize's roi and scales inputs)."""
    return g.constant(torch.tensor([float(v) for v in values], dtype=torch.float32))


def resize_dynamic(g: Any, x: ir.Value, output_size: Any) -> bool:
    """A resized axis of x has a size known only at run time, or an output size is a value
    (output_size None: every axis after N and C)."""
    sizes = list(output_size) if output_size is not None else []
    spatial = g.shape(x)[g.rank(x) - len(sizes):] if sizes else g.shape(x)[2:]
    return any(not isinstance(d, int) for d in spatial) or any(isinstance(o, ir.Value) for o in sizes)


def _resized(g: Any, x: ir.Value, output_size: Sequence[Any]) -> tuple[list[int], list[int]]:
    n = len(output_size)
    return [int(d) for d in g.shape(x)[g.rank(x) - n:]], [int(o) for o in output_size]


def nearest_plan(g: Any, x: ir.Value, exact: bool, output_size: Sequence[Any], scales: Sequence[Any]) -> tuple:
    """resize_ops.nearest_plan for x's static sizes: (kind, factors, source indices per axis)."""
    from exporter.lib import resize_ops  # imported late: exporter.lib imports this module

    sizes, outs = _resized(g, x, output_size)
    return resize_ops.nearest_plan(exact, g.dtype(x), g.opset, sizes, outs, list(scales))


def interpolation_plan(g: Any, x: ir.Value, mode: str, align_corners: bool, output_size: Sequence[Any],
                       scales: Sequence[Any]) -> tuple:
    """resize_ops.interpolation_plan for x's static sizes; the weight matrices as constants in x's dtype."""
    from exporter.lib import resize_ops

    sizes, outs = _resized(g, x, output_size)
    kind, factors, matrices = resize_ops.interpolation_plan(mode, align_corners, g.dtype(x), g.opset, sizes, outs,
                                                            list(scales))
    weights = None if matrices is None else [
        None if m is None else g.constant(torch.from_numpy(m), g.dtype(x)) for m in matrices]
    return kind, factors, weights


def vec_output_sizes(g: Any, x: ir.Value, output_size: Any, scale_factors: Any, align_corners: Any) -> list[int]:
    """The output sizes torch computes for this `.vec` overload (`g.overload`) on x's static sizes."""
    from codegen.torch_schema import resolve_overload
    from exporter.lib import resize_ops

    n = len(output_size if output_size is not None else scale_factors)
    sizes = [int(d) for d in g.shape(x)[g.rank(x) - n:]]
    return resize_ops.vec_sizes(resolve_overload(g.overload), sizes, output_size, scale_factors, align_corners)
