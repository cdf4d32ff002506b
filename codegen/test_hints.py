"""The vocabulary of a spec's per-argument test hints: one frozen dataclass per hint kind.

An entry's `test:` maps argument names to hints. A list draws one of its values, any other plain
value is used as it is, and a mapping is one of two kinds: a `TensorHint` (how to draw a tensor or a
tensor list) or a `ValueHint` (how to draw any other argument: it names one generator, such as
`range` or `dim_of`). Each field's metadata says what its value must be; parsing checks every key
and value against it and reports mistakes with their file:line, as for every other spec key, and
tests/op_inputs.py draws from the parsed objects, so the harness reads exactly this vocabulary.
opspecs/README.md ('Test hints') and tests/op_inputs.py's docstring say what each key draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from aten2onnx.codegen.errors import ErrorCollector, Location
from aten2onnx.codegen.yaml_loader import LINE_KEY


@dataclass(frozen=True)
class _Kind:
    """What a hint key's value must be: a check and the words that say it."""

    says: str
    check: Callable[[Any], bool]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v: Any) -> bool:
    return type(v) is int


def _name(v: Any) -> bool:
    return isinstance(v, str) and v.isidentifier()


def _names(count: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and len(v) == count and all(_name(x) for x in v)


def _dim(v: Any) -> bool:  # one dim of a shape template: 3, N, G*C or [lo, hi]
    return _int(v) or (isinstance(v, str) and bool(v.strip())) or (
        isinstance(v, list) and len(v) == 2 and all(_int(x) for x in v))


def _shape(v: Any) -> bool:
    return isinstance(v, list) and all(_dim(d) for d in v)


def _dtype_name(v: Any) -> bool:
    import torch  # codegen reads torch's schemas anyway; dtype names are torch's own

    return isinstance(v, str) and isinstance(getattr(torch, v, None), torch.dtype)


_RNN_KEYS = {"gates": lambda v: _int(v) or _name(v), "input": _name, "hidden": _name, "layers": _name,
             "directions": _name, "biases": _name, "proj": _name}

TENSOR_AND_DIM = _Kind("[tensor argument, dim argument]", _names(2))
NAME = _Kind("the name of another argument", _name)
SYMBOL = _Kind("a 'shapes' symbol", _name)
FLAG = _Kind("true or false", lambda v: isinstance(v, bool))
NUMBER = _Kind("a number", _number)
INT = _Kind("an integer", _int)
BOUNDS = _Kind("[lo, hi], two numbers", lambda v: isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v))
INT_BOUNDS = _Kind("[lo, hi], two integers", lambda v: isinstance(v, list) and len(v) == 2 and all(_int(x) for x in v))
SHAPE = _Kind("a shape template: a list of integers, symbols (N, G*C) and [lo, hi] ranges", _shape)
SHAPES = _Kind("a non-empty list of shape templates", lambda v: isinstance(v, list) and bool(v) and all(
    _shape(s) for s in v))
DTYPES = _Kind("a non-empty list of torch dtype names (float32, int64, bool, ...)",
               lambda v: isinstance(v, list) and bool(v) and all(_dtype_name(x) for x in v))
SCALAR_TYPES = _Kind("a non-empty list of torch dtype names or null", lambda v: isinstance(v, list) and bool(v) and all(
    x is None or _dtype_name(x) for x in v))
NUMBERS = _Kind("a non-empty list of numbers", lambda v: isinstance(v, list) and bool(v) and all(_number(x) for x in v))
CHOICES = _Kind("a non-empty list of values", lambda v: isinstance(v, list) and bool(v))
EXPRESSION = _Kind("an integer or an expression over 'shapes' symbols", lambda v: _int(v) or isinstance(v, str))
EXPRESSIONS = _Kind("a list of integers or expressions over 'shapes' symbols", lambda v: isinstance(v, list) and all(
    _int(x) or isinstance(x, str) for x in v))
