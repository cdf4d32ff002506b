"""Hypothesis strategies that draw an op's arguments from its torch schema and spec hints.

Hint vocabulary (the `test:` block of a spec entry; every key is optional):

  shapes: {N: [1, 3], C: [2, 4]}   dimension symbols, drawn once per example
  <tensor arg>:
    shape: [N, C, 5, [2, 4]]      ints, symbols, or [lo, hi] ranges
    rank: [lo, hi]                when no shape: rank range (default [0, 4]); dims from `dims`
    dims: [lo, hi]                size of each drawn dim (default [1, 5])
    like: self                    the same shape as another tensor argument
    broadcast: self               a shape that broadcasts against another tensor argument
    dtype: [float32, int64]       dtypes to draw from (default [float32])
    same_dtype: self              the dtype drawn for another tensor argument
    values: [lo, hi]              element range (default [-3, 3]; bool: random)
    none: true                    also draw None (optional tensors)
    count: [lo, hi]               tensor lists: how many tensors
    vary_dim: dim                 tensor lists: sizes may differ along this int argument
  <any other arg>: [v1, v2, ...]  choose among values; or a mapping with one generator:
    range: [lo, hi]               an int (or float when lo/hi are floats) in range
    dim_of: self                  a valid dim of a tensor arg (negative too); `extra: 1` for rank+1
    dims_of: self                 a list of distinct dims of a tensor arg (maybe empty)
    permutation_of: self          a permutation of a tensor arg's dims
    reshape_of: self              a size list with the same numel (may contain one -1)
    expand_of: self               a size list self broadcasts to (may contain -1)
    size_along: [self, dim]       an int in [1, size of self along the dim argument]
    index_along: [self, dim]      a valid index (negative too) along the dim argument
    split_sizes_of: [self, dim]   sizes that add up to self's size along dim
Unhinted arguments with a schema default use it; unhinted tensors share one drawn shape.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from hypothesis import strategies as st

from codegen.model import OpSpec
from codegen.torch_schema import TorchArg, TorchSchema

DEFAULT_RANK = (0, 4)
DEFAULT_DIMS = (1, 5)


def _choose(draw: Any, hint: Any) -> Any:
    return draw(st.sampled_from(list(hint)))


def _int_range(draw: Any, bounds: list[Any]) -> int:
    return draw(st.integers(int(bounds[0]), int(bounds[1])))


def _hint_deps(hint: Any) -> set[str]:
    """Arguments a hint refers to (they must be drawn first)."""
    if not isinstance(hint, dict):
        return set()
    deps = set()
    for key in ("like", "broadcast", "same_dtype", "dim_of", "dims_of", "permutation_of", "reshape_of",
                "expand_of", "vary_dim"):
        if isinstance(hint.get(key), str):
            deps.add(hint[key])
    for key in ("size_along", "index_along", "split_sizes_of"):
        if isinstance(hint.get(key), list):
            deps.update(hint[key])
    return deps


def _draw_order(schema: TorchSchema, hints: dict[str, Any]) -> list[TorchArg]:
    """Schema order, except that an argument comes after the ones its hint refers to."""
    pending = list(schema.arguments)
    ordered: list[TorchArg] = []
    while pending:
        done = {a.name for a in ordered}
        ready = next((a for a in pending if _hint_deps(hints.get(a.name)) <= done), pending[0])
        ordered.append(ready)
        pending.remove(ready)
    return ordered


class _Example:
    """State while drawing one example: symbols, the shared shape, values drawn so far."""

    def __init__(self, draw: Any, spec: OpSpec):
        self.draw = draw
        self.hints = spec.test.args
        self.symbols = {name: _int_range(draw, bounds) if isinstance(bounds, list) else int(bounds)
                        for name, bounds in spec.test.shapes.items()}
        self.values: dict[str, Any] = {}
        self._base_shape: list[int] | None = None

    def base_shape(self) -> list[int]:
        if self._base_shape is None:
            self._base_shape = self.random_shape(DEFAULT_RANK, DEFAULT_DIMS)
        return self._base_shape

    def random_shape(self, rank: Any, dims: Any) -> list[int]:
        r = _int_range(self.draw, rank)
        return [_int_range(self.draw, dims) for _ in range(r)]

    def shape(self, hint: dict[str, Any]) -> list[int]:
        if "shape" in hint:
            out = []
            for d in hint["shape"]:
                if isinstance(d, str):
                    out.append(self.symbols[d])
                elif isinstance(d, list):
                    out.append(_int_range(self.draw, d))
                else:
                    out.append(int(d))
            return out
        if "like" in hint:
            return list(self.values[hint["like"]].shape)
        if "broadcast" in hint:
            other = list(self.values[hint["broadcast"]].shape)
            keep = self.draw(st.integers(0, len(other)))
            tail = other[len(other) - keep:]
            return [1 if self.draw(st.booleans()) else d for d in tail]
        if "rank" in hint or "dims" in hint:
            return self.random_shape(hint.get("rank", DEFAULT_RANK), hint.get("dims", DEFAULT_DIMS))
        return list(self.base_shape())

    def tensor(self, hint: dict[str, Any], shape: list[int]) -> torch.Tensor:
        if "same_dtype" in hint:
            dtype = self.values[hint["same_dtype"]].dtype
        else:
            dtype = getattr(torch, _choose(self.draw, hint.get("dtype", ["float32"])))
        seed = self.draw(st.integers(0, 2**31 - 1))
        gen = torch.Generator().manual_seed(seed)
        if dtype == torch.bool:
            return torch.rand(shape, generator=gen) > 0.5
        low, high = hint.get("values", [-3, 3])
        if dtype.is_floating_point:
            return (torch.rand(shape, generator=gen, dtype=torch.float64) * (high - low) + low).to(dtype)
        return torch.randint(int(low), int(high) + 1, shape, generator=gen, dtype=torch.int64).to(dtype)

    def tensor_arg(self, arg: TorchArg, hint: dict[str, Any]) -> Any:
        if hint.get("none") and self.draw(st.booleans()):
            return None
        if arg.is_optional and not hint and arg.has_default:
            return None
        return self.tensor(hint, self.shape(hint))

    def tensor_list(self, hint: dict[str, Any]) -> list[torch.Tensor]:
        count = _int_range(self.draw, hint.get("count", [1, 3]))
        shape = self.shape(hint)
        axis = self.values.get(hint["vary_dim"]) if "vary_dim" in hint else None
        tensors = []
        for _ in range(count):
            this = list(shape)
            if axis is not None and this:
                this[axis % len(this)] = _int_range(self.draw, DEFAULT_DIMS)
            tensors.append(self.tensor(hint, this))
        return tensors

    def other_arg(self, arg: TorchArg, hint: Any) -> Any:
        if isinstance(hint, list):
            return _choose(self.draw, hint)
        if not isinstance(hint, dict):
            if hint is not None:
                return hint
            if arg.has_default:
                return arg.default
            if arg.base_type == "bool":
                return self.draw(st.booleans())
            first_tensor = next((v for v in self.values.values() if isinstance(v, torch.Tensor)), None)
            if arg.name == "dim" and first_tensor is not None:  # the common case needs no hint
                key = "dim_of" if arg.base_type in ("int", "SymInt") else "dims_of"
                return self.generated({key: next(k for k, v in self.values.items() if v is first_tensor)})
            raise ValueError(f"argument '{arg.name}' ({arg.type}) needs a test hint in its spec")
        return self.generated(hint)

    def generated(self, hint: dict[str, Any]) -> Any:
        draw = self.draw
        if "range" in hint:
            low, high = hint["range"]
            if isinstance(low, float) or isinstance(high, float):
                return draw(st.floats(float(low), float(high), allow_nan=False, width=32))
            return _int_range(draw, hint["range"])
        if "dim_of" in hint:
            of = self.values[hint["dim_of"]]
            of = of[0] if isinstance(of, list) else of
            rank = max(of.dim() + int(hint.get("extra", 0)), 1)
            return draw(st.integers(-rank, rank - 1))
        if "dims_of" in hint:
            rank = self.values[hint["dims_of"]].dim()
            dims = draw(st.lists(st.integers(0, max(rank - 1, 0)), unique=True, max_size=rank))
            return [d - rank if draw(st.booleans()) else d for d in dims]
        if "permutation_of" in hint:
            return draw(st.permutations(list(range(self.values[hint["permutation_of"]].dim()))))
        if "reshape_of" in hint:
            return self._reshape(list(self.values[hint["reshape_of"]].shape))
        if "expand_of" in hint:
            shape = list(self.values[hint["expand_of"]].shape)
            lead = [_int_range(draw, [1, 3]) for _ in range(draw(st.integers(0, 2)))]
            body = [(-1 if draw(st.booleans()) else d) if d != 1 else _int_range(draw, [1, 3]) for d in shape]
            return lead + body
        for key in ("size_along", "index_along", "split_sizes_of"):
            if key in hint:
                tensor_name, dim_name = hint[key]
                tensor = self.values[tensor_name]
                size = tensor.shape[self.values[dim_name]] if tensor.dim() else 1
                if key == "size_along":
                    return draw(st.integers(1, max(size, 1)))
                if key == "index_along":
                    return draw(st.integers(-size, size - 1))
                cuts = sorted(draw(st.lists(st.integers(0, size), max_size=3)))
                edges = [0, *cuts, size]
                return [b - a for a, b in zip(edges, edges[1:])]
        raise ValueError(f"unknown test hint {hint!r}")

    def _reshape(self, shape: list[int]) -> list[int]:
        numel = math.prod(shape)
        factors = [f for f in range(1, numel + 1) if numel % f == 0]
        out, left = [], numel
        for _ in range(self.draw(st.integers(0, 3))):
            f = self.draw(st.sampled_from([f for f in factors if left % f == 0]))
            out.append(f)
            left //= f
        out.append(left)
        if self.draw(st.booleans()):
            out[self.draw(st.integers(0, len(out) - 1))] = -1
        return out


@st.composite
def op_arguments(draw: Any, spec: OpSpec, schema: TorchSchema) -> dict[str, Any]:
    """One example: every schema argument name -> a concrete value for eager torch."""
    example = _Example(draw, spec)
    for arg in _draw_order(schema, example.hints):
        hint = example.hints.get(arg.name)
        if arg.is_tensor:
            value = example.tensor_arg(arg, hint or {})
        elif arg.is_tensor_list:
            value = example.tensor_list(hint or {})
        else:
            value = example.other_arg(arg, hint)
        example.values[arg.name] = value
    return {a.name: example.values[a.name] for a in schema.arguments}
