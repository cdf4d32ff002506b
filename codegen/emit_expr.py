"""The `emit:` language: a checked subset of Python.

An emit is one expression, or a block of statements ending in `return` on every path:

- `Relu(self)`: a capitalised call is an ONNX op; positional arguments are inputs, keyword
  arguments are attributes, `_outputs=N` asks for N outputs (a tuple), and
  `_domain="com.example"` puts the op in a custom domain (not checked against onnx.defs).
- `ints([dim])`: a lower-case call is a helper: a Python one from `exporter/emit/helpers.py`,
  or a spec helper (a `- helper:` item of a spec file, itself written in this language).
- Names are the op's schema arguments (a helper's: its `params`), `opset` (the target opset)
  and the names the block assigns.
- Expressions: conditionals (`a if alpha == 1 else b`), arithmetic, comparisons, lists,
  tuples, subscripts, `*list` and `(q := Div(a, b))`. Statements: `name = expr` (also
  `y, mean = Op(..., _outputs=2)`), `if ...: / elif ...: / else:` and `return expr`.
- A list comprehension `[expr for name in iterable]` (one `for`, at most one `if`, no
  comprehension inside another) maps over a list known at export time: `range(...)`, a list
  argument, `zip(...)`, `enumerate(...)`. Its loop variable (a name, or a tuple of names) is in
  scope inside the comprehension only and must not shadow an argument, `opset`, a builtin, a name
  the block assigns or one the generated code uses. ONNX ops inside are checked as anywhere else;
  a variadic op takes one as `*[...]` (`Concat(*[... for d in range(n)], axis=0)`).
  Everything else (`for` statements, lambda, generator expressions, attribute access, imports,
  ...) is not allowed.
- A test that depends only on `opset` (`if opset >= 13:`) is decided per opset by codegen: only
  the branch taken is checked against onnx.defs at that opset, and counts for the first opset.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

BUILTINS = frozenset({"len", "int", "float", "bool", "min", "max", "abs", "list", "tuple", "range", "sum", "zip",
                      "enumerate"})
SPECIAL_NAMES = frozenset({"opset"})
# Names the rendered function's module binds (the builder, the helper modules, builtins): a block
# that assigns one shadows it for the rest of the function.
GENERATED_NAMES = frozenset({"g", "h", "s", "builtins", "declared"})
OUTPUTS_KEYWORD = "_outputs"
DOMAIN_KEYWORD = "_domain"
DEFAULT_DOMAINS = ("", "ai.onnx")

_STATEMENTS = (ast.Assign, ast.If, ast.Return)
_ALLOWED_NODES = (
    ast.Module, *_STATEMENTS,
    ast.Expression, ast.Call, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.keyword,
    ast.IfExp, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Subscript, ast.Slice,
    ast.Starred, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult,
    ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt,
    ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn, ast.NamedExpr, ast.Store,
    ast.ListComp, ast.comprehension,
)


@dataclass(frozen=True)
class OnnxCall:
    """One ONNX op use inside an expression, as codegen checks it against onnx.defs."""

    op_type: str
    inputs: tuple[ast.expr, ...]
    attributes: tuple[tuple[str, ast.expr], ...]
    has_starred_input: bool
    domain: str = ""

    @property
    def is_standard(self) -> bool:
        """True for the default ONNX domain, whose ops onnx.defs defines."""
        return self.domain in DEFAULT_DOMAINS


def is_onnx_op_name(name: str) -> bool:
    return name[:1].isupper()


def parse(text: str) -> ast.Expression:
    """Parse an expression; raises SyntaxError (with .msg) on bad syntax."""
    return ast.parse(text, mode="eval")


def parse_program(text: str) -> ast.Module:
    """An emit as a block: one expression `e` is the block `return e`. Raises SyntaxError."""
    try:
        expression = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return ast.parse(text.strip(), mode="exec")
    return ast.fix_missing_locations(ast.Module([ast.Return(expression.body)], type_ignores=[]))


def is_single_expression(tree: ast.Module) -> bool:
    return len(tree.body) == 1 and isinstance(tree.body[0], ast.Return)


def returns_on_every_path(statements: list[ast.stmt]) -> bool:
    """True when the block ends in `return`, or in an if/else whose branches all do."""
    if not statements:
        return False
    last = statements[-1]
    if isinstance(last, ast.Return):
        return True
    if isinstance(last, ast.If):
        return returns_on_every_path(last.body) and returns_on_every_path(last.orelse)
    return False


def disallowed_syntax(tree: ast.AST) -> list[str]:
    """The outermost constructs the language does not allow (their insides are not reported)."""
    problems = []
    pending = [tree]
    while pending:
        node = pending.pop()
        if not isinstance(node, _ALLOWED_NODES):
            kind = "statement" if isinstance(node, ast.stmt) else "expression"
            loop = isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.GeneratorExp))
            problems.append(f"'{type(node).__name__}' is not allowed in a spec {kind}"
                            + (": a block holds assignments, if/elif/else and return" if kind == "statement" else "")
                            + ("; map over a static list with a list comprehension `[f(a) for a in range(n)]`"
                               if loop else ""))
            continue
        if isinstance(node, ast.Assign) and not (len(node.targets) == 1 and _plain_target(node.targets[0])):
            problems.append("an assignment names one value (`x = ...`) or unpacks outputs (`y, mean = ...`)")
            continue
        if isinstance(node, ast.Return) and node.value is None:
            problems.append("`return` needs a value")
            continue
        if isinstance(node, ast.ListComp):
            problem = _comprehension_problem(node)
            if problem:
                problems.append(problem)
                continue
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            callee = type(node.func).__name__
            problems.append(f"'{callee}' is not allowed in a spec expression" if not isinstance(node.func, _ALLOWED_NODES)
                            else "only plain calls like Op(...) or helper(...) are allowed")
            continue
        pending.extend(reversed(list(ast.iter_child_nodes(node))))
    return problems


def _comprehension_problem(node: ast.ListComp) -> str | None:
    """Why a list comprehension is outside the language (one `for` over a static list, at most one
    `if`, no comprehension or `:=` inside), or None."""
    if len(node.generators) != 1:
        return "a list comprehension takes one `for` (`[f(a) for a in range(n)]`); nest none in another"
    generator = node.generators[0]
    if generator.is_async:
        return "'async for' is not allowed in a spec comprehension"
    if len(generator.ifs) > 1:
        return "a list comprehension takes at most one `if` (join conditions with `and`)"
    if not _plain_target(generator.target):
        return "a comprehension's loop variable is a name or a tuple of names (`for a, b in zip(...)`)"
    inner = [n for part in (node.elt, generator.iter, *generator.ifs) for n in ast.walk(part)]
    if any(isinstance(n, (ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)) for n in inner):
        return "a list comprehension cannot hold another comprehension; move the inner one into a spec helper"
    if any(isinstance(n, ast.NamedExpr) for n in inner):
        return "`:=` is not allowed inside a list comprehension (it would bind outside it)"
    return None


def _plain_target(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts)


def assigned_names(tree: ast.AST) -> set[str]:
    """Names the block binds: assignment targets and `:=` (not comprehension loop variables, which
    are bound inside their comprehension only)."""
    loop = {id(n) for c in ast.walk(tree) if isinstance(c, ast.comprehension) for n in ast.walk(c.target)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and id(n) not in loop}


def loop_variables(tree: ast.AST) -> list[str]:
    """The loop variables of the comprehensions in `tree`."""
    return [n.id for c in ast.walk(tree) if isinstance(c, ast.comprehension)
            for n in ast.walk(c.target) if isinstance(n, ast.Name)]


def shadowing_problems(tree: ast.AST, reserved: set[str]) -> list[str]:
    """A comprehension's loop variable must not shadow an argument, `opset`, a builtin, a name the
    generated code uses, or (in `reserved`) a name the block or helper binds."""
    problems = []
    for name in loop_variables(tree):
        if name in reserved | SPECIAL_NAMES | BUILTINS | GENERATED_NAMES:
            what = ("an argument or a name the emit assigns" if name in reserved else "`opset`" if name in SPECIAL_NAMES
                    else "a builtin" if name in BUILTINS else "a name the generated code uses")
            problems.append(f"the comprehension's loop variable '{name}' shadows {what}; rename it")
    return problems


def static_truth(test: ast.expr, opset: int) -> bool | None:
    """The value of a test at `opset` when it depends on `opset` and constants only; else None.

    `opset >= 13 and is_float(x)` is False below 13 (and unknown from 13): and/or/not combine
    known and unknown parts as three-valued logic.
    """
    if isinstance(test, ast.BoolOp):
        values = [static_truth(v, opset) for v in test.values]
        if isinstance(test.op, ast.And):
            return False if False in values else (True if all(v is True for v in values) else None)
        return True if True in values else (False if all(v is False for v in values) else None)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        value = static_truth(test.operand, opset)
        return None if value is None else not value
    names = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
    if names != {"opset"} or any(isinstance(n, ast.Call) for n in ast.walk(test)):
        return None
    try:
        return bool(eval(compile(ast.Expression(test), "<opset test>", "eval"), {"__builtins__": {}}, {"opset": opset}))  # noqa: S307
    except Exception:  # not a comparison of numbers: leave it to run time
        return None


class _Reachable(ast.NodeVisitor):
    """The nodes of a block that run at one opset: branches of opset-only tests not taken are
    skipped, and so are the statements after an `if` that returns on every branch taken."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[ast.AST] = []

    def generic_visit(self, node: ast.AST) -> None:
        self.nodes.append(node)
        super().generic_visit(node)

    def statements(self, block: list[ast.stmt]) -> bool:
        """Visit a block; True when every path through it has returned."""
        for statement in block:
            if isinstance(statement, ast.If):
                self.nodes.append(statement)
                self.visit(statement.test)
                taken = static_truth(statement.test, self.opset)
                body = self.statements(statement.body) if taken is not False else True
                orelse = self.statements(statement.orelse) if taken is not True else True
                if body and orelse and (taken is not None or statement.orelse):
                    return True
                continue
            self.visit(statement)
            if isinstance(statement, ast.Return):
                return True
        return False

    def visit_Module(self, node: ast.Module) -> None:
        self.nodes.append(node)
        self.statements(node.body)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self.nodes.append(node)
        for generator in node.generators:
            self.visit(generator)
        if all(static_truth(test, self.opset) is not False for g in node.generators for test in g.ifs):
            self.visit(node.elt)  # an `if opset ...` clause false here: the element never runs

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.nodes.append(node)
        self.visit(node.test)
        taken = static_truth(node.test, self.opset)
        if taken is not False:
            self.visit(node.body)
        if taken is not True:
            self.visit(node.orelse)


