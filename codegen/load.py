"""Read every spec file of a folder into OpSpecs, collecting all errors."""

from __future__ import annotations

from pathlib import Path

from aten2onnx.codegen.errors import ErrorCollector, Location
from aten2onnx.codegen.model import HelperSpec, SpecSet, parse_entry, parse_helper
from aten2onnx.codegen.validate import validate_specs
from aten2onnx.codegen.yaml_loader import item_line, load_yaml


def parse_spec_files(paths: list[Path], root: Path, collector: ErrorCollector) -> SpecSet:
    """Every entry (`- aten:`) and spec helper (`- helper:`) of the files; problems go to `collector`."""
    specs = SpecSet()
    for path in sorted(paths):
        display = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
        data = load_yaml(path, display, collector)
        if data is None:
            continue
        if not isinstance(data, list):
            collector.add(Location(display, 1), "a spec file is a YAML list of entries ('- aten: ...')")
            continue
        for index, raw in enumerate(data):
            if isinstance(raw, dict) and "helper" in raw:
                helper = parse_helper(raw, display, collector)
                if helper is not None:
                    _add_helper(specs, helper, collector)
                continue
            spec = parse_entry(raw, display, collector, item_line(data, index, 1))
            if spec is not None:
                specs.append(spec)
    return specs


def _add_helper(specs: SpecSet, helper: HelperSpec, collector: ErrorCollector) -> None:
    if helper.name in specs.helpers:
        collector.add(helper.location, f"helper '{helper.name}' is already defined at "
                                       f"{specs.helpers[helper.name].location}; spec helpers share one namespace")
        return
    specs.helpers[helper.name] = helper


def load_specs(folder: Path, root: Path | None = None) -> SpecSet:
    """Parse and validate every `*.yaml` in `folder`; raises SpecErrors listing every problem."""
    root = root or folder.parent
    collector = ErrorCollector()
    if not folder.is_dir():
        collector.add(Location(folder.as_posix(), 0), "spec folder not found; pass the folder holding the *.yaml specs")
        collector.raise_if_any()
    specs = parse_spec_files(list(folder.glob("*.yaml")), root, collector)
    return validate_specs(specs, collector)