MATRIX = _Kind("one of general, spd, symmetric, lower, upper, lu, ldl",
              lambda v: v in ("general", "spd", "symmetric", "lower", "upper", "lu", "ldl"))
RNN = _Kind(f"a mapping with keys {', '.join(_RNN_KEYS)} (gates an integer or an argument name, the others "
            "'shapes' symbols or, for biases, a bool argument)",
            lambda v: isinstance(v, dict) and {"gates", "input", "hidden", "layers", "directions"} <= set(v)
            and all(k in _RNN_KEYS and _RNN_KEYS[k](x) for k, x in v.items()))
ONLY_IF = _Kind("[argument name, value]", lambda v: isinstance(v, list) and len(v) == 2 and _name(v[0]))
SHAPE_IF = _Kind("[bool argument name, shape template]", lambda v: isinstance(v, list) and len(v) == 2
                 and _name(v[0]) and _shape(v[1]))
COUNTS_OF = _Kind("[tensor argument name, dim (an integer)]", lambda v: isinstance(v, list) and len(v) == 2
                  and _name(v[0]) and _int(v[1]))


def _key(kind: _Kind) -> Any:
    return field(default=None, metadata={"kind": kind})


@dataclass(frozen=True)
class TensorHint:
    """How to draw a tensor argument, or each tensor of a tensor list (keys: tests/op_inputs.py)."""

    shape: list[Any] | None = _key(SHAPE)
    shape_one_of: list[Any] | None = _key(SHAPES)
    pick: str | None = _key(SYMBOL)
    rank: list[int] | None = _key(INT_BOUNDS)
    dims: list[int] | None = _key(INT_BOUNDS)
    like: str | None = _key(NAME)
    broadcast: str | None = _key(NAME)
    dtype: list[str] | None = _key(DTYPES)
    same_dtype: str | None = _key(NAME)
    values: list[float] | None = _key(BOUNDS)
    nonzero: bool | None = _key(FLAG)
    unique: bool | None = _key(FLAG)
    specials: list[float] | None = _key(NUMBERS)
    wide: list[float] | None = _key(BOUNDS)
    sorted: bool | None = _key(FLAG)
    operands_of: str | None = _key(NAME)
    none: bool | None = _key(FLAG)
    only_if: list[Any] | None = _key(ONLY_IF)
    count: list[int] | None = _key(INT_BOUNDS)
    vary_dim: str | None = _key(NAME)
    no_larger: str | None = _key(NAME)
    indexes_into: list[str] | None = _key(TENSOR_AND_DIM)
    distinct: bool | None = _key(FLAG)
    index_list_of: str | None = _key(NAME)
    masks: bool | None = _key(FLAG)
    distinct_unless: str | None = _key(NAME)
    index_result_of: list[str] | None = _key(_Kind("[tensor argument, indices argument]", _names(2)))
    along_index: list[str] | None = _key(_Kind("[tensor, dim, index] argument names", _names(3)))
    sliced: list[str] | None = _key(_Kind("[tensor, dim, start, end, step] argument names", _names(5)))
    without_dim: list[str] | None = _key(TENSOR_AND_DIM)
    diagonal_of: list[str] | None = _key(_Kind("[tensor, offset, dim1, dim2] argument names", _names(4)))
    view: bool | None = _key(FLAG)
    shape_each: list[Any] | None = _key(SHAPES)
    first: Any = _key(EXPRESSION)
    shape_if: list[Any] | None = _key(SHAPE_IF)
    sized_by: str | None = _key(NAME)
    offsets_into: str | None = _key(NAME)
    last_if: str | None = _key(NAME)
    short_last: bool | None = _key(FLAG)
    cumulative_counts_of: list[Any] | None = _key(COUNTS_OF)
    sorted_lengths: str | None = _key(SYMBOL)
    batch_sizes: list[str] | None = _key(_Kind("[steps symbol, batch symbol]", _names(2)))
    rows_from: str | None = _key(NAME)
    rnn_params: dict[str, Any] | None = _key(RNN)
    states_of: str | None = _key(NAME)
    matrix: str | None = _key(MATRIX)
    cond: float | None = _key(NUMBER)
    pivots_for: str | None = _key(NAME)
    segment_lengths_of: list[str] | None = _key(TENSOR_AND_DIM)
    segment_offsets_of: list[str] | None = _key(TENSOR_AND_DIM)
    as_input: bool | None = _key(FLAG)
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ValueHint:
    """How to draw an argument that is not a tensor: exactly one generator, and its options."""

    range: list[float] | None = _key(BOUNDS)
    dim_of: str | None = _key(NAME)
    dims_of: str | None = _key(NAME)
    permutation_of: str | None = _key(NAME)
    reshape_of: str | None = _key(NAME)
    expand_of: str | None = _key(NAME)
    size_along: list[str] | None = _key(TENSOR_AND_DIM)
    index_along: list[str] | None = _key(TENSOR_AND_DIM)
    split_sizes_of: list[str] | None = _key(TENSOR_AND_DIM)
    strides_within: list[str] | None = _key(_Kind("[tensor, size, storage_offset] argument names", _names(3)))
    symbol: Any = _key(EXPRESSION)
    tail_of: str | None = _key(NAME)
    scalar_type: list[str | None] | None = _key(SCALAR_TYPES)
    choose: list[Any] | None = _key(CHOICES)
    symbols: list[Any] | None = _key(EXPRESSIONS)
    # options beside the generator
    extra: int | None = _key(INT)
    first: Any = _key(EXPRESSION)
    unless: str | None = _key(NAME)
    none: bool | None = _key(FLAG)
    as_input: bool | None = _key(FLAG)
    location: Location | None = field(default=None, compare=False)


