"""A YAML loader that remembers the line of every mapping and rejects duplicate keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aten2onnx.codegen.errors import ErrorCollector, Location

LINE_KEY = "__line__"


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings carry `__line__` (1-based) and refuse repeated keys."""

    collector: ErrorCollector
    file: str

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.collector.add(
                    Location(self.file, line),
                    f"duplicate key '{key}' (first written on line {seen[key]}); keep one",
                )
            seen[key] = line
        mapping = super().construct_mapping(node, deep=deep)
        mapping[LINE_KEY] = node.start_mark.line + 1
        return mapping


class LinedList(list):
    """A YAML sequence that remembers the 1-based line of each item."""

    item_lines: list[int]


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LinedList:
    items = LinedList(loader.construct_sequence(node, deep=True))
    items.item_lines = [child.start_mark.line + 1 for child in node.value]
    return items


def item_line(items: Any, index: int, fallback: int) -> int:
    lines = getattr(items, "item_lines", None)
    return lines[index] if lines and index < len(lines) else fallback


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping
)


def load_yaml(path: Path, display_name: str, collector: ErrorCollector) -> Any:
    """Parse one spec file; syntax errors are recorded, not raised."""
    loader = _LineLoader(path.read_text(encoding="utf-8"))
    loader.collector = collector
    loader.file = display_name
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        collector.add(Location(display_name, line), f"YAML syntax error: {problem}")
        return None
    finally:
        loader.dispose()
