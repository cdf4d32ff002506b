"""Turn validated specs into the files under generated/ (Jinja templates, logic here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import jinja2

from aten2onnx.codegen import emit_expr, lib_calls
from aten2onnx.codegen.model import MAX_OPSET, MIN_OPSET, HelperSpec, OpSpec, Variant
from aten2onnx.codegen.shared.torch_schema import TorchArg, python_name, schema_of
from aten2onnx.codegen.test_hints import TensorHint, ValueHint

TEMPLATES = Path(__file__).resolve().parent / "templates"
OPSETS = list(range(MIN_OPSET, MAX_OPSET + 1))
_LITERAL_TYPES = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class FunctionView:
    """What the opset template needs to write one symbolic function."""

    name: str
    signature: str
    docstring: str
    checks: tuple[tuple[str, str, str], ...]   # (condition, message, source)
    promote: str | None
    body_lines: tuple[str, ...]                # the function's body after its checks, unindented
    source: str = ""                           # the variant's spec line, for @declared
    emits: tuple[str, ...] = ()                # what it may emit, in `emits:` syntax
    refusals: tuple[tuple[str, str, str], ...] = ()  # (id, message, constraint line) raised from Python

    @property
    def body(self) -> str:
        return "\n".join(self.body_lines)

    @property
    def declaration(self) -> str:
        """The `@declared(...)` decorator's arguments after the source."""
        text = f"emits={tuple(self.emits)!r}"
        if self.refusals:
            text += ", refusals={" + ", ".join(f"{i!r}: ({m!r}, {s!r})" for i, m, s in self.refusals) + "}"
        return text


def _default_literal(arg: TorchArg) -> str:
    value = arg.default
    if isinstance(value, _LITERAL_TYPES) or (
        isinstance(value, (list, tuple)) and all(isinstance(v, _LITERAL_TYPES) for v in value)
    ):
        return repr(list(value) if isinstance(value, tuple) else value)
    return "None"  # torch enums (layout, memory_format): the translator always passes them


def signature(spec: OpSpec) -> str:
    schema = schema_of(spec.aten)
    assert schema is not None
    parts = ["g: GraphBuilder"]
    kw_started = False
    for arg in schema.arguments:
        if arg.kwarg_only and not kw_started:
            parts.append("*")
            kw_started = True
        text = python_name(arg.name)
        parts.append(f"{text}={_default_literal(arg)}" if arg.has_default else text)
    return ", ".join(parts)


def _renames(spec: OpSpec) -> dict[str, str]:
    schema = schema_of(spec.aten)
    assert schema is not None
    return {a.name: python_name(a.name) for a in schema.arguments if python_name(a.name) != a.name}


def function_view(spec: OpSpec, variant: Variant, opset_range: tuple[int, int],
                  spec_helpers: frozenset[str] = frozenset()) -> FunctionView:
    renames = _renames(spec)
    constraints = (*spec.constraints, *variant.constraints)
    checks = tuple((emit_expr.to_python(emit_expr.parse(c.require), renames, spec_helpers), c.message, str(c.location))
                   for c in constraints if c.require is not None)
    refusals = tuple((c.id, c.message, str(c.location)) for c in constraints if c.id is not None)
    promote = None
    if spec.promote:
        names = [python_name(a) for a in spec.promote.args]
        targets = f"{names[0]}," if len(names) == 1 else ", ".join(names)
        promote = f"{targets} = g.promote([{', '.join(names)}], {spec.promote.kind!r})"
    schema = schema_of(spec.aten)
    assert schema is not None
    if variant.impl:
        module, _, function = variant.impl.rpartition(".")
        body: tuple[str, ...] = (
            f"return {module.rsplit('.', 1)[1]}.{function}({', '.join(impl_call_arguments(spec, variant))})",)
    else:
        body = tuple(emit_expr.to_python_lines(emit_expr.parse_program(variant.emit or ""), renames, spec_helpers))
    first, last = opset_range
    how = variant.impl or emit_summary(variant.emit or "", spec_helpers)
    docstring = f"{spec.aten}, opsets {first}-{last}: {how} ({variant.location})"
    if spec.aliases:
        docstring += f"; also serves {', '.join(a.aten for a in spec.aliases)}"
    return FunctionView(spec.function_name, signature(spec), docstring, checks, promote, body, str(variant.location),
                        tuple(str(d) for d in variant.emits), refusals)