def reachable_nodes(tree: ast.AST, opset: int | None) -> list[ast.AST]:
    """Every node of the tree (opset None), or those that run at `opset`."""
    if opset is None:
        return list(ast.walk(tree))
    finder = _Reachable(opset)
    finder.visit(tree)
    return finder.nodes


def onnx_calls(tree: ast.AST, opset: int | None = None) -> list[OnnxCall]:
    """The ONNX op calls of an emit (at `opset`: only those on branches taken there)."""
    calls = []
    for node in reachable_nodes(tree, opset):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and is_onnx_op_name(node.func.id):
            domain = next((k.value for k in node.keywords if k.arg == DOMAIN_KEYWORD), None)
            calls.append(OnnxCall(
                op_type=node.func.id,
                inputs=tuple(node.args),
                attributes=tuple((k.arg, k.value) for k in node.keywords  # `**kw` (arg None): not allowed in specs
                                 if k.arg is not None and k.arg not in (OUTPUTS_KEYWORD, DOMAIN_KEYWORD)),
                has_starred_input=any(isinstance(a, ast.Starred) for a in node.args),
                domain=domain.value if isinstance(domain, ast.Constant) and isinstance(domain.value, str) else "",
            ))
    return calls


def helper_calls(tree: ast.AST, opset: int | None = None) -> list[str]:
    """Lower-case calls (Python or spec helpers), at `opset` only those on branches taken there."""
    return [
        node.func.id for node in reachable_nodes(tree, opset)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and not is_onnx_op_name(node.func.id) and node.func.id not in BUILTINS
    ]


