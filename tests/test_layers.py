"""The layers of aten2onnx, read from every module's imports (late imports included): a module
imports only the layers its rule allows, so no import cycle can form between layers.

    tools > api > torchscript > translate > capture > registry > options > rewrite > write
      > generated > emit > root (errors, dtypes, progress, names) and codegen.shared

codegen (the build-time pipeline) imports codegen.shared and, to read the Python mappings,
exporter.emit; the exporter imports codegen's pipeline only in api and tools (user spec files),
and no private codegen name anywhere.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "aten2onnx"

# module prefix -> layer; the longest prefix wins
LAYER_OF = {
    "aten2onnx": "public",
    "aten2onnx.exporter": "exporter",
    "aten2onnx.exporter.errors": "root",
    "aten2onnx.exporter.dtypes": "root",
    "aten2onnx.exporter.progress": "root",
    "aten2onnx.exporter.names": "root",
    "aten2onnx.exporter.options": "options",
    "aten2onnx.exporter.emit": "emit",
    "aten2onnx.exporter.capture": "capture",
    "aten2onnx.exporter.translate": "translate",
    "aten2onnx.exporter.translate.registry": "registry",
    "aten2onnx.exporter.torchscript": "torchscript",
    "aten2onnx.exporter.rewrite": "rewrite",
    "aten2onnx.exporter.write": "write",
    "aten2onnx.exporter.api": "api",
    "aten2onnx.exporter.tools": "tools",
    "aten2onnx.generated": "generated",
    "aten2onnx.codegen": "codegen",
    "aten2onnx.codegen.shared": "shared",
}
_BELOW_REGISTRY = {"options", "rewrite", "write", "generated", "emit", "root", "shared"}
ALLOWED = {
    "root": {"root"},
    "shared": {"shared"},
    "emit": {"emit", "root", "shared"},
    "generated": {"generated", "emit"},
    "write": {"write", "root"},
    "rewrite": {"rewrite", "write", "emit", "root", "shared"},
    "options": {"options", "rewrite", "generated", "root"},
    "registry": {"registry", "generated", "root", "shared"},
    "capture": {"capture", "registry"} | _BELOW_REGISTRY,
    "translate": {"translate", "capture", "registry"} | _BELOW_REGISTRY,
    "torchscript": {"torchscript", "translate", "capture", "registry"} | _BELOW_REGISTRY,
    "api": {"api", "torchscript", "translate", "capture", "registry", "codegen", "public"} | _BELOW_REGISTRY,
    "tools": {"tools", "api", "torchscript", "translate", "capture", "registry", "codegen", "public"} | _BELOW_REGISTRY,
    "exporter": set(),
    "public": set(),  # aten2onnx/__init__.py names its modules as strings and imports them on first use
    # codegen reads the Python mappings (emit) and renders SUPPORT.md with the dtypes and ONNX
    # Runtime's kernel gaps (rewrite/ort_kernel_gaps.py, a data table)
    "codegen": {"codegen", "shared", "emit", "root", "rewrite"},
}
SOURCES = ("exporter", "codegen", "generated")


def _layer(module: str) -> str | None:
    best = None
    for prefix in LAYER_OF:
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best)):
            best = prefix
    return LAYER_OF[best] if best else None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _type_only(tree: ast.Module) -> set[ast.AST]:
    """Imports under `if TYPE_CHECKING:`: read by the type checker only, they cannot close a cycle."""
    return {node for block in ast.walk(tree) if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
            for stmt in block.body for node in ast.walk(stmt)}


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names) of every absolute import of the project in the file."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_only(tree)
    for node in ast.walk(tree):
        if node in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == PACKAGE:
                for alias in node.names:  # `from aten2onnx.exporter import errors`: the member if it is a module
                    member = f"{node.module}.{alias.name}"
                    target = member if _is_module(member) else node.module
                    found.append((node.lineno, target, [alias.name]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "<relative>", []))
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (ROOT / relative).with_suffix(".py").is_file() or (ROOT / relative / "__init__.py").is_file()


def _python_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_every_import_follows_the_layer_rules() -> None:
    files = _python_files()
    assert len(files) > 100, "found too few modules: the layer check would check nothing"
    problems = []
    for path in files:
        source = _module_name(path)
        layer = _layer(source)
        assert layer is not None, f"{path.relative_to(ROOT)}: module {source} has no layer in tests/test_layers.py"
        for line, target, names in _imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if target == "<relative>":
                problems.append(f"{where}: relative import; write it absolute under aten2onnx")
                continue
            if target.startswith("aten2onnx.codegen.") and any(n.startswith("_") for n in names) \
                    and _layer(source) != "codegen" and _layer(source) != "shared":
                problems.append(f"{where}: imports the private codegen name(s) {names}; make it public")
            target_layer = _layer(target)
            if target_layer is None or target_layer in ALLOWED[layer]:
                continue
            problems.append(f"{where}: {layer} ({source}) imports {target_layer} ({target}); "
                            f"{layer} may import only {', '.join(sorted(ALLOWED[layer])) or 'nothing of the project'}")
    assert not problems, "layer rules broken (tests/test_layers.py says which layer may import which):\n" + \
        "\n".join(problems)


@pytest.mark.parametrize("statement", ["import aten2onnx", "import aten2onnx.exporter",
                                       "import aten2onnx.exporter.translate.translator"])
def test_importing_the_exporter_loads_only_shared_codegen(statement: str) -> None:
    code = (f"{statement}\nimport sys\n"
            "print('\\n'.join(m for m in sys.modules if m.startswith(('aten2onnx.codegen', 'codegen', 'exporter', "
            "'generated'))))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    loaded = run.stdout.split()
    outside = [m for m in loaded if not m.startswith("aten2onnx.codegen.shared") and m != "aten2onnx.codegen"]
    assert not outside, f"`{statement}` loaded codegen modules outside codegen/shared (or old top-level names): {outside}"