def emit_summary(emit: str, spec_helpers: frozenset[str] = frozenset()) -> str:
    """An emit for a docstring or the support matrix: the expression on one line, or for a block
    `block of N lines: Op, Op; calls helper()` (the ONNX ops it calls itself, its spec helpers)."""
    tree = emit_expr.parse_program(emit)
    if emit_expr.is_single_expression(tree):
        return " ".join(emit.split())
    ops = sorted({c.op_type for c in emit_expr.onnx_calls(tree)})
    helpers = sorted(set(emit_expr.helper_calls(tree)) & spec_helpers)
    lines = len([line for line in emit.splitlines() if line.strip()])
    return (f"block of {lines} lines: {', '.join(ops) or 'no ONNX op of its own'}"
            + (f"; calls {', '.join(h + '()' for h in helpers)}" if helpers else ""))


def impl_call_arguments(spec: OpSpec, variant: Variant) -> list[str]:
    """`g`, then the function's parameters in its order: the op's arguments by position while
    they come first, the rest (and every constant bound by `args:`) by keyword; after a parameter
    the op does not have (left at its default), by keyword too."""
    schema = schema_of(spec.aten)
    assert schema is not None and variant.impl is not None
    names = [python_name(a.name) for a in schema.arguments]
    facts = lib_calls.function(variant.impl)
    if facts is None:  # not readable here (validated specs always have it): every argument, in order
        return ["g", *names]
    bound = dict(variant.args)
    call, keywords = ["g"], False
    for param in facts.params[1:]:
        if param in bound:
            call.append(f"{param}={bound[param]!r}")
            keywords = True
        elif param in names:
            call.append(f"{param}={param}" if keywords else param)
        else:
            keywords = True
    return call


def environment() -> jinja2.Environment:
    """The Jinja environment that renders generated/ (and a user's spec files, exporter/api/user_specs.py)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pystr"] = lambda s: repr(str(s))
    env.filters["docstring"] = _docstring
    return env


def _docstring(text: str) -> str:
    body = str(text).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{body}"""'


@dataclass(frozen=True)
class FunctionPlan:
    """Where every served variant's function is written, and what each opset module holds.

    A function whose signature and body repeat one written earlier (two overloads with the same
    arguments and emission, `bitwise_and.Tensor` and `.Scalar`) is written once: the later
    variant is registered to the earlier function, whose docstring says so.
    """

    modules: dict[int, list[FunctionView]]             # opset -> functions written there
    placement: dict[tuple[str, int], tuple[int, str]]  # (aten, variant index) -> (opset, name)
    impl_modules: dict[int, set[str]]                  # opset -> aten2onnx.exporter.emit.lib modules it imports


def _function_key(view: FunctionView) -> tuple[object, ...]:
    return view.signature, view.checks, view.promote, view.body, view.emits, view.refusals


