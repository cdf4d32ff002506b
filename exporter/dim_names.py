"""Give symbolic dimensions the names the user chose (`Dim("batch")`), not torch's `s17`."""

from __future__ import annotations

import inspect
from typing import Any

import sympy
import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind


def _dims_per_input(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], dynamic_shapes: Any) -> list[Any]:
    """The dynamic_shapes entry of each user input, in the order torch.export lists them."""
    count = len(args) + len(kwargs)
    if dynamic_shapes is None:
        return [None] * count
    if isinstance(dynamic_shapes, dict):
        forward = model.forward if isinstance(model, torch.nn.Module) else model
        try:
            names = list(inspect.signature(forward).parameters)[: len(args)] + list(kwargs)
        except (TypeError, ValueError):
            return [None] * count
        return [dynamic_shapes.get(name) for name in names]
    entries = list(dynamic_shapes)
    return entries + [None] * (count - len(entries))


def _name_of(spec: Any) -> str | None:
    name = getattr(spec, "__name__", None)
    return name if isinstance(name, str) and type(spec).__name__ != "_DimHint" else None


def user_dim_names(program: ExportedProgram, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
                   dynamic_shapes: Any) -> dict[sympy.Symbol, sympy.Symbol]:
    """torch's symbol -> a symbol named as the user's Dim, for every named dynamic dim."""
    kwargs = kwargs or {}
    specs = iter(_dims_per_input(model, args, kwargs, dynamic_shapes))
    mapping: dict[sympy.Symbol, sympy.Symbol] = {}
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
    for node, input_spec in zip(placeholders, program.graph_signature.input_specs):
        if input_spec.kind != InputKind.USER_INPUT:
            continue
        dims = next(specs, None)
        fake = node.meta.get("val")
        if not isinstance(fake, torch.Tensor) or dims is None:
            continue
        items = dims.items() if isinstance(dims, dict) else enumerate(dims)
        for axis, spec in items:
            name = _name_of(spec)
            size = fake.shape[axis] if axis < fake.dim() else None
            if name and isinstance(size, torch.SymInt) and isinstance(size.node.expr, sympy.Symbol):
                mapping[size.node.expr] = sympy.Symbol(name)
    return mapping


def dim_text(size: Any, names: dict[sympy.Symbol, sympy.Symbol]) -> int | str:
    """An int for a static size; otherwise the size's expression with user names put in."""
    if isinstance(size, int):
        return size
    expr = size.node.expr if isinstance(size, torch.SymInt) else size
    return str(expr.xreplace(names)) if isinstance(expr, sympy.Basic) else str(expr)
