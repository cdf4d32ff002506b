"""Check parsed specs against torch's schemas and onnx.defs at every opset they claim.

Every problem is collected; `validate_specs` returns the resolved specs (with each
variant's `since` filled in and tier-1 `onnx:` entries expanded) or raises SpecErrors.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

from aten2onnx.codegen import emit_expr, lib_calls
from aten2onnx.codegen.errors import ErrorCollector, Location, SpecErrors
from aten2onnx.codegen.model import (
    MAX_OPSET,
    MIN_OPSET,
    Alias,
    Constraint,
    EmitDecl,
    HelperSpec,
    OpSpec,
    SpecSet,
    TestHints,
    Variant,
)
from aten2onnx.codegen.shared.onnx_schema import AttrType, attribute_type_name, first_opset, schema_at
from aten2onnx.codegen.shared.torch_schema import TorchSchema, overload_names, python_name, schema_of
from aten2onnx.codegen.test_hints import GENERATORS, TensorHint, ValueHint

ROOT = Path(__file__).resolve().parent.parent
IMPL_PACKAGE = lib_calls.IMPL_PACKAGE
# Besides the lib package: Python's arithmetic on numbers known only at run time, which TorchScript's
# number ops (aten::floordiv.int) are, and which translation also uses for torch.export's SymInts.
IMPL_MODULES = lib_calls.LIB_MODULES[1:]
EMIT_HELPERS_MODULE = lib_calls.HELPERS_MODULE
EMIT_HELPERS_FILE = lib_calls.source_path(EMIT_HELPERS_MODULE)

# Which ONNX attribute types a torch argument type may feed (None drops the attribute).
_ATTR_FROM_TORCH = {
    "int": {AttrType.INT, AttrType.FLOAT},
    "SymInt": {AttrType.INT, AttrType.FLOAT},
    "bool": {AttrType.INT},
    "float": {AttrType.FLOAT},
    "number": {AttrType.FLOAT, AttrType.INT},
    "str": {AttrType.STRING},
    "List[int]": {AttrType.INTS, AttrType.FLOATS},
    "List[float]": {AttrType.FLOATS},
    "Tensor": {AttrType.TENSOR},
}


def python_functions(path: Path, private: bool = False) -> dict[str, list[str]]:
    """Top-level functions of a module file and their parameter names, without importing it.

    Private ones (a leading underscore) are left out unless `private` is set: they are helpers,
    never emit helpers or impls.
    """
    if not path.is_file():
        return {}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name: [a.arg for a in node.args.args + node.args.kwonlyargs]
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and (private or not node.name.startswith("_"))
    }


def _inputs(count: int) -> str:
    return f"{count} input" if count == 1 else f"{count} inputs"


class _SpecChecker:
    def __init__(self, spec: OpSpec, schema: TorchSchema | None, helpers: dict[str, list[str]],
                 collector: ErrorCollector, spec_helpers: SpecHelpers | None = None):
        self.spec = spec
        self.schema = schema
        self.helpers = helpers
        self.collector = collector
        self.spec_helpers = spec_helpers or SpecHelpers({}, helpers, collector)

    @property
    def entry_schema(self) -> TorchSchema:
        """The entry's torch schema: None only while a spec helper is checked, which never asks for it."""
        assert self.schema is not None
        return self.schema

    def error(self, location: Location, message: str) -> None:
        self.collector.add(location, f"{self.spec.aten}: {message}")

    # -- expressions -----------------------------------------------------------------------
    def parse_expression(self, text: str, location: Location, what: str) -> ast.Expression | None:
        try:
            tree = emit_expr.parse(text)
        except SyntaxError as exc:
            self.error(location, f"{what} '{text}' is not a valid expression: {exc.msg}")
            return None
        problems = emit_expr.disallowed_syntax(tree)
        for problem in problems:
            self.error(location, f"{what} '{text}': {problem}")
        if problems:
            return None  # names inside a rejected construct would only add noise
        known = set(self.entry_schema.names) | {python_name(n) for n in self.entry_schema.names} | emit_expr.SPECIAL_NAMES
        known |= emit_expr.bound_names(tree)
        for problem in emit_expr.shadowing_problems(tree, known - emit_expr.SPECIAL_NAMES):
            self.error(location, f"{what} '{text}': {problem}")
        for name in sorted(emit_expr.referenced_names(tree) - known):
            self.error(location, f"{what} uses '{name}', which is not an argument of {self.spec.aten}; "
                                 f"its arguments are: {', '.join(self.entry_schema.names)}")
        for helper in emit_expr.helper_calls(tree):
            if helper not in self.helpers:
                self.error(location, f"{what} calls unknown helper '{helper}()'; helpers are "
                                     f"{', '.join(sorted(self.helpers))} (exporter/emit/helpers.py)")
        return None if problems else tree

    def parse_emit(self, text: str, location: Location) -> ast.Module | None:
        """An emit (one expression, or a block ending in return on every path), names and helpers checked."""
        try:
            tree = emit_expr.parse_program(text)
        except SyntaxError as exc:
            self.error(location, f"emit is not a valid expression or block: {exc.msg} (line {exc.lineno} of the emit)")
            return None
        problems = emit_expr.disallowed_syntax(tree)
        if not emit_expr.returns_on_every_path(tree.body):
            problems.append("a block must end in `return` on every path (an if needs its else, or a return after it)")
        for problem in problems:
            self.error(location, f"emit: {problem}")
        if problems:
            return None
        assert self.schema is not None
        known = set(self.schema.names) | {python_name(n) for n in self.schema.names} | emit_expr.SPECIAL_NAMES
        known |= emit_expr.assigned_names(tree)
        for name in sorted(emit_expr.assigned_names(tree) & emit_expr.GENERATED_NAMES):
            self.error(location, f"emit assigns '{name}', a name the generated code uses; rename it")
        for problem in emit_expr.shadowing_problems(tree, known - emit_expr.SPECIAL_NAMES):
            self.error(location, f"emit: {problem}")
        for name in sorted(emit_expr.referenced_names(tree) - known):
            self.error(location, f"emit uses '{name}', which is not an argument of {self.spec.aten} nor assigned "
                                 f"before; its arguments are: {', '.join(self.schema.names)}")
        self.spec_helpers.check_calls(tree, location, self.error)
        return tree

    def expand_tier_one(self, variant: Variant) -> Variant:
        """`onnx: Relu` means Relu(<every tensor argument in schema order>)."""
        emit = variant.emit or ""
        if not emit.endswith("(*)"):
            return variant
        tensor_args = [a.name for a in self.entry_schema.arguments if a.is_tensor]
        op_type = emit[:-3]
        domain, _, op_type = op_type.rpartition("::")
        if domain:
            # A custom-domain op (`onnx: com.example::Foo`) takes every other argument as an
            # attribute of the same name: its definition mirrors the torch op's.
            attributes = [f"{a.name}={a.name}" for a in self.entry_schema.arguments
                          if not (a.is_tensor or a.is_tensor_list) and a.base_type in _ATTR_FROM_TORCH]
            parts = [*tensor_args, f"_domain={domain!r}", *attributes]
            return dataclasses.replace(variant, emit=f"{op_type}({', '.join(parts)})")
        return dataclasses.replace(variant, emit=f"{op_type}({', '.join(tensor_args)})")

    # -- ONNX checks -------------------------------------------------------------------------
    def resolve_since(self, variant: Variant, tree: ast.Module) -> int | None:
        """`since` as written, else the first opset at which every ONNX op the emit uses there exists
        (ops on branches of `if opset >= N` count from N only)."""
        unknown = sorted({c.op_type for c in self.spec_helpers.calls(tree, None)
                          if c.is_standard and first_opset(c.op_type) is None})
        for op in unknown:
            self.error(variant.location, f"'{op}' is not an ONNX operator (onnx.defs has no schema for it)")
        if unknown:
            return None
        if variant.since is not None:
            return variant.since
        for opset in range(1, MAX_OPSET + 1):  # (below MIN_OPSET only the range clips it)
            calls = self.spec_helpers.calls(tree, opset)
            if all(schema_at(c.op_type, opset) is not None for c in calls if c.is_standard):
                return opset
        late = max((first_opset(c.op_type) or 0 for c in self.spec_helpers.calls(tree, None) if c.is_standard),
                   default=MAX_OPSET)
        return late

    def check_onnx_call(self, call: emit_expr.OnnxCall, opset: int, location: Location, reported: set[str],
                        first_of_range: int, used_by: str = "") -> None:
        if not call.is_standard:
            return  # onnx.defs knows nothing of a custom domain; its runtime defines the op
        schema = schema_at(call.op_type, opset)
        new_variant = (f"; add a variant 'since: {opset}' (or an `if opset >= {opset}:` branch) that passes it "
                       "differently" if opset > first_of_range else "")
        def once(key: str, message: str) -> None:
            if key not in reported:
                reported.add(key)
                self.error(location, message + (f" (used by {used_by})" if used_by else ""))
        if schema is None:
            first = first_opset(call.op_type)
            if first is None:
                once(call.op_type, f"'{call.op_type}' is not an ONNX operator (onnx.defs has no schema for it)")
            else:
                once(call.op_type + "@", f"ONNX '{call.op_type}' does not exist at opset {opset} "
                                         f"(it starts at {first}); set 'since: {first}' or add an earlier variant")
            return
        if schema.deprecated:
            once(call.op_type + "!", f"ONNX '{call.op_type}' is deprecated at opset {opset}; "
                                    f"end this variant before {opset} with a new variant 'since: {opset}'")
            return
        where = f"ONNX '{call.op_type}' at opset {opset} (schema version {schema.since_version})"
        for name, value in call.attributes:
            attr = schema.attributes.get(name)
            if attr is None:
                allowed = ", ".join(sorted(schema.attributes)) or "none"
                once(f"{call.op_type}.{name}", f"{where} has no attribute '{name}' (it has: {allowed}){new_variant}")
                continue
            problem = self.attribute_type_problem(value, attr.type)
            if problem:
                once(f"{call.op_type}.{name}:type", f"{where}: attribute '{name}' is {attribute_type_name(attr.type)}, {problem}")
        given = {name for name, _ in call.attributes}
        for name, attr in schema.attributes.items():
            if attr.required and name not in given:
                once(f"{call.op_type}.{name}!", f"{where} requires attribute '{name}' ({attribute_type_name(attr.type)}); pass {name}=...")
        count = len(call.inputs) - (1 if call.has_starred_input else 0)
        if count < schema.min_input and not call.has_starred_input:
            once(f"{call.op_type}<", f"{where} needs at least {_inputs(schema.min_input)}, the spec passes {count}")
        if count > schema.max_input:
            once(f"{call.op_type}>", f"{where} takes at most {_inputs(schema.max_input)}, the spec passes {count}"
                 + (f"; an input may have become an attribute: add a variant 'since: {opset}'" if new_variant else ""))
        if self.schema is None:
            return  # a spec helper: its parameters have no torch types
        for position, value in enumerate(call.inputs):
            promoted = set(self.spec.promote.args) if self.spec.promote else set()
            if isinstance(value, ast.Name) and (arg := self.schema.arg(value.id)) is not None \
                    and value.id not in promoted:
                if not (arg.is_tensor or arg.is_tensor_list):
                    once(f"{call.op_type}:{value.id}", f"{where}: input {position} is '{value.id}' of torch type "
                         f"{arg.type}, not a tensor; wrap it (ints([...]), scalar(..., like=x)) or pass it as an attribute")

    def attribute_type_problem(self, value: ast.expr, attr_type: AttrType) -> str | None:
        if self.schema is not None and isinstance(value, ast.Name) and (arg := self.schema.arg(value.id)) is not None:
            allowed = _ATTR_FROM_TORCH.get(arg.base_type)
            if allowed is not None and attr_type not in allowed:
                return f"but '{value.id}' is torch type {arg.type}"
        if isinstance(value, ast.Constant) and value.value is not None:
            literal = {bool: AttrType.INT, int: AttrType.INT, float: AttrType.FLOAT, str: AttrType.STRING}
            kind = literal.get(type(value.value))
            ok = {AttrType.INT: {AttrType.INT, AttrType.FLOAT}, AttrType.FLOAT: {AttrType.FLOAT},
                  AttrType.STRING: {AttrType.STRING}}
            if kind is not None and attr_type not in ok[kind]:
                return f"but the spec gives {value.value!r}"
        if isinstance(value, ast.List) and attr_type not in (AttrType.INTS, AttrType.FLOATS, AttrType.STRINGS):
            return "but the spec gives a list"
        return None

    # -- the spec as a whole -------------------------------------------------------------------
    def check(self) -> OpSpec:
        spec = self.spec
        resolved: list[Variant] = []
        parsed_ok: set[int] = set()  # indexes of variants whose emit parsed and passed the syntax check
        for constraint in spec.constraints:
            self.check_constraint(constraint)
        if spec.promote:
            for name in spec.promote.args:
                arg = self.entry_schema.arg(name)
                if arg is None or arg.base_type not in ("Tensor", "number"):
                    self.error(spec.location, f"promote lists '{name}', which is not a Tensor or Scalar "
                                              f"argument of {spec.aten}")
        for name, hint in spec.test.args.items():
            if self.entry_schema.arg(name) is None:
                self.error(spec.location, f"test hint for '{name}', which is not an argument; "
                                          f"arguments: {', '.join(self.entry_schema.names)}")
            else:
                self.check_hint_kind(name, hint, spec.location)
        for variant in spec.variants:
            variant = self.expand_tier_one(variant)
            for constraint in variant.constraints:
                self.check_constraint(constraint)
            if variant.impl is not None:
                resolved.append(self.check_impl(variant))
                continue
            tree = self.parse_emit(variant.emit or "", variant.location)
            if tree is None:
                resolved.append(variant)
                continue
            since = self.resolve_since(variant, tree)
            parsed_ok.add(len(resolved))
            resolved.append(dataclasses.replace(variant, since=since))
        previous = 0
        for variant in resolved:
            if variant.since is not None and variant.since <= previous:
                self.error(variant.location, f"variants must have increasing 'since'; {variant.since} follows {previous}")
            if variant.since is not None and variant.since > MAX_OPSET:
                self.error(variant.location, f"'since: {variant.since}' is past the newest opset served ({MAX_OPSET})")
            previous = variant.since or previous
        checked = dataclasses.replace(spec, variants=tuple(resolved))
        self.check_no_repeated_variant(checked)
        self.check_refusals(checked)
        if spec.complex_impl is not None:  # serves every opset the entry serves
            complex_impl = self.check_impl(spec.complex_impl)
            served = [checked.variant_range(i) for i in range(len(checked.variants))]
            first = min((a for a, b in served if a <= b), default=MIN_OPSET)
            if complex_impl.since is not None and complex_impl.since > first:
                self.error(complex_impl.location, f"the complex mapping's ops exist only from opset {complex_impl.since}, "
                                                  f"but the entry serves opset {first}: declare them with their opsets")
            self.check_declared_opsets(complex_impl, first, MAX_OPSET)
            for name, chain in self.refusals_of(complex_impl).items():
                self.error(complex_impl.location, f"the complex mapping may refuse with '{name}' ({chain}); "
                                                  "complex mappings cannot refuse from Python yet")
            checked = dataclasses.replace(checked, complex_impl=dataclasses.replace(complex_impl, since=first))
        for index, variant in enumerate(checked.variants):
            start, end = checked.variant_range(index)
            following = checked.variants[index + 1].since if index + 1 < len(checked.variants) else None
            if start > end and variant.since is not None and following is not None and variant.since < following:
                self.error(variant.location, f"variant 'since: {variant.since}' never applies: opsets start at "
                                             f"{MIN_OPSET} and the next variant starts at {following}; remove it")
        final = list(checked.variants)
        for index, variant in enumerate(checked.variants):
            if variant.impl is not None and variant.since is not None:
                self.check_declared_opsets(variant, *checked.variant_range(index))
            if variant.emit is None or variant.since is None or index not in parsed_ok:
                continue
            tree = emit_expr.parse_program(variant.emit)
            start, end = checked.variant_range(index)
            reported: set[str] = set()
            for opset in range(start, end + 1):
                for call in emit_expr.onnx_calls(tree, opset):
                    self.check_onnx_call(call, opset, variant.location, reported, start)
                self.spec_helpers.check_at(tree, opset, f"{spec.aten} ({variant.location})", reported)
            final[index] = dataclasses.replace(variant, emits=self.derived_emits(tree, start, end))
        return dataclasses.replace(checked, variants=tuple(final))

    def check_constraint(self, constraint: Constraint) -> None:
        if constraint.require is not None:
            self.parse_expression(constraint.require, constraint.location, "constraint")
        for name in constraint.test_dynamic:
            arg = self.entry_schema.arg(name)
            if arg is None or not (arg.is_tensor or arg.is_tensor_list or arg.base_type in (
                    "int", "SymInt", "List[int]", "List[SymInt]", "number", "float")):
                self.error(constraint.location, f"constraint test.dynamic names '{name}', which is not a tensor or "
                                                f"number argument of {self.spec.aten} ({', '.join(self.entry_schema.names)})")
        for name, hint in constraint.test_hints.items():
            if self.entry_schema.arg(name) is None and name != "shapes":
                self.error(constraint.location, f"constraint test.hints has a hint for '{name}', which is not an "
                                                f"argument of {self.spec.aten} ({', '.join(self.entry_schema.names)})")
            elif name != "shapes":
                self.check_hint_kind(name, hint, constraint.location)

    def check_hint_kind(self, name: str, hint: Any, where: Location) -> None:
        """A tensor argument takes a tensor hint; any other argument values, or one generator."""
        arg = self.entry_schema.arg(name)
        if arg is None:  # reported by the caller
            return
        tensor = arg.is_tensor or arg.is_tensor_list or arg.base_type in ("t", "List[t]")
        where = getattr(hint, "location", None) or where
        if isinstance(hint, TensorHint) and not tensor:
            self.error(where, f"test hint for '{name}' ({arg.type}) is a tensor hint, but '{name}' is not a tensor: "
                              f"give a list of values, a value, or a mapping with one generator of "
                              f"{', '.join(GENERATORS)}")
        elif isinstance(hint, ValueHint) and tensor and arg.base_type not in ("t", "List[t]"):
            self.error(where, f"test hint for '{name}' ({arg.type}) names a generator, but '{name}' is a tensor: "
                              f"give a tensor hint (shape, dtype, values, ...)")

    def check_refusals(self, spec: OpSpec) -> None:
        """Every refusal a variant's Python may raise is a constraint with that id (entry-wide or the
        variant's own), and every id declared is raised by some variant's Python."""
        entry_ids: dict[str, Constraint] = {}
        for constraint in spec.constraints:
            if constraint.id is not None:
                if constraint.id in entry_ids:
                    self.error(constraint.location, f"constraint id '{constraint.id}' is declared twice "
                                                    f"(first at line {entry_ids[constraint.id].location.line})")
                entry_ids.setdefault(constraint.id, constraint)
        raised_anywhere: set[str] = set()
        for variant in spec.variants:
            own = {c.id: c for c in variant.constraints if c.id is not None}
            for name in own.keys() & entry_ids.keys():
                self.error(own[name].location, f"constraint id '{name}' is also declared for the whole entry "
                                               f"(line {entry_ids[name].location.line}); declare it once")
            raised = self.refusals_of(variant)
            raised_anywhere |= set(raised)
            for name, chain in sorted(raised.items()):
                if name not in own and name not in entry_ids:
                    self.error(variant.location, f"its Python may refuse with constraint id '{name}' ({chain}), but "
                                                 f"no constraint declares it: add to 'constraints:' "
                                                 f"'- {{id: {name}, message: <what the user reads>}}' (with 'test: "
                                                 "{opset: N, dynamic: [arg]}' to say where the differential test "
                                                 "reaches it)")
            for name, constraint in own.items():
                if name not in raised:
                    self.error(constraint.location, f"constraint id '{name}' is never raised by this variant's "
                                                    "Python (no g.refuse(\"{name}\") it may reach); remove it")
        for name, constraint in entry_ids.items():
            if name not in raised_anywhere:
                self.error(constraint.location, f"constraint id '{name}' is never raised by the entry's Python "
                                                f"(no g.refuse(\"{name}\") any variant may reach); remove it, or "
                                                "write the condition as 'require:'")

    def refusals_of(self, variant: Variant) -> dict[str, str]:
        """Constraint ids a variant's Python may raise (its impl, or the helpers its emit calls)."""
        found: dict[str, str] = {}
        if variant.impl is not None:
            found.update(lib_calls.reach(variant.impl).refusals)
            for name, value in variant.args:  # an id handed down by the spec (`args: {refusal: id}`)
                if name == lib_calls.REFUSAL_KEYWORD and isinstance(value, str):
                    found.setdefault(value, f"args.{name}")
            return found
        try:
            tree = emit_expr.parse_program(variant.emit or "")
        except SyntaxError:
            return found
        for helper in self.spec_helpers.python_calls(tree, None):
            for name, chain in lib_calls.reach(f"{EMIT_HELPERS_MODULE}.{helper}").refusals.items():
                found.setdefault(name, chain)
        return found

    def check_no_repeated_variant(self, spec: OpSpec) -> None:
        """A variant exists only where the emitted ONNX changes: one equal to its predecessor is refused."""
        for before, variant in itertools.pairwise(spec.variants):
            if variant_identity(before) != variant_identity(variant) or variant.since is None:
                continue
            self.error(variant.location, f"variant 'since: {variant.since}' emits exactly what the variant before "
                                         f"it (line {before.location.line}) emits; a variant exists only where the "
                                         f"emitted ONNX changes: remove it, and add {variant.since} to the entry's "
                                         "'test: opsets:' to keep testing there")

    def derived_emits(self, tree: ast.Module, start: int, end: int) -> tuple[EmitDecl, ...]:
        """What an emit may emit at its opsets: its own ONNX calls and its spec helpers', what the
        Python helpers they call may emit, and Cast when the entry promotes (the run-time check of
        generated functions allows these)."""
        ops: set[str] = set()
        for opset in range(start, end + 1):
            ops |= {c.op_type if c.is_standard else f"{c.domain}::{c.op_type}" for c in self.spec_helpers.calls(tree, opset)}
            for helper in self.spec_helpers.python_calls(tree, opset):
                ops |= set(lib_calls.reach(f"{EMIT_HELPERS_MODULE}.{helper}").ops)
        if self.spec.promote:
            ops.add("Cast")
        return tuple(EmitDecl(op) for op in sorted(ops))

    def check_impl(self, variant: Variant) -> Variant:
        """Checks where the impl lives, how it is called, what it declares; returns it with `since` resolved."""
        assert variant.impl is not None
        module, _, function = variant.impl.rpartition(".")
        if not module.startswith(IMPL_PACKAGE + ".") and module not in IMPL_MODULES:
            self.error(variant.location, f"impl '{variant.impl}' must live in {IMPL_PACKAGE} or "
                                         f"{', '.join(IMPL_MODULES)}")
            return variant
        path = lib_calls.source_path(module)
        functions = python_functions(path)
        if function not in functions and function in python_functions(path, private=True):
            self.error(variant.location, f"impl '{variant.impl}': '{function}' in {path.relative_to(ROOT)} is "
                                         "private (its name starts with '_'), and impls must be public: "
                                         "rename it, or add a public function that calls it")
            return variant
        facts = lib_calls.function(variant.impl)
        if function not in functions or facts is None:
            self.error(variant.location, f"impl '{variant.impl}': no function '{function}' in {path.relative_to(ROOT)}")
            return variant
        self.check_impl_parameters(variant, facts)
        self.check_emits_known(variant)
        self.check_emits_match_python(variant)
        derived = max((first_opset(d.op) or MIN_OPSET for d in variant.emits if not d.domain and d.first is None),
                      default=MIN_OPSET)
        if variant.since is not None and variant.since < derived and variant.since > MIN_OPSET:
            late = [d.op for d in variant.emits if not d.domain and d.first is None and (first_opset(d.op) or 0) > variant.since]
            self.error(variant.location, f"'since: {variant.since}', but {', '.join(late)} exist(s) only from opset "
                                         f"{derived}: start at {derived}, or declare them with their first opset "
                                         f"({late[0]}>={first_opset(late[0])}) if the Python uses them only there")
        return dataclasses.replace(variant, since=variant.since if variant.since is not None else derived)

    def check_impl_parameters(self, variant: Variant, facts: lib_calls.FunctionFacts) -> None:
        """The function takes `g`, then schema arguments (any it needs) and the constants `args:` binds."""
        names = {python_name(n) for n in self.entry_schema.names}
        shown = f"impl '{variant.impl}' ({lib_calls.source_path(facts.module).relative_to(ROOT)}:{facts.line})"
        if facts.params[:1] != ["g"]:
            self.error(variant.location, f"{shown} must take the GraphBuilder 'g' first, it takes "
                                         f"({', '.join(facts.params)})")
            return
        bound = dict(variant.args)
        for name, value in variant.args:
            if name in names:
                self.error(variant.location, f"'args' binds '{name}', an argument of {self.spec.aten}: the generated "
                                             "function passes the op's own arguments; bind only the function's "
                                             "other parameters")
            elif name not in facts.params:
                self.error(variant.location, f"'args' binds '{name}', but {shown} has no such parameter; it takes "
                                             f"({', '.join(facts.params)})")
            elif (problem := bound_value_problem(facts.annotations.get(name), value)) is not None:
                self.error(variant.location, f"'args.{name}: {value!r}' does not fit {shown}: {problem}")
        for param in facts.params[1:]:
            if param not in names and param not in bound and param not in facts.defaults:
                self.error(variant.location, f"{shown} takes '{param}', which is neither an argument of "
                                             f"{self.spec.aten} ({', '.join(self.entry_schema.names)}) nor bound in "
                                             f"'args:'; bind it (args: {{{param}: ...}}) or rename it")

    def check_emits_known(self, variant: Variant) -> None:
        for decl in variant.emits:
            if decl.domain:
                continue  # a custom domain: its runtime defines the op
            where = decl.location or variant.location
            first = first_opset(decl.op)
            if first is None:
                self.error(where, f"'emits' names '{decl.op}', which is not an ONNX operator (onnx.defs has no "
                                  "schema for it)")
            elif decl.first is not None and decl.first < first:
                self.error(where, f"'emits' declares '{decl}', but ONNX '{decl.op}' exists only from opset {first}: "
                                  f"write '{decl.op}>={first}'")
            elif decl.first is not None and decl.last is not None and decl.last < decl.first:
                self.error(where, f"'emits' declares '{decl}', an empty opset range")

    def check_emits_match_python(self, variant: Variant) -> None:
        """`emits` names exactly the ops the function's Python may reach (exporter/lib, emit helpers)."""
        assert variant.impl is not None
        reach = lib_calls.reach(variant.impl)
        reached = dict(reach.ops)
        for name, value in variant.args:  # an op name bound as an argument (`args: {op: LSTM}`)
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and text[:1].isupper() and first_opset(text) is not None:
                    reached.setdefault(text, f"args.{name}")
        declared = {d.op for d in variant.emits}
        missing = sorted(set(reached) - declared)
        extra = sorted(op for op in declared - set(reached) if "::" not in op)
        if not (missing or extra):
            return
        problems = []
        if missing:
            problems.append("its Python may emit " + ", ".join(f"{op} ({reached[op]})" for op in missing)
                            + " without declaring it")
        if extra:
            problems.append(f"it declares {', '.join(extra)}, which its Python never emits")
        self.error(variant.location, f"impl '{variant.impl}': 'emits' must list the ONNX ops its Python may emit: "
                                     f"{'; '.join(problems)}. From its Python: emits: [{', '.join(sorted(reached))}] "
                                     "(add '>=N' or '<N' to an op it uses only at some opsets)")

    def check_declared_opsets(self, variant: Variant, start: int, end: int) -> None:
        """Each declared op exists, and is not deprecated, at every opset where the variant may emit it.

        A window outside the variant's opsets is allowed: the shared Python may emit the op at
        other opsets (a `Range>=11` in a variant serving only 9 says the function never does here).
        """
        for decl in variant.emits:
            if decl.domain or first_opset(decl.op) is None or (decl.first is not None and decl.first < (first_opset(decl.op) or 0)):
                continue  # reported by check_emits_known
            low, high = max(start, decl.first or start), min(end, decl.last if decl.last is not None else end)
            for opset in range(low, high + 1):
                schema = schema_at(decl.op, opset)
                if schema is None or schema.deprecated:
                    why = "does not exist" if schema is None else "is deprecated"
                    valid = [o for o in range(MIN_OPSET, MAX_OPSET + 1)
                             if (found := schema_at(decl.op, o)) is not None and not found.deprecated]
                    where = f"it is valid at opsets {valid[0]}-{valid[-1]}" if valid else "it is valid nowhere"
                    hint = f"{decl.op}>={valid[0]}" if valid and valid[0] > opset else f"{decl.op}<{opset}"
                    self.error(decl.location or variant.location,
                               f"'emits' declares '{decl}', but ONNX '{decl.op}' {why} at opset {opset}, which this "
                               f"variant serves ({start}-{end}; {where}): write '{hint}' if the Python uses it only there")
                    break