def plan_functions(specs: list[OpSpec]) -> FunctionPlan:
    modules: dict[int, list[FunctionView]] = {n: [] for n in OPSETS}
    placement: dict[tuple[str, int], tuple[int, str]] = {}
    impl_modules: dict[int, set[str]] = {n: set() for n in OPSETS}
    written: dict[tuple[object, ...], tuple[int, int]] = {}  # key -> (opset, position in modules[opset])
    served = [(spec.variant_range(i)[0], order, spec, i)
              for order, spec in enumerate(specs) if spec.alias_of is None
              for i in range(len(spec.variants)) if spec.variant_range(i)[0] <= spec.variant_range(i)[1]]
    spec_helpers = frozenset(getattr(specs, "helpers", {}))
    for first, _, spec, index in sorted(served, key=lambda item: (item[0], item[1], item[3])):
        view = function_view(spec, spec.variants[index], spec.variant_range(index), spec_helpers)
        key = _function_key(view)
        if key in written:
            opset, position = written[key]
            shared = modules[opset][position]
            modules[opset][position] = dataclasses.replace(
                shared, docstring=f"{shared.docstring}; also serves {spec.aten} ({spec.variants[index].location})")
            placement[(spec.aten, index)] = (opset, shared.name)
            continue
        name = view.name
        taken = {v.name for v in modules[first]}
        while name in taken:  # two entries with one function name at one opset cannot happen; be safe
            name += "_"
        written[key] = (first, len(modules[first]))
        modules[first].append(dataclasses.replace(view, name=name))
        placement[(spec.aten, index)] = (first, name)
        impl = spec.variants[index].impl
        if impl:
            impl_modules[first].add(impl.rpartition(".")[0])
    for spec in specs:  # the mapping for complex inputs, written at the entry's first opset
        if spec.alias_of is None and spec.complex_impl is not None and spec.complex_impl.since is not None:
            opset = spec.complex_impl.since
            view = complex_function_view(spec)
            modules[opset].append(view)
            placement[(spec.aten, COMPLEX_INDEX)] = (opset, view.name)
            impl_modules[opset].add((spec.complex_impl.impl or "").rpartition(".")[0])
    for spec in specs:  # an alias is registered to its entry's functions
        if spec.alias_of is not None:
            for index in (*range(len(spec.variants)), COMPLEX_INDEX):
                if (spec.alias_of, index) in placement:
                    placement[(spec.aten, index)] = placement[(spec.alias_of, index)]
    return FunctionPlan(modules, placement, impl_modules)


COMPLEX_INDEX = -1  # FunctionPlan.placement's index for an entry's complex mapping


def complex_function_view(spec: OpSpec) -> FunctionView:
    """The entry's mapping for complex inputs: its impl, without the entry's promotion and checks
    (it promotes the (real, imag) pairs itself)."""
    variant = spec.complex_impl
    assert variant is not None and variant.impl is not None
    module, _, function = variant.impl.rpartition(".")
    body = (f"return {module.rsplit('.', 1)[1]}.{function}({', '.join(impl_call_arguments(spec, variant))})",)
    docstring = f"{spec.aten} on complex values (real, imag pairs): {variant.impl} ({variant.location})"
    return FunctionView(f"{spec.function_name}_complex", signature(spec), docstring, (), None, body,
                        str(variant.location), tuple(str(d) for d in variant.emits))


@dataclass(frozen=True)
class ComplexRow:
    """An overload of the registry's COMPLEX table and how it takes complex tensors: 'native', 'parts'
    (as Python literals) or the generated function for complex inputs."""
    aten: str
    how: str


@dataclass(frozen=True)
class RegistryRow:
    """An overload of the registry: (first opset, generated function) per variant, oldest first."""
    aten: str
    entries: tuple[tuple[int, str], ...]
    source: str


def complex_rows(specs: list[OpSpec], plan: FunctionPlan) -> list[ComplexRow]:
    """How each overload that takes complex tensors does, for the registry."""
    rows = []
    for spec in sorted(specs, key=lambda s: s.aten):
        if spec.complex_mode in ("native", "parts"):
            rows.append(ComplexRow(spec.aten, repr(spec.complex_mode)))
        elif spec.complex_mode == "impl" and (spec.aten, COMPLEX_INDEX) in plan.placement:
            opset, name = plan.placement[(spec.aten, COMPLEX_INDEX)]
            rows.append(ComplexRow(spec.aten, f"opset{opset}.{name}"))
    return rows


def render_opset_module(opset: int, specs: list[OpSpec], env: jinja2.Environment,
                        plan: FunctionPlan | None = None) -> str:
    plan = plan or plan_functions(specs)
    imports = sorted((m.rsplit(".", 1)[0], m.rsplit(".", 1)[1]) for m in plan.impl_modules[opset])
    return env.get_template("opset.py.jinja").render(opset=opset, functions=plan.modules[opset], impl_imports=imports)


