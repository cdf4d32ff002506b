"""The input sizes an exported model accepts, as torch.export proved them, checked before a run.

torch.export records a range for every dynamic dimension (`Dim("n", min=3)`, or a minimum the
model needs, such as `x[:3]`) and ties dimensions that must be equal to one symbol. ONNX has no
assertion op, so the graph cannot refuse a size outside that range: ONNX Runtime would fail
somewhere inside or return a wrong result. `ONNXProgram.__call__` checks the inputs first:
a wrong rank, a wrong static size or unequal tied dims raise ModelInputError (they cannot run); a
size outside a range warns (InputSizeWarning), because torch's ranges are often narrower than
what the graph computes correctly. The rules are also written into the model's metadata
(`aten2onnx.size_rules`) for anyone running the file elsewhere.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.export import ExportedProgram

from aten2onnx.exporter.capture.dim_names import static_size
from aten2onnx.exporter.errors import ModelInputError

# torch.export gives every dynamic dimension at least [2, ...], since it traces sizes 0 and 1 as
# special cases; exported graphs are nonetheless valid for them (the sizes tests run include 1).
# Only a larger lower bound is a requirement of the model (`x[:3]`, `Dim("n", min=3)`).
_DEFAULT_LOW = 2


class InputSizeWarning(UserWarning):
    """An input size outside the range torch.export proved the exported model for."""


@dataclass(frozen=True)
class DimRule:
    """Input `input_index`'s axis `axis` is `size` (static) or symbol `symbol` in [low, high]."""

    input_name: str
    input_index: int
    rank: int
    axis: int
    size: int | None
    symbol: str | None
    low: int | None
    high: int | None  # None: no upper bound

    def describe(self) -> str:
        where = f"{self.input_name}.shape[{self.axis}]"
        if self.size is not None:
            return f"{where} == {self.size}"
        upper = "inf" if self.high is None else str(self.high)
        return f"{where} = {self.symbol} in [{0 if self.low is None else self.low}, {upper}]"


def _bound(value: Any) -> int | None:
    """A range end as an int; None for sympy's infinities (int_oo, oo) and anything symbolic."""
    if not getattr(value, "is_finite", True) or getattr(value, "is_Integer", True) is False:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None


def size_rules(program: ExportedProgram | None, shown: Sequence[Any] = (),
               input_names: Sequence[str] = ()) -> list[DimRule]:
    """One rule per axis of every tensor user input; axes whose size is an expression
    (`2*s0`) are not checked (their symbol's own axis is). `shown`: the ONNX graph inputs'
    shapes, in the same order, whose named dims (the user's Dim names) name the symbols;
    `input_names`: their names (`past_key_values.0.key`, the user's input_names) for the rules."""
    if program is None:
        return []
    names = set(program.graph_signature.user_inputs)
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in names]
    rules: list[DimRule] = []
    tensors = [n for n in placeholders if isinstance(n.meta.get("val"), torch.Tensor)]
    for index, node in enumerate(tensors):
        rank = node.meta["val"].dim()
        name = input_names[index] if index < len(input_names) else node.name
        for axis, dim in enumerate(node.meta["val"].shape):
            if static_size(dim) is not None:
                rules.append(DimRule(name, index, rank, axis, static_size(dim), None, None, None))
                continue
            expr = dim.node.expr
            if not getattr(expr, "is_Symbol", False):
                continue
            bounds = program.range_constraints.get(expr)
            low = _bound(bounds.lower) if bounds is not None else None
            if low is not None and low <= _DEFAULT_LOW:
                low = None  # torch's floor for any dynamic dim (0/1 are traced apart), not the model's need
            high = _bound(bounds.upper) if bounds is not None else None
            shape = shown[index] if index < len(shown) else None
            named = shape[axis] if shape is not None and axis < len(shape) else None
            symbol = str(named) if named is not None and not isinstance(named, int) else str(expr)
            rules.append(DimRule(name, index, rank, axis, None, symbol, low, high))
    return rules


def check_sizes(rules: list[DimRule], inputs: list[torch.Tensor]) -> None:
    """Raise ModelInputError naming each input size the exported model was not proven for."""
    if not rules:
        return
    problems: list[str] = []
    outside: list[str] = []
    bound: dict[str, tuple[int, str]] = {}
    for rule in rules:
        if rule.input_index >= len(inputs):
            continue
        tensor = inputs[rule.input_index]
        shape = tuple(torch.view_as_real(tensor).shape[:-1]) if tensor.is_complex() else tuple(tensor.shape)
        if len(shape) != rule.rank:
            problem = f"{rule.input_name} has {len(shape)} dimensions, the model was exported for {rule.rank}"
            if problem not in problems:
                problems.append(problem)
            continue
        size, where = shape[rule.axis], f"{rule.input_name}.shape[{rule.axis}]"
        if rule.size is not None:
            if size != rule.size:
                problems.append(f"{where} is {size}, the model was exported for {rule.size} only (static: mark it "
                                "dynamic with dynamic_shapes/dynamic_axes to accept other sizes)")
            continue
        if rule.low is not None and size < rule.low or rule.high is not None and size > rule.high:
            upper = "inf" if rule.high is None else rule.high
            outside.append(f"{where} is {size}, outside [{rule.low or 0}, {upper}], the range torch.export "
                           f"proved the model for (dimension {rule.symbol})")
        if rule.symbol in bound and bound[rule.symbol][0] != size:
            other_size, other = bound[rule.symbol]
            problems.append(f"{where} is {size} but {other} is {other_size}: the model needs them equal "
                            f"(both are dimension {rule.symbol})")
        bound.setdefault(rule.symbol, (size, where))  # type: ignore[arg-type]
    if problems:
        raise ModelInputError(problems)
    if outside:  # torch's ranges are often cautious (guards of the example's path): the graph may still be right
        warnings.warn("inputs outside the sizes the model was exported for; ONNX Runtime may fail or the results "
                      "may differ from eager:\n" + "\n".join(f"  - {o}" for o in outside), InputSizeWarning,
                      stacklevel=3)


def metadata_text(rules: list[DimRule]) -> str:
    """The dynamic-size rules as one line per axis, for the model's metadata_props."""
    return "; ".join(rule.describe() for rule in rules if rule.size is None)