def bound_value_problem(annotation: str | None, value: object) -> str | None:
    """Why a constant from `args:` cannot be the value of a parameter annotated `annotation`."""
    if annotation is None:
        return None
    kinds = {part.strip() for part in annotation.split("|")}
    accepted = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "None": lambda v: v is None,
    }
    if any(k in ("Any", "object") for k in kinds):
        return None
    for kind in kinds:
        if kind in accepted and accepted[kind](value):
            return None
        if kind.split("[", 1)[0] in ("list", "tuple", "Sequence") and isinstance(value, list):
            return None
    if not any(kind in accepted or kind.split("[", 1)[0] in ("list", "tuple", "Sequence") for kind in kinds):
        return None  # a type YAML cannot give (ir.Value, torch.dtype): nothing to compare
    return f"the parameter is annotated '{annotation}'"


class SpecHelpers:
    """The spec helpers (`- helper:` items) of a spec folder: parsed and checked once, then asked
    by every entry that calls them. A helper's ONNX calls are checked at every opset of every
    variant that uses it (an error there names the helper's line and the entry that used it)."""

    def __init__(self, helpers: dict[str, HelperSpec], python: dict[str, list[str]], collector: ErrorCollector):
        self.specs = helpers
        self.python = python
        self.collector = collector
        self.trees: dict[str, ast.Module] = {}
        self.checked: set[tuple[str, int]] = set()
        self.reported: dict[str, set[str]] = {}

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.trees)

    def error(self, location: Location, message: str) -> None:
        self.collector.add(location, message)

    def parse_all(self) -> None:
        for name, helper in sorted(self.specs.items()):
            where = helper.location
            if name in self.python or name in emit_expr.BUILTINS:
                kind = "exporter/emit/helpers.py" if name in self.python else "a Python builtin"
                self.error(where, f"helper '{name}' has the name of {kind}; rename it")
                continue
            try:
                tree = emit_expr.parse_program(helper.emit)
            except SyntaxError as exc:
                self.error(where, f"helper '{name}': emit is not a valid expression or block: {exc.msg}")
                continue
            problems = emit_expr.disallowed_syntax(tree)
            if not emit_expr.returns_on_every_path(tree.body):
                problems.append("a block must end in `return` on every path")
            for problem in problems:
                self.error(where, f"helper '{name}': {problem}")
            if problems:
                continue
            known = set(helper.params) | emit_expr.SPECIAL_NAMES | emit_expr.assigned_names(tree)
            for clash in sorted((emit_expr.assigned_names(tree) | set(helper.params)) & emit_expr.GENERATED_NAMES):
                self.error(where, f"helper '{name}' binds '{clash}', a name the generated code uses; rename it")
            for problem in emit_expr.shadowing_problems(tree, known - emit_expr.SPECIAL_NAMES):
                self.error(where, f"helper '{name}': {problem}")
            for unknown in sorted(emit_expr.referenced_names(tree) - known):
                self.error(where, f"helper '{name}' uses '{unknown}', which is none of its params "
                                  f"({', '.join(helper.params) or 'none'}) nor assigned before")
            for call in emit_expr.onnx_calls(tree):
                if call.is_standard and first_opset(call.op_type) is None:
                    self.error(where, f"helper '{name}': '{call.op_type}' is not an ONNX operator (onnx.defs has no "
                                      "schema for it)")
            self.trees[name] = tree
        for name, tree in list(self.trees.items()):
            self.check_calls(tree, self.specs[name].location, lambda where, message, n=name: self.error(
                where, f"helper '{n}': {message}"))
        for name in sorted(self.trees):
            cycle = self._cycle(name, [])
            if cycle:
                self.error(self.specs[name].location, f"helper '{name}' calls itself ({' -> '.join(cycle)}); "
                                                      "spec helpers cannot recurse")
                self.trees.pop(name, None)

    def _cycle(self, name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name):], name]
        tree = self.trees.get(name)
        for called in sorted(set(emit_expr.helper_calls(tree))) if tree is not None else ():
            if called in self.specs:
                found = self._cycle(called, [*path, name])
                if found:
                    return found
        return None

    def check_calls(self, tree: ast.AST, location: Location, error: Any) -> None:
        """Lower-case calls name a Python or spec helper; a spec helper gets each param once."""
        for name in sorted(set(emit_expr.helper_calls(tree))):
            if name in self.specs:
                params = self.specs[name].params
                for call in emit_expr.call_sites(tree, name):
                    given = len(call.args) + len(call.keywords)
                    named = [k.arg for k in call.keywords]
                    if any(isinstance(a, ast.Starred) for a in call.args) or None in named:
                        continue
                    if given != len(params) or any(k not in params[len(call.args):] for k in named):
                        error(location, f"helper '{name}' takes ({', '.join(params)}) ({self.specs[name].location}), "
                                        f"the call passes {ast.unparse(call)[len(name):]}")
            elif name not in self.python:
                spec_names = ", ".join(sorted(self.specs)) or "none"
                error(location, f"calls unknown helper '{name}()'; Python helpers are {', '.join(sorted(self.python))} "
                                f"(exporter/emit/helpers.py), spec helpers are {spec_names} (`- helper:` items)")

    def _called(self, tree: ast.AST, opset: int | None) -> list[str]:
        return [n for n in emit_expr.helper_calls(tree, opset) if n in self.trees]

    def calls(self, tree: ast.AST, opset: int | None) -> list[emit_expr.OnnxCall]:
        """The ONNX calls of `tree` and of the spec helpers it calls (at `opset`: on branches taken there)."""
        found = list(emit_expr.onnx_calls(tree, opset))
        for name in self._called(tree, opset):
            found += self.calls(self.trees[name], opset)
        return found

    def python_calls(self, tree: ast.AST, opset: int | None) -> set[str]:
        """Python helpers called by `tree` or by the spec helpers it calls."""
        found = {n for n in emit_expr.helper_calls(tree, opset) if n in self.python}
        for name in self._called(tree, opset):
            found |= self.python_calls(self.trees[name], opset)
        return found

    def check_at(self, tree: ast.AST, opset: int, used_by: str, _reported: set[str]) -> None:
        """Check the spec helpers `tree` calls against onnx.defs at `opset` (each helper once per opset)."""
        for name in self._called(tree, opset):
            if (name, opset) not in self.checked:
                self.checked.add((name, opset))
                helper = self.specs[name]
                checker = _HelperChecker(helper, self.python, self.collector, self)
                reported = self.reported.setdefault(name, set())
                for call in emit_expr.onnx_calls(self.trees[name], opset):
                    checker.check_onnx_call(call, opset, helper.location, reported, MIN_OPSET, used_by)
            self.check_at(self.trees[name], opset, used_by, _reported)


