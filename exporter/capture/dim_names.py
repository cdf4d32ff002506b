"""Give symbolic dimensions the names the user chose (`Dim("batch")`, "batch"), not torch's `s17`."""

from __future__ import annotations

from typing import Any

import sympy
import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from aten2onnx.exporter.capture.model_inputs import named_inputs, shape_spec_leaves


def leaf_specs(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], dynamic_shapes: Any) -> list[Any]:
    """The dynamic_shapes entry of each tensor input, in the order torch.export lists them."""
    inputs = named_inputs(model, args, kwargs)
    if dynamic_shapes is None:
        specs: list[Any] = [None] * len(inputs)
    elif isinstance(dynamic_shapes, dict):
        specs = [dynamic_shapes.get(name) for name, _ in inputs]
    else:
        specs = list(dynamic_shapes) + [None] * (len(inputs) - len(dynamic_shapes))
    return [leaf for (_, value), spec in zip(inputs, specs) for leaf in shape_spec_leaves(value, spec)]


def _name_of(spec: Any) -> str | None:
    """A user-chosen name: a string (torch.onnx style) or a named Dim; hints like Dim.AUTO have none."""
    if isinstance(spec, str):
        return spec
    name = getattr(spec, "__name__", None)
    return name if isinstance(name, str) and type(spec).__name__ != "_DimHint" else None


def user_dim_names(program: ExportedProgram, specs: list[Any]) -> dict[sympy.Symbol, sympy.Symbol]:
    """torch's symbol -> a symbol named as the user asked, for every named dynamic dim.

    `specs` holds one dynamic_shapes entry per tensor input (see `leaf_specs`). When two
    names land on one symbol (torch proved the sizes equal), the first name wins.
    """
    mapping: dict[sympy.Symbol, sympy.Symbol] = {}
    leaf = iter(specs)
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
    for node, input_spec in zip(placeholders, program.graph_signature.input_specs):
        fake = node.meta.get("val")
        if input_spec.kind != InputKind.USER_INPUT or not isinstance(fake, torch.Tensor):
            continue  # Python values and None inputs have no entry among the tensor leaves
        dims = next(leaf, None)
        if dims is None:
            continue
        items = dims.items() if isinstance(dims, dict) else enumerate(dims)
        for axis, spec in items:
            name = _name_of(spec)
            size = fake.shape[axis] if -fake.dim() <= axis < fake.dim() else None
            if name and isinstance(size, torch.SymInt) and isinstance(size.node.expr, sympy.Symbol):
                mapping.setdefault(size.node.expr, sympy.Symbol(name))
    return mapping


def static_size(size: Any) -> int | None:
    """The size as an int when it is one, or a SymInt torch has replaced by a constant (an axis asked
    dynamic that the model fixed); None for a symbolic size."""
    if isinstance(size, int):
        return size
    expr = size.node.expr if isinstance(size, torch.SymInt) else size
    return int(expr) if isinstance(expr, sympy.Basic) and expr.is_number else None


def dim_text(size: Any, names: dict[sympy.Symbol, sympy.Symbol]) -> int | str:
    """An int for a static size; otherwise the size's expression with user names put in."""
    static = static_size(size)
    if static is not None:
        return static
    expr = size.node.expr if isinstance(size, torch.SymInt) else size
    return str(expr.xreplace(names)) if isinstance(expr, sympy.Basic) else str(expr)
