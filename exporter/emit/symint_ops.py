"""Python arithmetic on symbolic sizes (`operator.*`, `torch.sym_*`, `math.*` calls in the FX graph).

With dynamic shapes, torch.export records size computations as calls of Python functions on
SymInt/SymFloat/SymBool values (`operator.floordiv(s0, 2)`, `torch.sym_max(s0, s1)`). They are
not ATen ops, so they have no spec: this module maps each of them to ONNX ops on 0-d values.

A symbolic number is a 0-d value: int64 for SymInt, float64 (Python's float) for SymFloat,
bool for SymBool. Python semantics are kept: `//` and `%` round towards -inf (ONNX integer Div
truncates), `/` is true division, comparisons give bool. A call whose arguments are all plain
Python numbers is computed here, at export time.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder

INT, FLOAT, BOOL = torch.int64, torch.float64, torch.bool


def _kind(g: GraphBuilder, value: Any) -> torch.dtype:
    """The Python type a symbolic or plain number stands for, as a torch dtype."""
    if isinstance(value, ir.Value):
        dtype = g.known_dtype(value)
        if dtype == torch.bool:
            return BOOL
        return FLOAT if dtype is not None and dtype.is_floating_point else INT
    if isinstance(value, bool):
        return BOOL
    return FLOAT if isinstance(value, float) else INT


def _as(g: GraphBuilder, value: Any, dtype: torch.dtype) -> ir.Value:
    """`value` as a 0-d value of `dtype` (a Python number becomes a constant)."""
    if isinstance(value, ir.Value):
        return g.cast(value, dtype)
    return g.constant(dtype_cast(value, dtype), dtype)


def dtype_cast(value: Any, dtype: torch.dtype) -> Any:
    return {INT: int, FLOAT: float, BOOL: bool}.get(dtype, lambda v: v)(value)


def _numeric(g: GraphBuilder, *values: Any) -> tuple[torch.dtype, list[ir.Value]]:
    """Operands brought to their common Python type: float if any is, else int (bools count as ints)."""
    dtype = FLOAT if any(_kind(g, v) == FLOAT for v in values) else INT
    return dtype, [_as(g, v, dtype) for v in values]


def _comparable(g: GraphBuilder, a: Any, b: Any) -> tuple[ir.Value, ir.Value]:
    kinds = {_kind(g, a), _kind(g, b)}
    dtype = BOOL if kinds == {BOOL} else FLOAT if FLOAT in kinds else INT
    return _as(g, a, dtype), _as(g, b, dtype)


# -- arithmetic ---------------------------------------------------------------------------------
def _binary(op_type: str) -> Callable[..., ir.Value]:
    def build(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
        _, (x, y) = _numeric(g, a, b)
        return g.op(op_type, x, y)
    return build


def _int_floordiv(g: GraphBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """Python's a // b on int64: exact, rounding towards -inf."""
    if g.opset >= 10:  # Mod (fmod=0) has the divisor's sign, so a - a % b is a multiple of b
        return g.op("Div", g.op("Sub", x, g.op("Mod", x, y)), y)
    q = g.op("Div", x, y)  # truncated; one too large when inexact and the signs differ
    zero = g.constant(0, INT)
    signs_differ = g.op("Xor", g.op("Less", x, zero), g.op("Less", y, zero))
    inexact = g.op("Not", g.op("Equal", g.op("Mul", q, y), x))
    return g.op("Sub", q, g.cast(g.op("And", signs_differ, inexact), INT))