def registry_rows(specs: list[OpSpec], plan: FunctionPlan | None = None) -> list[RegistryRow]:
    plan = plan or plan_functions(specs)
    rows = []
    for spec in sorted(specs, key=lambda s: s.aten):
        entries = []
        for index, _ in enumerate(spec.variants):
            first, last = spec.variant_range(index)
            if first <= last:
                opset, name = plan.placement[(spec.aten, index)]
                entries.append((first, f"opset{opset}.{name}"))
        rows.append(RegistryRow(spec.aten, tuple(entries), str(spec.location)))
    return rows


_DTYPE_ORDER = ["float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "int32", "int64", "bool", "complex64",
                "complex128"]


def tested_dtypes(spec: OpSpec) -> list[str]:
    """The tensor dtypes the op's differential test draws (float32 unless its hints say more)."""
    schema = schema_of(spec.aten)
    assert schema is not None
    found: set[str] = set()
    for arg in schema.arguments:
        hint = spec.test.args.get(arg.name)
        if isinstance(hint, ValueHint) and hint.scalar_type:  # factories: the dtype argument
            found.update(d for d in hint.scalar_type if isinstance(d, str))
        if not (arg.is_tensor or arg.is_tensor_list):
            continue
        if not isinstance(hint, TensorHint):
            found.add("float32")
        elif hint.dtype:
            found.update(hint.dtype)
        elif hint.same_dtype is None:
            found.add("float32")
    # known dtypes in their usual order, any other by name: set order varies between runs
    return sorted(found, key=lambda d: (_DTYPE_ORDER.index(d) if d in _DTYPE_ORDER else len(_DTYPE_ORDER), d))


COMPLEX_NOTES = {"native": "takes complex tensors", "parts": "takes complex tensors part by part",
                 "impl": "takes complex tensors (a mapping of its own)"}


def impl_summary(variant: Variant) -> str:
    """`max_pool(rank=2, with_indices=False)`: the impl's function and its bound arguments."""
    assert variant.impl is not None
    bound = ", ".join(f"{k}={v!r}" for k, v in variant.args)
    return f"{variant.impl.rsplit('.', 1)[1]}({bound})"


def form_counts(specs: list[OpSpec]) -> dict[str, int]:
    """Entries (aliases aside) by form: data (onnx/emit only), python (impl only), mixed; and their
    constraints, by whether the generated function (require) or the Python (id) evaluates them."""
    entries = [s for s in specs if s.alias_of is None]
    kinds = [{"impl" if v.impl else "data" for v in s.variants} for s in entries]
    constraints = [c for s in entries for c in (*s.constraints, *(c for v in s.variants for c in v.constraints))]
    return {
        "entries": len(entries),
        "data": sum(1 for k in kinds if k == {"data"}),
        "python": sum(1 for k in kinds if k == {"impl"}),
        "mixed": sum(1 for k in kinds if len(k) > 1),
        "constraints": len(constraints),
        "required": sum(1 for c in constraints if c.require is not None),
        "refused_in_python": sum(1 for c in constraints if c.id is not None),
        "helpers": len(getattr(specs, "helpers", {})),
        "complex": sum(1 for s in entries if s.complex_mode),
    }


@dataclass(frozen=True)
class ConstraintRow:
    """A constraint in SUPPORT.md: its overload, what it requires, its message and spec line."""
    aten: str
    condition: str
    message: str
    source: str


@dataclass(frozen=True)
class KernelGapRow:
    """An ONNX Runtime kernel gap in SUPPORT.md and how the ort-kernel-gaps pass works around it."""
    op: str
    dtypes: str
    how: str
    opsets: str


@dataclass(frozen=True)
class SupportRow:
    """An overload's row of the support matrix."""
    aten: str
    first: int | None
    cells: tuple[str, ...]
    mapping: str
    notes: str
    source: str
    served: frozenset[int]
    verified: frozenset[int]
    dtypes: str