def call_sites(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name]


def bound_names(tree: ast.AST) -> set[str]:
    """Names an expression binds with `:=`."""
    return {n.target.id for n in ast.walk(tree) if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name)}


def referenced_names(tree: ast.AST) -> set[str]:
    """Names read (not called), but not a comprehension's loop variable read inside it."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    local = set()
    for comp in (n for n in ast.walk(tree) if isinstance(n, ast.ListComp)):
        generator = comp.generators[0]
        bound = {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
        # the iterable is read in the enclosing scope; the element and the `if` see the loop variable
        local |= {id(n) for part in (comp.elt, *generator.ifs) for n in ast.walk(part)
                  if isinstance(n, ast.Name) and n.id in bound}
        local |= {id(n) for n in ast.walk(generator.target)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called and id(n) not in local}


class _ToPython(ast.NodeTransformer):
    """`Relu(x)` -> `g.op("Relu", x)`; `ints(x)` -> `h.ints(g, x)`; a spec helper `moments(x)` ->
    `s.moments(g, x)`; `opset` -> `g.opset`."""

    def __init__(self, renames: dict[str, str], spec_helpers: frozenset[str] = frozenset(), prefix: str = "s"):
        self.renames = renames
        self.spec_helpers = spec_helpers
        self.prefix = prefix  # the generated spec_helpers module ("" inside it)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        if is_onnx_op_name(name):
            func = ast.Attribute(ast.Name("g", ast.Load()), "op", ast.Load())
            return ast.Call(func, [ast.Constant(name), *node.args], node.keywords)
        if name in BUILTINS:
            # builtins.min, not min: generated modules define functions named after ops (min, abs, ...)
            node.func = ast.Attribute(ast.Name("builtins", ast.Load()), name, ast.Load())
            return node
        if name in self.spec_helpers and not self.prefix:
            return ast.Call(node.func, [ast.Name("g", ast.Load()), *node.args], node.keywords)
        module = self.prefix if name in self.spec_helpers else "h"
        func = ast.Attribute(ast.Name(module, ast.Load()), name, ast.Load())
        return ast.Call(func, [ast.Name("g", ast.Load()), *node.args], node.keywords)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "opset":
            return ast.Attribute(ast.Name("g", ast.Load()), "opset", ast.Load())
        return ast.Name(self.renames.get(node.id, node.id), node.ctx)


def to_python(tree: ast.Expression, renames: dict[str, str] | None = None,
              spec_helpers: frozenset[str] = frozenset()) -> str:
    """Render a checked expression as the Python a generated symbolic function runs."""
    copy = parse(ast.unparse(tree))
    converted = ast.fix_missing_locations(_ToPython(renames or {}, spec_helpers).visit(copy))
    return ast.unparse(converted.body)


def to_python_lines(tree: ast.Module, renames: dict[str, str] | None = None,
                    spec_helpers: frozenset[str] = frozenset(), prefix: str = "s") -> list[str]:
    """Render a checked block as the lines of a generated function's body (unindented)."""
    copy = ast.parse(ast.unparse(tree), mode="exec")
    converted = ast.fix_missing_locations(_ToPython(renames or {}, spec_helpers, prefix).visit(copy))
    return ast.unparse(converted).splitlines()