def floordiv(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
    dtype, (x, y) = _numeric(g, a, b)
    if dtype == FLOAT:
        return g.op("Floor", g.op("Div", x, y))
    return _int_floordiv(g, x, y)


def mod(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
    """Python's a % b: the result has the divisor's sign."""
    dtype, (x, y) = _numeric(g, a, b)
    if dtype == INT and g.opset >= 10:
        return g.op("Mod", x, y)
    return g.op("Sub", x, g.op("Mul", y, floordiv(g, x, y)))


def truediv(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
    return g.op("Div", _as(g, a, FLOAT), _as(g, b, FLOAT))


def power(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
    """int ** int stays an int (computed in float64: exact below 2**53); otherwise a float."""
    dtype, _ = _numeric(g, a, b)
    out = g.op("Pow", _as(g, a, FLOAT), _as(g, b, FLOAT))
    return g.cast(g.op("Round", out), INT) if dtype == INT and g.opset >= 11 else g.cast(out, dtype)


def neg(g: GraphBuilder, a: Any) -> ir.Value:
    return g.op("Neg", _as(g, a, FLOAT if _kind(g, a) == FLOAT else INT))


def absolute(g: GraphBuilder, a: Any) -> ir.Value:
    return g.op("Abs", _as(g, a, FLOAT if _kind(g, a) == FLOAT else INT))


def _select(g: GraphBuilder, condition: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
    if g.dtype(a) == BOOL:  # ONNX Runtime has no bool Where: (c and a) or (not c and b)
        return g.op("Or", g.op("And", condition, a), g.op("And", g.op("Not", condition), b))
    return g.op("Where", condition, a, b)


def sym_max(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
    _, (x, y) = _numeric(g, a, b)
    return _select(g, g.op("Greater", x, y), x, y)


def sym_min(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
    _, (x, y) = _numeric(g, a, b)
    return _select(g, g.op("Less", x, y), x, y)


def sym_sum(g: GraphBuilder, values: Sequence[Any]) -> Any:
    total: Any = 0
    for value in values:
        total = add(g, total, value) if isinstance(total, ir.Value) or isinstance(value, ir.Value) else total + value
    return total


def sym_ite(g: GraphBuilder, condition: Any, a: Any, b: Any) -> ir.Value:
    kinds = {_kind(g, a), _kind(g, b)}
    dtype = BOOL if kinds == {BOOL} else FLOAT if FLOAT in kinds else INT
    return _select(g, _as(g, condition, BOOL), _as(g, a, dtype), _as(g, b, dtype))


def sym_float(g: GraphBuilder, a: Any) -> ir.Value:
    return _as(g, a, FLOAT)


def sym_int(g: GraphBuilder, a: Any) -> ir.Value:
    """int(x): truncation towards 0, as ONNX Cast from float does."""
    return _as(g, a, INT)


def _rounded(op_type: str) -> Callable[..., ir.Value]:
    def build(g: GraphBuilder, a: Any) -> ir.Value:
        if _kind(g, a) != FLOAT:
            return _as(g, a, INT)
        return g.cast(g.op(op_type, a), INT)
    return build


def trunc(g: GraphBuilder, a: Any) -> ir.Value:
    return sym_int(g, a)


def sqrt(g: GraphBuilder, a: Any) -> ir.Value:
    return g.op("Sqrt", _as(g, a, FLOAT))


# -- comparisons and logic ----------------------------------------------------------------------
def _compare(op_type: str, negate: str | None = None) -> Callable[..., ir.Value]:
    """`negate` builds a <= b as not (a > b) before LessOrEqual/GreaterOrEqual exist (opset 12)."""
    def build(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
        x, y = _comparable(g, a, b)
        if g.dtype(x) == BOOL and op_type not in ("Equal",):
            x, y = g.cast(x, INT), g.cast(y, INT)
        if op_type == "Equal" and g.dtype(x) == FLOAT and g.opset < 11:  # no float Equal before 11
            return g.op("Not", g.op("Or", g.op("Less", x, y), g.op("Greater", x, y)))
        if negate is not None and g.opset < 12:
            return g.op("Not", g.op(negate, x, y))
        return g.op(op_type, x, y)
    return build


def not_equal(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
    return g.op("Not", _compare("Equal")(g, a, b))


def logical_not(g: GraphBuilder, a: Any) -> ir.Value:
    return g.op("Not", _as(g, a, BOOL))


def _logical_or_bitwise(logical: str, bitwise: str) -> Callable[..., ir.Value]:
    def build(g: GraphBuilder, a: Any, b: Any) -> ir.Value:
        if _kind(g, a) == BOOL and _kind(g, b) == BOOL:
            return g.op(logical, _as(g, a, BOOL), _as(g, b, BOOL))
        if g.opset < 18:
            raise g.constraint_error(f"bitwise {bitwise} of symbolic integers needs opset 18 or newer; export with "
                                     "opset_version=18 or newer", "exporter/emit/symint_ops.py (symbolic integer ops)")
        return g.op(bitwise, _as(g, a, INT), _as(g, b, INT))
    return build


add = _binary("Add")
sub = _binary("Sub")
mul = _binary("Mul")

# target -> builder(g, *args)
_BUILDERS: dict[Any, Callable[..., Any]] = {
    operator.add: add,
    operator.sub: sub,
    operator.mul: mul,
    operator.floordiv: floordiv,
    operator.mod: mod,
    operator.truediv: truediv,
    operator.pow: power,
    operator.neg: neg,
    operator.pos: lambda g, a: a,
    operator.abs: absolute,
    operator.eq: _compare("Equal"),
    operator.ne: not_equal,
    operator.lt: _compare("Less"),
    operator.gt: _compare("Greater"),
    operator.le: _compare("LessOrEqual", negate="Greater"),
    operator.ge: _compare("GreaterOrEqual", negate="Less"),
    operator.and_: _logical_or_bitwise("And", "BitwiseAnd"),
    operator.or_: _logical_or_bitwise("Or", "BitwiseOr"),
    operator.xor: _logical_or_bitwise("Xor", "BitwiseXor"),
    operator.not_: logical_not,
    torch.sym_not: logical_not,
    torch.sym_float: sym_float,
    torch.sym_int: sym_int,
    torch.sym_max: sym_max,
    torch.sym_min: sym_min,
    torch.sym_ite: sym_ite,
    torch.sym_sum: sym_sum,
    torch._sym_sqrt: sqrt,  # type: ignore[attr-defined]  # in torch at run time (what FX records), not in its stubs
    math.floor: _rounded("Floor"),
    math.ceil: _rounded("Ceil"),
    math.trunc: trunc,
    math.sqrt: sqrt,
    abs: absolute,
    max: sym_max,
    min: sym_min,
}


def handles(target: Any) -> bool:
    """True for the Python functions on symbolic numbers this module translates."""
    try:
        return target in _BUILDERS
    except TypeError:  # unhashable targets
        return False


def translate(g: GraphBuilder, target: Any, args: Sequence[Any]) -> Any:
    """The ONNX value of `target(*args)`, or the Python result when no argument is symbolic."""
    if not any(isinstance(a, ir.Value) or (isinstance(a, (list, tuple)) and any(isinstance(v, ir.Value) for v in a))
               for a in args):
        return target(*args)
    return _BUILDERS[target](g, *args)