class _HelperChecker(_SpecChecker):
    """check_onnx_call for a spec helper's body: no torch schema, errors name the helper."""

    def __init__(self, helper: HelperSpec, python: dict[str, list[str]], collector: ErrorCollector,
                 spec_helpers: SpecHelpers):
        placeholder = OpSpec(f"helper {helper.name}", (), (), None, TestHints(), None, helper.location)
        super().__init__(placeholder, None, python, collector, spec_helpers)
        self.helper = helper

    def error(self, location: Location, message: str) -> None:
        self.collector.add(location, f"helper '{self.helper.name}': {message}")


def variant_identity(variant: Variant) -> tuple[object, ...]:
    """What a variant's generated function is made of: equal identities give equal functions."""
    emit = None
    if variant.emit is not None:
        try:
            emit = ast.dump(emit_expr.parse(variant.emit))
        except SyntaxError:
            emit = variant.emit
    return emit, variant.impl, variant.args, tuple((c.require, c.id, c.message) for c in variant.constraints)


def _unknown_overload_hint(aten: str) -> str:
    """What to check when torch has no overload `aten`: its known overloads, or where to look."""
    known = overload_names(aten)
    listed = ", ".join(known[:12]) + (f", ... ({len(known)} in all)" if len(known) > 12 else "")
    namespace = aten.split("::", 1)[0]
    return f"torch has: {listed}" if known else (
        "check the name in torch.ops.aten" if namespace == "aten" else
        f"is '{namespace}' defined (torch.library) before the specs are loaded?")