def constraint_rows(specs: list[OpSpec]) -> list[ConstraintRow]:
    """Every constraint of every entry (aliases share their entry's): what is refused, and why."""
    rows = []
    for spec in sorted((s for s in specs if s.alias_of is None), key=lambda s: s.aten):
        for constraint in (*spec.constraints, *(c for v in spec.variants for c in v.constraints)):
            condition = (f"requires `{' '.join(constraint.require.split())}`" if constraint.require is not None
                         else f"refused by its Python (`{constraint.id}`)")
            rows.append(ConstraintRow(spec.aten, condition.replace("|", "\\|"), constraint.message.replace("|", "\\|"),
                                      str(constraint.location)))
    return rows


def kernel_gap_rows() -> list[KernelGapRow]:
    """What the ort-kernel-gaps pass rewrites (exporter/rewrite/ort_kernel_gaps.py), for the matrix."""
    import onnx_ir as ir

    from aten2onnx.exporter.dtypes import to_torch_dtype
    from aten2onnx.exporter.rewrite import ort_kernel_gaps as gaps

    def name(dtype: ir.DataType) -> str:
        return str(to_torch_dtype(dtype)).removeprefix("torch.")

    def opsets(span: tuple[int, int | None]) -> str:
        first, last = span
        return "all" if first <= MIN_OPSET and last is None else f"{max(first, MIN_OPSET)}–{last or MAX_OPSET}"

    rows = [KernelGapRow(f.op_type, "float64", "exact float64 form", opsets(f.opsets)) for f in gaps.FORMS]
    for gap in gaps.GAPS:
        pairs = ", ".join(f"{name(a)} → {name(b)}" for a, b in gap.compute.items())
        when = f" ({', '.join(sorted(gap.reductions))} reductions)" if gap.reductions else ""
        rows.append(KernelGapRow(gap.op_type, pairs + when,
                                 "inputs cast, op computed there, result cast back" + (" (lossy)" if gap.lossy else " (exact)"),
                                 opsets(gap.opsets)))
    return rows


def support_rows(specs: list[OpSpec]) -> list[SupportRow]:
    helpers = frozenset(getattr(specs, "helpers", {}))
    rows = []
    for spec in sorted(specs, key=lambda s: s.aten):
        served: set[int] = set()
        mappings = []
        for index, variant in enumerate(spec.variants):
            first, last = spec.variant_range(index)
            if first > last:
                continue
            served.update(range(first, last + 1))
            how = impl_summary(variant) if variant.impl else emit_summary(variant.emit or "", helpers)
            mappings.append(f"{first}–{last}: `{how}`" if (first, last) != (MIN_OPSET, MAX_OPSET) else f"`{how}`")
        xfailed = {o for first, last, _ in spec.test.xfail for o in range(first, last + 1)}
        notes = [f"alias of `{spec.alias_of}` (same function)"] if spec.alias_of else []
        notes += [f"also serves {', '.join(f'`{a.aten}`' for a in spec.aliases)}"] if spec.aliases else []
        notes += [COMPLEX_NOTES[spec.complex_mode]] if spec.complex_mode else []
        notes += [c.message for c in spec.constraints] + [
            c.message for v in spec.variants for c in v.constraints
        ] + ([spec.note] if spec.note else []) + [
            f"not verified at {first}–{last}: {reason}" for first, last, reason in spec.test.xfail
        ]
        cells = ["✓" if o in served and o not in xfailed else ("✗" if o in served else "") for o in OPSETS]
        rows.append(SupportRow(
            spec.aten, min(served) if served else None, tuple(cells), "<br>".join(mappings).replace("|", "\\|"),
            "; ".join(notes).replace("|", "\\|").replace("\n", " "), str(spec.location), frozenset(served),
            frozenset(served - xfailed), ", ".join(tested_dtypes(spec)),
        ))
    return rows




