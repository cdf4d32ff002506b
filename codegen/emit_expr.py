"""The `emit:` expression language: a checked subset of Python expressions.

- `Relu(self)`: a capitalised call is an ONNX op; positional arguments are inputs, keyword
  arguments are attributes, `_outputs=N` asks for N outputs (a tuple), and
  `_domain="com.example"` puts the op in a custom domain (not checked against onnx.defs).
- `ints([dim])`: a lower-case call is a helper from `exporter/emit_helpers.py`.
- Names are the op's schema arguments, plus `opset` (the target opset).
- Conditionals (`a if alpha == 1 else b`), arithmetic, comparisons, lists, tuples,
  subscripts, `*list` and `(q := Div(a, b))` (to reuse a value) are allowed; everything
  else (lambda, attribute access, ...) is not.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

BUILTINS = frozenset({"len", "int", "float", "bool", "min", "max", "abs", "list", "tuple", "range"})
SPECIAL_NAMES = frozenset({"opset"})
OUTPUTS_KEYWORD = "_outputs"
DOMAIN_KEYWORD = "_domain"
DEFAULT_DOMAINS = ("", "ai.onnx")

_ALLOWED_NODES = (
    ast.Expression, ast.Call, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.keyword,
    ast.IfExp, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Subscript, ast.Slice,
    ast.Starred, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult,
    ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt,
    ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn, ast.NamedExpr, ast.Store,
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


def disallowed_syntax(tree: ast.AST) -> list[str]:
    """The outermost constructs the language does not allow (their insides are not reported)."""
    problems = []
    pending = [tree]
    while pending:
        node = pending.pop()
        if not isinstance(node, _ALLOWED_NODES):
            problems.append(f"'{type(node).__name__}' is not allowed in a spec expression")
            continue
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            callee = type(node.func).__name__
            problems.append(f"'{callee}' is not allowed in a spec expression" if not isinstance(node.func, _ALLOWED_NODES)
                            else "only plain calls like Op(...) or helper(...) are allowed")
            continue
        pending.extend(reversed(list(ast.iter_child_nodes(node))))
    return problems


def onnx_calls(tree: ast.AST) -> list[OnnxCall]:
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and is_onnx_op_name(node.func.id):
            domain = next((k.value for k in node.keywords if k.arg == DOMAIN_KEYWORD), None)
            calls.append(OnnxCall(
                op_type=node.func.id,
                inputs=tuple(node.args),
                attributes=tuple((k.arg, k.value) for k in node.keywords
                                 if k.arg not in (OUTPUTS_KEYWORD, DOMAIN_KEYWORD)),
                has_starred_input=any(isinstance(a, ast.Starred) for a in node.args),
                domain=domain.value if isinstance(domain, ast.Constant) and isinstance(domain.value, str) else "",
            ))
    return calls


def helper_calls(tree: ast.AST) -> list[str]:
    return [
        node.func.id for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and not is_onnx_op_name(node.func.id) and node.func.id not in BUILTINS
    ]


def bound_names(tree: ast.AST) -> set[str]:
    """Names an expression binds with `:=`."""
    return {n.target.id for n in ast.walk(tree) if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name)}


def referenced_names(tree: ast.AST) -> set[str]:
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


class _ToPython(ast.NodeTransformer):
    """`Relu(x)` -> `g.op("Relu", x)`; `ints(x)` -> `h.ints(g, x)`; `opset` -> `g.opset`."""

    def __init__(self, renames: dict[str, str]):
        self.renames = renames

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
        func = ast.Attribute(ast.Name("h", ast.Load()), name, ast.Load())
        return ast.Call(func, [ast.Name("g", ast.Load()), *node.args], node.keywords)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "opset":
            return ast.Attribute(ast.Name("g", ast.Load()), "opset", ast.Load())
        return ast.Name(self.renames.get(node.id, node.id), node.ctx)


def to_python(tree: ast.Expression, renames: dict[str, str] | None = None) -> str:
    """Render a checked expression as the Python a generated symbolic function runs."""
    copy = parse(ast.unparse(tree))
    converted = ast.fix_missing_locations(_ToPython(renames or {}).visit(copy))
    return ast.unparse(converted.body)
