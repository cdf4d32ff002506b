"""What a generated function declares, checked while it runs: the ONNX ops it may emit and the
refusals its Python may raise.

Every generated symbolic function is decorated with `@declared(source, emits, refusals)`
(codegen writes it from the spec). While the function runs, `GraphBuilder.op` refuses an
op outside `emits` at the target opset, naming the spec file and line: an `impl`'s `emits:`
is thus proven by every export and every differential test that runs it. `g.refuse("id")`
raises the spec's constraint with that id (its message and line live in the YAML).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

_ITEM = re.compile(r"^([\w.:]+?)(?:>=(\d+))?(?:<(\d+))?$")

if TYPE_CHECKING:  # graph_builder imports this module
    from aten2onnx.exporter.emit.graph_builder import GraphBuilder


class UndeclaredOpError(RuntimeError):
    """A mapping emitted an ONNX op its spec does not declare (a bug in aten2onnx, not in the model)."""


class UndeclaredRefusalError(RuntimeError):
    """Python refused with a constraint id the spec of the op being translated does not declare."""


def _parse(item: str) -> tuple[str, int, int]:
    match = _ITEM.match(item)
    if match is None:
        raise ValueError(f"bad emits item {item!r}")
    op, first, until = match.groups()
    return op, int(first) if first else 0, int(until) - 1 if until else 10**6


@dataclass(frozen=True)
class Declaration:
    source: str                                   # the spec entry, `opspecs/nn.yaml:150`
    emits: tuple[tuple[str, int, int], ...]       # (op, first opset, last opset); custom domains as `dom::Op`
    refusals: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (message, constraint line)
    _allowed: dict[int, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    def allows(self, op: str, opset: int) -> bool:
        allowed = self._allowed.get(opset)
        if allowed is None:
            allowed = self._allowed[opset] = frozenset(o for o, first, last in self.emits if first <= opset <= last)
        return op in allowed

    def opsets_of(self, op: str) -> str:
        spans = [f"{first}+" if last >= 10**6 else f"up to {last}" if first == 0 else f"{first}-{last}"
                 for o, first, last in self.emits if o == op]
        return ", ".join(spans)


def declared(source: str, emits: tuple[str, ...],
             refusals: Mapping[str, tuple[str, str]] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a generated function with what its spec declares (see the module docstring)."""
    declaration = Declaration(source, tuple(_parse(item) for item in emits), dict(refusals or {}))

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def run(g: GraphBuilder, *args: Any, **kwargs: Any) -> Any:
            saved, g.declared = g.declared, declaration
            try:
                return function(g, *args, **kwargs)
            finally:
                g.declared = saved
        run.declaration = declaration  # type: ignore[attr-defined]
        return run
    return wrap
