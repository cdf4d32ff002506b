"""load_opspecs(path): a user's own YAML specs, checked and compiled at run time.

The files go through the same codegen as opspecs/ (parse, validate against the torch schema
and onnx.defs at every opset, render with the same templates), so they get the same
`file:line: message` errors. Typical use is an op defined with torch.library (`mylib::foo`),
mapped to ONNX ops or to a custom domain (`onnx: com.example::Foo`, or
`emit: Foo(x, _domain="com.example")`). The rendered functions are compiled in-process
and consulted before the generated registry.
"""

from __future__ import annotations

import linecache
import os
import types
from pathlib import Path

from aten2onnx.codegen.errors import ErrorCollector, Location, SpecErrors
from aten2onnx.codegen.load import parse_spec_files
from aten2onnx.codegen.model import HelperSpec, OpSpec
from aten2onnx.codegen.render import (
    FunctionPlan,
    environment,
    plan_functions,
    render_opset_module,
    render_spec_helpers,
)
from aten2onnx.codegen.validate import validate_specs
from aten2onnx.exporter.errors import OpspecError
from aten2onnx.exporter.translate import registry

_loaded: dict[str, list[tuple[str, int]]] = {}  # file -> the (op, since) entries it added


def _spec_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(path.glob("*.yaml"))
    raise OpspecError([f"{path}: no such file or folder; pass a spec .yaml file or a folder of them"])


def _execute(text: str, name: str, origin: str) -> types.ModuleType:
    """Run rendered source as a module; tracebacks show the rendered source."""
    filename = f"<aten2onnx user opspecs {origin} {name}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    module = types.ModuleType(f"aten2onnx_user_opspecs_{name}")
    exec(compile(text, filename, "exec"), module.__dict__)  # noqa: S102 - our own rendered code
    return module


def _compile(opset: int, specs: list[OpSpec], plan: FunctionPlan, origin: str,
             helpers: types.ModuleType | None) -> types.ModuleType:
    """Render the opset module for `specs` and execute it (with the user's spec helpers as `s`)."""
    module = _execute(render_opset_module(opset, specs, environment(), plan), f"opset{opset}", origin)
    if helpers is not None:
        module.s = helpers  # type: ignore[attr-defined]
    return module


def _builtin_helpers() -> dict[str, HelperSpec]:
    """The spec helpers of opspecs/ (generated/spec_helpers.py): user specs may call them."""
    from aten2onnx.generated import spec_helpers

    found = {}
    for name, (params, emit, source) in spec_helpers.SPECS.items():
        file, _, line = source.rpartition(":")
        found[name] = HelperSpec(name, params, emit, Location(file, int(line)))
    return found


def load_opspecs(path: str | os.PathLike[str]) -> list[str]:
    """Load, check and register the specs in `path` (a .yaml file or a folder); returns their ops.

    Raises OpspecError listing every problem as `file:line: message`; nothing is registered then.
    """
    path = Path(path)
    files = _spec_files(path)
    collector = ErrorCollector()
    if not files:
        collector.add(Location(path.as_posix(), 0), "no *.yaml spec files in this folder")
    parsed = parse_spec_files(files, Path.cwd(), collector)
    builtin = _builtin_helpers()
    own = dict(parsed.helpers)
    for name, helper in own.items():
        if name in builtin:
            collector.add(helper.location, f"helper '{name}' is already defined at {builtin[name].location} "
                                           "(a helper of aten2onnx's own specs); rename yours")
    parsed.helpers = {**builtin, **own}
    try:
        specs = validate_specs(parsed, collector)
    except SpecErrors as errors:
        raise OpspecError([str(e) for e in errors.errors]) from None
    helpers = None
    if own:
        text = render_spec_helpers(own, environment(), base="aten2onnx.generated.spec_helpers")
        helpers = _execute(text, "spec_helpers", path.as_posix())
    modules: dict[int, types.ModuleType] = {}
    added: list[tuple[str, int]] = []
    plan = plan_functions(specs)
    for spec in specs:
        for index, _ in enumerate(spec.variants):
            first, last = spec.variant_range(index)
            if first > last:
                continue
            opset, name = plan.placement[(spec.aten, index)]
            if opset not in modules:
                modules[opset] = _compile(opset, specs, plan, path.as_posix(), helpers)
            function = getattr(modules[opset], name)
            registry.user_specs.add(spec.aten, registry.Entry(first, function, str(spec.location)))
            added.append((spec.aten, first))
    for file in files:
        _loaded.setdefault(str(file.resolve()), []).extend(a for a in added if a[0] in _ops_of(specs, file))
    return sorted({spec.aten for spec in specs})


def _ops_of(specs: list[OpSpec], file: Path) -> set[str]:
    display = file.resolve().as_posix()
    return {s.aten for s in specs if Path(s.location.file).resolve().as_posix() == display}


def unload_opspecs(path: str | os.PathLike[str] | None = None) -> None:
    """Forget the specs loaded from `path` (a file or folder), or every loaded spec when None."""
    if path is None:
        registry.user_specs.entries.clear()
        _loaded.clear()
        return
    target = Path(path).resolve()
    for file in [f for f in _loaded if Path(f) == target or Path(f).parent == target]:
        for aten, since in _loaded.pop(file):
            registry.user_specs.remove(aten, since)
