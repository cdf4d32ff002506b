"""register_custom_op_symbolic / unregister_custom_op_symbolic, as in torch.onnx.

A symbolic function has the classic signature `fn(g, *inputs, **attrs)`: it receives the
op's arguments in schema order (tensors as graph values, everything else as the Python value
torch.export recorded, kwarg-only arguments by keyword) and returns the ONNX value(s), built
with `g.op("Relu", x)` or `g.op("mydomain::Foo", x, alpha_f=0.5)`. Registering an `aten::`
name overrides the spec for that op.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from aten2onnx.codegen.shared.torch_schema import python_name, schema_of
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.translate import registry

_NAME = re.compile(r"^[A-Za-z_][\w]*::[A-Za-z_][\w]*(\.[\w]+)?$")


def _check_name(symbolic_name: Any) -> str:
    if not isinstance(symbolic_name, str) or not _NAME.match(symbolic_name):
        raise ExportArgumentError(
            f"symbolic_name must look like 'namespace::op' (for example 'mylib::foo' or 'aten::gelu'), "
            f"got {symbolic_name!r}"
        )
    return symbolic_name


def _check_opset(opset_version: Any) -> int:
    if not isinstance(opset_version, int) or isinstance(opset_version, bool) or not (
        1 <= opset_version <= registry.MAX_OPSET
    ):
        raise ExportArgumentError(
            f"opset_version={opset_version!r}: a custom symbolic serves from an opset between 1 and "
            f"{registry.MAX_OPSET} (it applies to every export at or above it)"
        )
    return opset_version


def _call_classic(fn: Callable[..., Any], g: GraphBuilder, **arguments: Any) -> Any:
    """Translate's keyword call -> the classic positional call, defaults filled from the schema."""
    schema = schema_of(g.overload)
    if schema is None:  # not an OpOverload torch knows: pass what was recorded, in order
        return fn(g, *arguments.values())
    positional, keywords = [], {}
    for arg in schema.arguments:
        key = python_name(arg.name)
        value = arguments[key] if key in arguments else arg.default
        if arg.kwarg_only:
            if key in arguments:
                keywords[arg.name] = value
        else:
            positional.append(value)
    return fn(g, *positional, **keywords)


def register_custom_op_symbolic(symbolic_name: str, symbolic_fn: Callable[..., Any], opset_version: int) -> None:
    """Use `symbolic_fn` for `symbolic_name` ('mylib::foo' or 'mylib::foo.overload') from `opset_version` on."""
    name = _check_name(symbolic_name)
    since = _check_opset(opset_version)
    if not callable(symbolic_fn):
        raise ExportArgumentError(f"symbolic_fn must be callable fn(g, *inputs, **attrs), got {symbolic_fn!r}")
    where = getattr(symbolic_fn, "__qualname__", repr(symbolic_fn))
    module = getattr(symbolic_fn, "__module__", None)
    source = f"register_custom_op_symbolic('{name}', {module + '.' if module else ''}{where}, {since})"
    adapted = functools.update_wrapper(functools.partial(_call_classic, symbolic_fn), symbolic_fn)
    registry.custom_symbolics.add(name, registry.Entry(since, adapted, source))


def unregister_custom_op_symbolic(symbolic_name: str, opset_version: int) -> None:
    """Remove the registration of `symbolic_name` made for `opset_version` (no error if absent)."""
    registry.custom_symbolics.remove(_check_name(symbolic_name), _check_opset(opset_version))