_OPTIONS = ("extra", "first", "unless", "none", "as_input")
ArgHint = TensorHint | ValueHint | list[Any] | Any


def vocabulary(kind: type) -> dict[str, _Kind]:
    """The keys a hint kind takes, with what each value must be."""
    return {f.name: f.metadata["kind"] for f in fields(kind) if "kind" in f.metadata}


GENERATORS = tuple(k for k in vocabulary(ValueHint) if k not in _OPTIONS)


def parse_arg_hint(name: str, raw: Any, where: Location, collector: ErrorCollector) -> ArgHint:
    """One argument's hint: a list or a plain value as it is, a mapping as a TensorHint (or, when it
    names a generator, a ValueHint); every key and value checked, problems reported at their line."""
    if not isinstance(raw, dict):
        return _plain(raw)
    location = Location(where.file, raw.get(LINE_KEY, where.line))
    given = {k: _plain(v) for k, v in raw.items() if k != LINE_KEY}
    generators = [k for k in given if k in GENERATORS]
    kind: type = ValueHint if generators else TensorHint
    allowed = vocabulary(kind)
    values: dict[str, Any] = {}
    for key, value in given.items():
        if key not in allowed:
            what = (f"a hint for an argument that is not a tensor (it names the generator {generators[0]}) takes "
                    f"{', '.join(allowed)}") if generators else (
                f"a tensor hint takes {', '.join(allowed)}; an argument that is not a tensor takes one generator "
                f"of {', '.join(GENERATORS)}")
            collector.add(location, f"unknown key '{key}' in the test hint for '{name}': {what}")
        elif not allowed[key].check(value):
            collector.add(location, f"test hint '{name}.{key}' must be {allowed[key].says}, got {value!r}")
        else:
            values[key] = value
    if len(generators) > 1:
        collector.add(location, f"the test hint for '{name}' names {len(generators)} generators "
                                f"({', '.join(generators)}); keep one")
    return kind(**values, location=location)


def _plain(value: Any) -> Any:
    """Free-form data without the loader's line markers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != LINE_KEY}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