def _emitted_type(torch_type: str) -> str:
    """A type as the generated function sees it: a SymInt arrives like an int."""
    return re.sub(r"\bSymInt\b", "int", torch_type)


def _shown(torch_type: str) -> str:
    """torch's spelling in schema strings: `number` is written `Scalar` there."""
    return re.sub(r"\bnumber\b", "Scalar", torch_type)


def _signature_text(schema: TorchSchema) -> str:
    parts, keyword_only = [], False
    for arg in schema.arguments:
        if arg.kwarg_only and not keyword_only:
            parts.append("*")
            keyword_only = True
        default = f"={arg.default!r}" if arg.has_default else ""
        parts.append(f"{_shown(arg.type)}{'(a!)' if arg.mutated else ''} {arg.name}{default}")
    return f"({', '.join(parts)}) -> ({', '.join(_shown(r) for r in schema.returns)})"


def signature_difference(entry: TorchSchema, alias: TorchSchema) -> str | None:
    """Why `alias` cannot be served by the function generated for `entry`, or None if it can.

    The function takes the entry's arguments by name with the entry's defaults (the translator
    leaves out arguments a call did not pass), so names, types, keyword-only-ness, defaults,
    in-place writes and returns must all agree.
    """
    for index, (mine, theirs) in enumerate(itertools.zip_longest(entry.arguments, alias.arguments)):
        if mine is None:
            return f"it has an extra argument '{theirs.name}'"
        if theirs is None:
            return f"it has no argument '{mine.name}'"
        if mine.name != theirs.name:
            return f"its argument {index + 1} is '{theirs.name}', not '{mine.name}'"
        if _emitted_type(mine.type) != _emitted_type(theirs.type):
            return f"its argument '{mine.name}' is {_shown(theirs.type)}, not {_shown(mine.type)}"
        if mine.kwarg_only != theirs.kwarg_only:
            return f"its argument '{mine.name}' is {'keyword-only' if theirs.kwarg_only else 'positional'}"
        if (mine.has_default, mine.default) != (theirs.has_default, theirs.default):
            given = f"defaults to {theirs.default!r}" if theirs.has_default else "has no default"
            return f"its argument '{mine.name}' {given}, the entry's " + (
                f"to {mine.default!r}" if mine.has_default else "has none")
        if mine.mutated != theirs.mutated:
            return f"it {'writes' if theirs.mutated else 'does not write'} its argument '{mine.name}' in place"
    if [_emitted_type(r) for r in entry.returns] != [_emitted_type(r) for r in alias.returns]:
        return f"it returns ({_shown(', '.join(alias.returns))}), not ({_shown(', '.join(entry.returns))})"
    return None


