"""Where translation finds the symbolic function of an op: one lookup, four layers.

0. the running export's custom_translation_table (aten2onnx.exporter.translate.translation_table), for that export only;
1. custom symbolics (`register_custom_op_symbolic`), newest registration first;
2. the user's own specs loaded at run time (`load_opspecs`);
3. the generated registry (opspecs/ rendered by codegen), the exporter's own ops included (the
   `aten2onnx::` ops it puts in the captured graph, such as aten2onnx::packed_rnn in opspecs/rnn.yaml).

Every layer answers "(overload, opset) -> function(g, **schema arguments)": the newest
entry whose first opset is at or below the target. A layer may name a whole op
(`mylib::foo`), which then serves every overload of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aten2onnx.generated import registry as generated

Symbolic = Callable[..., Any]
MIN_OPSET = generated.MIN_OPSET
MAX_OPSET = generated.MAX_OPSET


@dataclass(frozen=True)
class Entry:
    since: int
    function: Symbolic
    source: str  # where it was defined, for errors and reports


class _Layer:
    def __init__(self) -> None:
        self.entries: dict[str, list[Entry]] = {}

    def add(self, name: str, entry: Entry) -> None:
        kept = [e for e in self.entries.get(name, []) if e.since != entry.since]
        self.entries[name] = sorted([*kept, entry], key=lambda e: e.since)

    def remove(self, name: str, since: int | None = None) -> bool:
        before = self.entries.get(name, [])
        after = [e for e in before if since is not None and e.since != since]
        if after:
            self.entries[name] = after
        else:
            self.entries.pop(name, None)
        return len(after) != len(before)

    def find(self, overload: str, opset: int) -> Entry | None:
        for name in (overload, overload.rsplit(".", 1)[0]):
            found = None
            for entry in self.entries.get(name, ()):
                if entry.since <= opset:
                    found = entry
            if found is not None:
                return found
        return None

    def names(self) -> set[str]:
        return set(self.entries)


translation_table = _Layer()
custom_symbolics = _Layer()
user_specs = _Layer()


def _generated_entry(overload: str, opset: int) -> Entry | None:
    function = generated.lookup(overload, opset)
    if function is None:
        return None
    since = max(first for first, _ in generated.VARIANTS[overload] if first <= opset)  # the variant's own
    return Entry(since, function, generated.SOURCES[overload])


def find(overload: str, opset: int) -> Entry | None:
    """The entry that translates `overload` at `opset`, or None if nothing maps it."""
    return translation_table.find(overload, opset) or find_declared(overload, opset)


def find_declared(overload: str, opset: int) -> Entry | None:
    """The entry below the running export's custom_translation_table (what its functions fall back to)."""
    return (custom_symbolics.find(overload, opset) or user_specs.find(overload, opset)
            or _generated_entry(overload, opset))


def lookup(overload: str, opset: int) -> Symbolic | None:
    entry = find(overload, opset)
    return entry.function if entry is not None else None


def supported_ops(opset: int) -> list[str]:
    """Every overload (or whole op, for custom symbolics) with a mapping at `opset`, sorted."""
    names = set(generated.supported_ops(opset))
    for layer in (translation_table, custom_symbolics, user_specs):
        names.update(n for n in layer.names() if layer.find(n, opset) is not None)
    return sorted(names)


def complex_handling(overload: str, opset: int) -> object:
    """How `overload` takes complex tensors at `opset` (its spec's `complex:`): "native", "parts",
    the mapping for complex inputs, or None (it refuses them). Only generated specs say so."""
    if custom_symbolics.find(overload, opset) or user_specs.find(overload, opset):
        return None
    return generated.COMPLEX.get(overload)


def source_of(overload: str) -> str | None:
    """Where the newest mapping of `overload` comes from (spec file:line or registration)."""
    entry = find(overload, MAX_OPSET)
    return entry.source if entry is not None else None
