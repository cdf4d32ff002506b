"""The model's example inputs as torch.export sees them: named, in order, flattened to tensors.

torch.export lists user inputs as the positional args, then the kwargs in the order given,
each flattened (tuples, lists, dicts) to its tensor leaves; input names, dynamic axes and
the ONNX graph's inputs all follow that order.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch.export import ExportedProgram

from aten2onnx.exporter.errors import ExportArgumentError


@dataclass(frozen=True)
class TensorLeaf:
    """One tensor input: the forward() parameter it belongs to and its path inside it."""

    parameter: str
    path: tuple[Any, ...]
    tensor: torch.Tensor

    @property
    def default_name(self) -> str:
        """The name torch.export gives its placeholder: `x`, or `pair_0` inside a tuple."""
        return "_".join([self.parameter, *(str(p) for p in self.path)])


def forward_of(model: Any) -> Any:
    """The callable torch.export traces: forward() of a module or of an ExportedProgram's module."""
    if isinstance(model, ExportedProgram):
        return model.module().forward
    return model.forward if isinstance(model, torch.nn.Module) else model


def parameter_names(model: Any, count: int) -> list[str]:
    """Names of forward()'s first `count` positional parameters (`args_3` past a *args)."""
    try:
        parameters = list(inspect.signature(forward_of(model)).parameters.values())
    except (TypeError, ValueError):
        return [f"args_{i}" for i in range(count)]
    names = []
    for index in range(count):
        if index < len(parameters) and parameters[index].kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
        ):
            names.append(parameters[index].name)
        else:
            names.append(f"args_{index}")
    return names


def check_signature(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Fail before capture when the example inputs cannot be passed to forward() at all."""
    if isinstance(model, ExportedProgram):
        return
    try:
        signature = inspect.signature(forward_of(model))
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise ExportArgumentError(
            f"the example inputs do not match {type(model).__name__}.forward({', '.join(signature.parameters)}): "
            f"{exc}; "
            f"got {len(args)} positional input(s){' and keyword(s) ' + ', '.join(kwargs) if kwargs else ''}"
        ) from None


def _binds(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    try:
        inspect.signature(forward_of(model)).bind(*args, **kwargs)
    except TypeError:
        return False
    except ValueError:  # no signature to check against
        return True
    return True


def split_trailing_kwargs(model: Any, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """torch.onnx's convention: a dict at the end of `args` holds the keyword inputs, and an empty
    dict there means "no keyword inputs" (so that a dict can be the last positional input).

    A trailing dict whose keys are not all strings, or that forward() cannot take as keywords
    while it can take it as its last positional input (`forward(self, batch)` given
    `({"ids": ..., "mask": ...},)`), is that positional input.
    """
    if not args or not isinstance(args[-1], dict):
        return args, {}
    last, rest = args[-1], args[:-1]
    if not last:
        return rest, {}
    if not all(isinstance(k, str) for k in last):
        return args, {}
    if isinstance(model, ExportedProgram) or _binds(model, rest, last) or not _binds(model, args, {}):
        return rest, dict(last)
    return args, {}


def named_inputs(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
    """(parameter name, value) for the args then the kwargs, in torch.export's order."""
    return list(zip(parameter_names(model, len(args)), args)) + list(kwargs.items())


def _leaves(value: Any, parameter: str, path: tuple[Any, ...]) -> Iterator[TensorLeaf]:
    if isinstance(value, torch.Tensor):
        yield TensorLeaf(parameter, path, value)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _leaves(item, parameter, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, parameter, (*path, key))
    elif type(value) in pytree.SUPPORTED_NODES:  # a class registered with pytree (a transformers cache)
        for index, item in enumerate(_children(value)):
            yield from _leaves(item, parameter, (*path, index))


def _children(value: Any) -> list[Any]:
    """The children of a pytree node of a registered class, as torch.export flattens it."""
    return list(pytree.SUPPORTED_NODES[type(value)].flatten_fn(value)[0])


def tensor_leaves(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[TensorLeaf]:
    """Every tensor input, in the order the ONNX graph lists them."""
    return [leaf for name, value in named_inputs(model, args, kwargs) for leaf in _leaves(value, name, ())]


def shape_spec_leaves(value: Any, spec: Any) -> Iterator[Any]:
    """Walk a dynamic_shapes entry alongside its input: the spec of each tensor leaf."""
    if isinstance(value, torch.Tensor):
        yield spec
    elif isinstance(value, (list, tuple)):
        specs = spec if isinstance(spec, (list, tuple)) else [None] * len(value)
        for item, item_spec in zip(value, specs):
            yield from shape_spec_leaves(item, item_spec)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from shape_spec_leaves(item, spec.get(key) if isinstance(spec, dict) else None)
    elif type(value) in pytree.SUPPORTED_NODES:  # its dynamic_shapes entry lists its children's
        children = _children(value)
        specs = spec if isinstance(spec, (list, tuple)) else [None] * len(children)
        for item, item_spec in zip(children, specs):
            yield from shape_spec_leaves(item, item_spec)