def _alias_specs(checked: OpSpec, schema: TorchSchema, entries: dict[str, Location],
                 aliases_seen: dict[str, tuple[Location, str]], collector: ErrorCollector) -> list[OpSpec]:
    """One OpSpec per valid alias of `checked`, registered to its function; problems go to `collector`."""
    found = []
    for alias in checked.aliases:
        def error(message: str, alias: Alias = alias) -> None:
            collector.add(alias.location, f"{checked.aten}: alias '{alias.aten}' {message}")
        if alias.aten == checked.aten:
            error("is this entry's own overload; remove it from 'aliases'")
            continue
        if alias.aten in entries:
            error(f"also has its own entry at {entries[alias.aten]}; an overload is registered once: "
                  "delete that entry if it maps the same way, else remove the alias")
            continue
        if alias.aten in aliases_seen:
            where, owner = aliases_seen[alias.aten]
            error(f"is already listed at {where} (an alias of {owner}); list it once")
            continue
        aliases_seen[alias.aten] = (alias.location, checked.aten)
        alias_schema = schema_of(alias.aten)
        if alias_schema is None:
            error(f"is not an ATen overload; {_unknown_overload_hint(alias.aten)}")
            continue
        difference = signature_difference(schema, alias_schema)
        if difference is not None:
            error(f"cannot share this entry's function: {difference}. Its schema is "
                  f"{_signature_text(alias_schema)}, the entry's {_signature_text(schema)}; list it under "
                  "an entry whose arguments match, or give it an entry of its own")
            continue
        found.append(dataclasses.replace(checked, aten=alias.aten, aliases=(), alias_of=checked.aten,
                                         location=alias.location))
    return found


