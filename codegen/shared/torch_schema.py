"""Argument names and types of an ATen overload, read from torch's live schema."""

from __future__ import annotations

import importlib
import keyword
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch

# Generated functions take `g` (the graph builder) and use `h` (emit helpers).
_RESERVED = frozenset({"g", "h"})


def python_name(name: str) -> str:
    """A schema argument name as a Python parameter (`from` -> `from_`, `g` -> `g_`)."""
    return name + "_" if keyword.iskeyword(name) or name in _RESERVED else name


@dataclass(frozen=True)
class TorchArg:
    name: str
    type: str            # torch's own spelling: 'Tensor', 'Optional[Tensor]', 'List[int]', 'number'
    kwarg_only: bool
    has_default: bool
    default: Any
    mutated: bool = False  # `Tensor(a!)`: the op writes into it

    @property
    def base_type(self) -> str:
        """The type without Optional[...]."""
        t = self.type
        return t[len("Optional["):-1] if t.startswith("Optional[") else t

    @property
    def is_optional(self) -> bool:
        return self.type.startswith("Optional[")

    @property
    def is_tensor(self) -> bool:
        return self.base_type == "Tensor"

    @property
    def is_tensor_list(self) -> bool:
        return self.base_type in ("List[Tensor]", "List[Optional[Tensor]]")


@dataclass(frozen=True)
class TorchSchema:
    overload: str
    arguments: tuple[TorchArg, ...]
    returns: tuple[str, ...]

    def __repr__(self) -> str:
        return f"TorchSchema({self.overload})"

    def arg(self, name: str) -> TorchArg | None:
        return next((a for a in self.arguments if a.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arguments)


def resolve_overload(overload: str) -> torch._ops.OpOverload | None:
    """`aten::add.Tensor` -> torch.ops.aten.add.Tensor, or None if torch has no such overload."""
    namespace, rest = overload.split("::", 1)
    name, overload_name = rest.split(".", 1)
    try:
        packet = getattr(getattr(torch.ops, namespace), name)
        return getattr(packet, overload_name)
    except (AttributeError, RuntimeError):
        return None


def overload_names(overload: str) -> list[str]:
    """Overloads torch has for the op named in `overload` (for 'did you mean' messages)."""
    namespace, rest = overload.split("::", 1)
    try:
        packet = getattr(getattr(torch.ops, namespace), rest.split(".", 1)[0])
        return sorted(packet.overloads())
    except (AttributeError, RuntimeError):
        return []


# Ops of other libraries (and the exporter's own aten2onnx:: ops) that specs map, and the module whose
# import defines them. A model using such an op has imported it already; codegen and the op tests
# import it to read the schema.
NAMESPACE_PROVIDERS = {"transformers": "transformers.integrations.moe", "aten2onnx": "aten2onnx.exporter.capture.recurrent"}


def _import_provider(overload: str) -> None:
    namespace = overload.split("::", 1)[0]
    if namespace in NAMESPACE_PROVIDERS:
        try:
            importlib.import_module(NAMESPACE_PROVIDERS[namespace])
        except ImportError:  # the library is not installed: the overload stays unknown
            pass


@cache
def schema_of(overload: str) -> TorchSchema | None:
    op = resolve_overload(overload)
    if op is None:
        _import_provider(overload)
        op = resolve_overload(overload)
    if op is None:
        return None
    args = tuple(
        TorchArg(
            name=a.name,
            type=str(a.type),
            kwarg_only=a.kwarg_only,
            has_default=a.has_default_value(),
            default=a.default_value if a.has_default_value() else None,
            mutated=a.alias_info is not None and a.alias_info.is_write,
        )
        for a in op._schema.arguments
    )
    return TorchSchema(overload, args, tuple(str(r.type) for r in op._schema.returns))
