"""What the Python behind the specs can do, read from its source without importing it.

For every function of exporter/emit/lib/*.py, exporter/emit/helpers.py and exporter/emit/symint_ops.py:
the ONNX ops it names (a string literal that is an ONNX operator, `g.op("Gather", ...)` or
`c.reduce(g, "ReduceMax", ...)`; `g.cast`/`g.promote` emit Cast), the functions it calls or
passes around, and the refusals it raises (`g.refuse("id")`, or `refusal="id"` handed to a
helper that refuses on its caller's behalf). `reach(function)` follows the calls, so codegen
can check an `impl`'s declared `emits:` and its spec's constraint ids against what its Python
may do, and derive what an `emit:` may emit through the helpers it calls.

The reading is a sound over-approximation for this code base's style: op names are literals,
calls go to module functions by name or through module aliases (`c.`, `h.`, `nn_ops.`).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from aten2onnx.codegen.shared.onnx_schema import first_opset
from aten2onnx.exporter import emit
from aten2onnx.exporter.emit import lib as impl_lib

ROOT = Path(__file__).resolve().parent.parent
# The Python mappings are found through the import system (emit and lib are docstring-only
# packages, cheap to import), not through paths written here.
IMPL_PACKAGE = impl_lib.__name__
HELPERS_MODULE = f"{emit.__name__}.helpers"
LIB_MODULES = (HELPERS_MODULE, f"{emit.__name__}.symint_ops")  # besides the lib package's modules
REFUSE_METHOD = "refuse"
REFUSAL_KEYWORD = "refusal"
# GraphBuilder methods that append nodes of a fixed type
_BUILDER_OPS = {"cast": "Cast", "promote": "Cast"}


@dataclass
class FunctionFacts:
    """One function (or a module-level value built by calling one, symint_ops' `add = _binary("Add")`)."""

    module: str
    name: str
    line: int
    params: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    defaults: set[str] = field(default_factory=set)   # parameters with a default value
    ops: set[str] = field(default_factory=set)
    refers: set[tuple[str, str]] = field(default_factory=set)  # (module, name) called or passed around
    refusals: set[str] = field(default_factory=set)

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Reach:
    """What calling a function may do: op -> the call chain that reaches it, and the same for refusals."""

    ops: dict[str, str]
    refusals: dict[str, str]


def _is_onnx_op(text: str) -> bool:
    return text[:1].isupper() and text.isidentifier() and first_opset(text) is not None


class _ModuleReader:
    def __init__(self, module: str, path: Path):
        self.module = module
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.aliases: dict[str, str] = {}  # local name -> module, for `from aten2onnx.exporter.emit.lib import common as c`
        self.imported: dict[str, tuple[str, str]] = {}  # local name -> (module, name)
        self.functions: dict[str, FunctionFacts] = {}
        self.constants: dict[str, ast.AST] = {}  # module-level names bound to values
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if source_path(full).is_file():
                        self.aliases[alias.asname or alias.name] = full
                    else:
                        self.imported[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.constants[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.constants[node.target.id] = node.value

    def read(self) -> dict[str, FunctionFacts]:
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                facts = FunctionFacts(self.module, node.name, node.lineno)
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                facts.params = [a.arg for a in arguments]
                facts.annotations = {a.arg: ast.unparse(a.annotation) for a in arguments if a.annotation is not None}
                positional = node.args.posonlyargs + node.args.args
                facts.defaults = {a.arg for a in positional[len(positional) - len(node.args.defaults):]}
                facts.defaults |= {a.arg for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None}
                self._scan(node, facts)
                self.functions[node.name] = facts
        for name, value in self.constants.items():
            if isinstance(value, ast.Call) and name not in self.functions:  # add = _binary("Add")
                facts = FunctionFacts(self.module, name, value.lineno)
                self._scan(value, facts)
                self.functions[name] = facts
        return self.functions

    def _resolve(self, node: ast.expr) -> tuple[str, str] | None:
        if isinstance(node, ast.Name):
            if node.id in self.imported:
                return self.imported[node.id]
            return (self.module, node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in self.aliases:
            return (self.aliases[node.value.id], node.attr)
        return None

    def _scan(self, root: ast.AST, facts: FunctionFacts, seen_constants: set[str] | None = None) -> None:
        seen_constants = seen_constants if seen_constants is not None else set()
        # parameters and local variables shadow module functions (`diagonal` in tril(g, self, diagonal))
        local = {a.arg for node in ast.walk(root) if isinstance(node, ast.arg) for a in [node]}
        local |= {node.id for node in ast.walk(root) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
        # `op == "ReduceSum"` and `{"LSTM": 4}[op]` read an op name, they do not emit one
        compared = {id(operand) for node in ast.walk(root) if isinstance(node, ast.Compare)
                    for operand in (node.left, *node.comparators)}
        compared |= {id(key) for node in ast.walk(root) if isinstance(node, ast.Dict) for key in node.keys}
        for node in ast.walk(root):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_onnx_op(node.value) \
                    and id(node) not in compared:
                facts.ops.add(node.value)
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in _BUILDER_OPS and isinstance(func.value, ast.Name) \
                        and func.value.id not in self.aliases:
                    facts.ops.add(_BUILDER_OPS[func.attr])
                if isinstance(func, ast.Attribute) and func.attr == REFUSE_METHOD and node.args \
                        and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    facts.refusals.add(node.args[0].value)
                for keyword in node.keywords:
                    if keyword.arg == REFUSAL_KEYWORD and isinstance(keyword.value, ast.Constant) \
                            and isinstance(keyword.value.value, str):
                        facts.refusals.add(keyword.value.value)
            if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load):
                if isinstance(node, ast.Name) and node.id in local:
                    continue
                target = self._resolve(node)
                if target is None:
                    continue
                module, name = target
                if module == self.module and name in self.constants and name not in seen_constants \
                        and not isinstance(self.constants[name], ast.Call):
                    seen_constants.add(name)  # a module-level table: what it names counts here
                    self._scan(self.constants[name], facts, seen_constants)
                elif module != self.module or name != facts.name:
                    facts.refers.add(target)


def source_path(module: str) -> Path:
    """The repo file of an `aten2onnx.*` module (aten2onnx/'s sub-packages link to the repo's folders)."""
    top = Path(sys.modules[module.split(".", 1)[0]].__file__ or "").parent
    return (top / (module.split(".", 1)[1].replace(".", "/") + ".py")).resolve()


def _module_paths() -> dict[str, Path]:
    folder = Path(impl_lib.__file__ or "").resolve().parent
    paths = {f"{IMPL_PACKAGE}.{p.stem}": p for p in sorted(folder.glob("*.py"))
             if p.stem != "__init__"}
    for module in LIB_MODULES:
        paths[module] = source_path(module)
    return paths


@cache
def index() -> dict[tuple[str, str], FunctionFacts]:
    """Every function of the analyzed modules by (module, name)."""
    found: dict[tuple[str, str], FunctionFacts] = {}
    for module, path in _module_paths().items():
        if path.is_file():
            for name, facts in _ModuleReader(module, path).read().items():
                found[(module, name)] = facts
    return found


def forget() -> None:
    """Drop what was read, so the next question reads the source again."""
    index.cache_clear()
    reach.cache_clear()


def function(dotted: str) -> FunctionFacts | None:
    module, _, name = dotted.rpartition(".")
    return index().get((module, name))


@cache
def reach(dotted: str) -> Reach:
    """What calling `dotted` may do, following every call into the analyzed modules."""
    known = index()
    module, _, name = dotted.rpartition(".")
    start = (module, name)
    ops: dict[str, str] = {}
    refusals: dict[str, str] = {}
    chains = {start: f"{module.rsplit('.', 1)[-1]}.{name}"}
    pending = [start]
    while pending:
        key = pending.pop(0)
        facts = known.get(key)
        if facts is None:
            continue
        for op in sorted(facts.ops):
            ops.setdefault(op, chains[key])
        for refusal in sorted(facts.refusals):
            refusals.setdefault(refusal, chains[key])
        for target in sorted(facts.refers):
            if target in known and target not in chains:
                chains[target] = f"{chains[key]} -> {target[0].rsplit('.', 1)[-1]}.{target[1]}"
                pending.append(target)
    return Reach(ops, refusals)