def validate_specs(specs: list[OpSpec], collector: ErrorCollector | None = None) -> SpecSet:
    """The checked entries, each followed by one OpSpec per alias (see OpSpec)."""
    collector = collector or ErrorCollector()
    lib_calls.forget()  # exporter/lib is read afresh: it may have changed since the last validation
    helpers = python_functions(EMIT_HELPERS_FILE)
    spec_helpers = SpecHelpers(dict(getattr(specs, "helpers", {})), helpers, collector)
    spec_helpers.parse_all()
    entries: dict[str, Location] = {}
    for spec in specs:
        entries.setdefault(spec.aten, spec.location)
    aliases_seen: dict[str, tuple[Location, str]] = {}
    seen: dict[str, Location] = {}
    resolved = []
    for spec in specs:
        if spec.aten in seen:
            collector.add(spec.location, f"{spec.aten} is already specified at {seen[spec.aten]}; "
                                         "merge the two entries (overloads need one entry each)")
            continue
        seen[spec.aten] = spec.location
        schema = schema_of(spec.aten)
        if schema is None:
            collector.add(spec.location, f"unknown ATen overload '{spec.aten}'; {_unknown_overload_hint(spec.aten)}")
            continue
        checked = _SpecChecker(spec, schema, helpers, collector, spec_helpers).check()
        resolved += [checked, *_alias_specs(checked, schema, entries, aliases_seen, collector)]
    if collector.errors:
        raise SpecErrors(collector.errors)
    return SpecSet(resolved, {name: spec_helpers.specs[name] for name in spec_helpers.trees})