def render_all(specs: list[OpSpec]) -> dict[str, str]:
    """Every generated file, keyed by its path relative to generated/."""
    env = environment()
    plan = plan_functions(specs)
    files = {f"opset{n}.py": render_opset_module(n, specs, env, plan) for n in OPSETS}
    files["registry.py"] = env.get_template("registry.py.jinja").render(
        rows=registry_rows(specs, plan), opsets=OPSETS, min_opset=MIN_OPSET, max_opset=MAX_OPSET,
        complex_rows=complex_rows(specs, plan),
    )
    files["__init__.py"] = env.get_template("init.py.jinja").render()
    files["spec_helpers.py"] = render_spec_helpers(getattr(specs, "helpers", {}), env)
    rows = support_rows(specs)
    summary = [
        (n, sum(1 for r in rows if n in r.served), sum(1 for r in rows if n in r.verified))
        for n in OPSETS
    ]
    counts = form_counts(specs)
    files["SUPPORT.md"] = env.get_template("SUPPORT.md.jinja").render(
        rows=rows, opsets=OPSETS, summary=summary, total=len(rows),
        aliases=sum(1 for s in specs if s.alias_of is not None), counts=counts,
        data_share=round(100 * counts["data"] / max(counts["entries"], 1)),
        functions=sum(len(v) for v in plan.modules.values()),
        duplicates=len(duplicate_functions(files)),
        constraints=constraint_rows(specs), gaps=kernel_gap_rows(),
    )
    return files


@dataclass(frozen=True)
class HelperView:
    name: str
    params: str
    docstring: str
    body_lines: tuple[str, ...]
    param_names: str  # a Python tuple literal
    emit: str
    source: str


def render_spec_helpers(helpers: dict[str, HelperSpec], env: jinja2.Environment, base: str | None = None) -> str:
    """generated/spec_helpers.py: every `- helper:` item as a plain Python function `(g, *params)`.

    `base` (a module name) is imported first, so helpers of a user's spec files can call the
    built-in ones (exporter/api/user_specs.py)."""
    names = frozenset(helpers)
    if base is not None:
        import importlib

        names |= {n for n in vars(importlib.import_module(base)) if not n.startswith("_")}
    views = []
    for name, helper in sorted(helpers.items()):
        lines = emit_expr.to_python_lines(emit_expr.parse_program(helper.emit), {}, names, prefix="")
        doc = f"{helper.note} ({helper.location})" if helper.note else f"spec helper ({helper.location})"
        views.append(HelperView(name, ", ".join(["g: GraphBuilder", *helper.params]), doc, tuple(lines), repr(helper.params),
                                helper.emit, str(helper.location)))
    return env.get_template("spec_helpers.py.jinja").render(helpers=views, base=base)


def duplicate_functions(files: dict[str, str]) -> list[str]:
    """`opsetA.f = opsetB.f` for every generated function whose signature and body (its docstring
    aside) repeat an earlier one's: a variant must change what is emitted (validate refuses one
    that does not), so any is a codegen bug."""
    import ast

    seen: dict[str, str] = {}
    found = []
    for name in sorted(files, key=lambda n: (len(n), n)):
        if not (name.startswith("opset") and name.endswith(".py")):
            continue
        for node in ast.parse(files[name]).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            body = node.body[1:] if node.body and isinstance(node.body[0], ast.Expr) else node.body
            decorators = [ast.unparse(ast.Call(d.func, d.args[1:], d.keywords) if isinstance(d, ast.Call) else d)
                          for d in node.decorator_list]  # @declared's first argument is the spec line
            key = "\n".join([ast.unparse(node.args), *decorators, *(ast.unparse(b) for b in body)])
            where = f"{name[:-3]}.{node.name}"
            if key in seen:
                found.append(f"{where} = {seen[key]}")
            else:
                seen[key] = where
    return found


def stale_files(folder: Path, files: dict[str, str]) -> list[str]:
    """Generated files that differ from `files`, are missing, or would be removed."""
    stale = [name for name, text in files.items()
             if not (folder / name).exists() or (folder / name).read_text(encoding="utf-8") != text]
    return stale + sorted(p.name for p in folder.glob("opset*.py") if p.name not in files)


def write_if_changed(folder: Path, files: dict[str, str]) -> list[Path]:
    """Write files whose content differs; remove stale generated files. Returns what changed."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in files.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for stale in folder.glob("opset*.py"):
        if stale.name not in files:
            stale.unlink()
            changed.append(stale)
    return changed
