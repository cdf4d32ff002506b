"""The parsed spec model: one frozen dataclass per concept, built by popping known keys.

This is the one place that knows the YAML layout of `opspecs/*.yaml`. Parsing checks shape
(keys, types); `aten2onnx.codegen.validate` checks meaning (torch schema, onnx.defs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aten2onnx.codegen.errors import ErrorCollector, Location
from aten2onnx.codegen.shared.torch_schema import python_name
from aten2onnx.codegen.test_hints import ArgHint, parse_arg_hint
from aten2onnx.codegen.yaml_loader import LINE_KEY, item_line

MIN_OPSET = 9
MAX_OPSET = 26

PROMOTION_KINDS = ("DEFAULT", "INT_TO_FLOAT", "ALWAYS_BOOL", "COMPLEX_TO_FLOAT", "BOOL_TO_LONG")


@dataclass(frozen=True)
class Constraint:
    """A case aten2onnx refuses, with the message the user reads; its line is its identity.

    Either `require` (a condition over the arguments, checked by the generated function) or
    `id` (a condition the impl's Python evaluates, raised there by `g.refuse(id)`). `test_opset`
    and `test_dynamic` tell the differential test where the refusal is reached: at which opset,
    and with which arguments known only at run time (dynamic input sizes, symbolic ints);
    `test_eager_refuses`: the case is one torch's eager kernel refuses but export's capture records
    (fake tensors), so the search does not require eager torch to accept it.
    """

    require: str | None
    message: str
    location: Location
    id: str | None = None
    test_opset: int | None = None
    test_dynamic: tuple[str, ...] = ()
    test_hints: dict[str, ArgHint] = field(default_factory=dict, hash=False, compare=False)
    test_eager_refuses: bool = False

    @property
    def condition(self) -> str:
        """What the support matrix says is refused: the expression, or 'Python: <id>'."""
        return self.require if self.require is not None else f"Python: {self.id}"


@dataclass(frozen=True)
class EmitDecl:
    """One item of an impl's `emits:`: an ONNX op it may emit, at opsets `first`..`last` (None: open).

    Written `Gather`, `Range>=11`, `Upsample<10`, `Slice>=10<13`, or `com.microsoft::Foo`.
    """

    op: str
    first: int | None = None
    last: int | None = None
    location: Location | None = field(default=None, compare=False)

    @property
    def domain(self) -> str:
        return self.op.rpartition("::")[0]

    @property
    def op_type(self) -> str:
        return self.op.rpartition("::")[2]

    def __str__(self) -> str:
        return self.op + (f">={self.first}" if self.first else "") + (f"<{self.last + 1}" if self.last else "")


@dataclass(frozen=True)
class Variant:
    """How the op is emitted from `since` until the next variant (or the newest opset).

    Exactly one of `emit` (an expression over schema arguments) and `impl` (a dotted path to
    a Python function in `aten2onnx.exporter.emit.lib`) is set. An impl may bind constant arguments of its
    function (`args`) and declares the ONNX ops it may emit (`emits`). `since` is None until
    validation resolves it from onnx.defs (the first opset where every ONNX op it uses exists).
    """

    since: int | None
    emit: str | None
    impl: str | None
    constraints: tuple[Constraint, ...]
    location: Location
    args: tuple[tuple[str, Any], ...] = ()
    emits: tuple[EmitDecl, ...] = ()


@dataclass(frozen=True)
class Promotion:
    """Arguments brought to torch's common dtype before emission (torch._prims_common kinds)."""

    args: tuple[str, ...]
    kind: str


@dataclass(frozen=True)
class TestHints:
    """Input generation and comparison hints for the differential tests.

    `args` maps a schema argument name to its hint (a list of values, a plain value, or a parsed
    mapping: codegen.test_hints); `shapes` names dimension symbols shared by args.
    """

    args: dict[str, ArgHint] = field(default_factory=dict)
    shapes: dict[str, Any] = field(default_factory=dict)
    atol: float = 1e-5
    rtol: float = 1e-4
    xfail: tuple[tuple[int, int, str], ...] = ()  # (first opset, last opset, reason)
    max_examples: int | None = None
    opsets: tuple[int, ...] = ()  # tested besides each variant's first opset and the newest
    # Random (or undefined) values: compare distributions, not values (keys: RANDOM_HINT_KEYS).
    random: dict[str, Any] | None = None
    # Why torch.jit.trace itself refuses every call of the op: the traced suite expects failure.
    untraceable: str | None = None
    # Why the edge-shape suite (tests/test_ops_edges.py: empty tensors) cannot run the op: it skips it.
    no_edges: str | None = None
    # Floating outputs must carry torch's sign bit wherever torch's value is +-0 (tests/op_runner.py).
    signed_zeros: bool = False


@dataclass(frozen=True)
class Alias:
    """Another overload that the entry's generated function serves (`aliases: [__and__.Tensor]`)."""

    aten: str
    location: Location


@dataclass(frozen=True)
class OpSpec:
    """One ATen overload (`aten::add.Tensor`) and its ONNX emission at every opset.

    `aliases` are overloads with the same arguments that share this entry's function. After
    validation each alias is also an OpSpec of its own (`alias_of` names the entry, `location`
    is the alias's line), so tests and the support matrix see every registered overload; render
    writes no function for it and registers the entry's function under its name.
    """

    aten: str
    variants: tuple[Variant, ...]
    constraints: tuple[Constraint, ...]
    promote: Promotion | None
    test: TestHints
    note: str | None
    location: Location
    aliases: tuple[Alias, ...] = ()
    alias_of: str | None = None
    # Complex tensors (real tensors with a trailing (real, imag) axis, exporter/translate/complex_values.py):
    # "native" (the mapping reads them itself), "parts" (linear with real coefficients: run on the
    # real and the imaginary parts), "impl" (`complex_impl`, a mapping of its own), None (refused).
    complex_mode: str | None = None
    complex_impl: Variant | None = None

    def __repr__(self) -> str:
        return f"OpSpec({self.aten} at {self.location})"

    @property
    def function_name(self) -> str:
        """Python name of the generated symbolic function: `add_Tensor`, `relu`.

        An alias's is the function of the entry it aliases: that is the one it is registered to.
        """
        op, overload = (self.alias_of or self.aten).split("::", 1)[1].split(".", 1)
        return python_name(op if overload == "default" else f"{op}_{overload}")

    def variant_range(self, index: int) -> tuple[int, int]:
        """First and last opset (clipped to MIN..MAX) that variant `index` serves."""
        start = max(self.variants[index].since or MIN_OPSET, MIN_OPSET)
        if index + 1 < len(self.variants):
            end = (self.variants[index + 1].since or MAX_OPSET) - 1
        else:
            end = MAX_OPSET
        return start, min(end, MAX_OPSET)

    def variant_at(self, opset: int) -> Variant | None:
        for index in reversed(range(len(self.variants))):
            start, end = self.variant_range(index)
            if start <= opset <= end:
                return self.variants[index]
        return None


@dataclass(frozen=True)
class HelperSpec:
    """A spec helper (`- helper: moments`): a small emit, reused by entries of any spec file.

    Called like a Python helper (`moments(x, axes)`); its body is the emit language over its
    `params`, checked against onnx.defs at every opset of every variant that uses it.
    """

    name: str
    params: tuple[str, ...]
    emit: str
    location: Location
    note: str | None = None


class SpecSet(list):
    """The validated entries (a list of OpSpec), with the spec helpers they may call."""

    helpers: dict[str, HelperSpec]

    def __init__(self, specs: list[OpSpec] | None = None, helpers: dict[str, HelperSpec] | None = None):
        super().__init__(specs or [])
        self.helpers = dict(helpers or {})


HELPER_KEYS = "helper, params, emit, note"


def parse_helper(raw: dict[str, Any], file: str, collector: ErrorCollector) -> HelperSpec | None:
    """One `- helper: name` item of a spec file."""
    entry = _Entry(raw, file, collector, "a helper")
    name = entry.pop("helper", str)
    params = entry.pop("params", list, [])
    emit = entry.pop("emit", str)
    note = entry.pop("note", str)
    entry.finish(HELPER_KEYS)
    if name is None or emit is None:
        entry.error("a helper needs 'helper: <name>', 'params: [...]' and 'emit: <expression or block>'")
        return None
    if not name.isidentifier() or not name[:1].islower():
        entry.error(f"helper name '{name}' must be a lower-case Python identifier (calls to capitalised names "
                    "are ONNX ops)")
        return None
    if not all(isinstance(p, str) and p.isidentifier() for p in params) or len(set(params)) != len(params):
        entry.error(f"a helper's 'params' must be distinct parameter names, got {params!r}")
        return None
    return HelperSpec(name, tuple(params), emit.strip(), entry.location, note)


def normalize_overload(name: str) -> str:
    """`relu` -> `aten::relu.default`; `add.Tensor` -> `aten::add.Tensor`."""
    if "::" not in name:
        name = "aten::" + name
    namespace, rest = name.split("::", 1)
    if "." not in rest:
        rest += ".default"
    return f"{namespace}::{rest}"


class _Entry:
    """A mapping being parsed: pop known keys, then report what is left as unknown."""

    def __init__(self, raw: dict[str, Any], file: str, collector: ErrorCollector, what: str):
        self.raw = dict(raw)
        self.location = Location(file, self.raw.pop(LINE_KEY, 0))
        self.file = file
        self.collector = collector
        self.what = what
        self.had_type_error = False

    def error(self, message: str) -> None:
        self.collector.add(self.location, message)

    def pop(self, key: str, kinds: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.raw:
            return default
        value = self.raw.pop(key)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
            names = " or ".join(k.__name__ for k in _as_tuple(kinds))
            self.had_type_error = True
            kind = "list" if isinstance(value, list) else "mapping" if isinstance(value, dict) else type(value).__name__
            self.error(f"'{key}' must be {names}, got {kind} {list(value) if isinstance(value, list) else value!r}")
            return default
        return value

    def finish(self, allowed: str) -> None:
        for key in self.raw:
            self.error(f"unknown key '{key}' in {self.what}; allowed keys: {allowed}")


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _strip_lines(value: Any) -> Any:
    """Drop loader line markers from free-form data (test hints)."""
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != LINE_KEY}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _parse_constraints(raw: Any, file: str, where: Location, collector: ErrorCollector) -> tuple[Constraint, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        collector.add(where, "'constraints' must be a list of {require, message} or {id, message}")
        return ()
    constraints = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            collector.add(Location(where.file, item_line(raw, index, where.line)),
                          f"a constraint must be a mapping with 'require' (or 'id') and 'message', got {item!r}")
            continue
        entry = _Entry(item, file, collector, "a constraint")
        require = entry.pop("require", str)
        refusal = entry.pop("id", str)
        message = entry.pop("message", str)
        test = entry.pop("test", dict) or {}
        entry.finish("require, id, message, test")
        if (require is None) == (refusal is None) or message is None:
            entry.error("a constraint needs a 'message' (what the user reads) and exactly one of 'require' (a "
                        "condition over the arguments) or 'id' (a refusal its impl's Python raises with g.refuse(id))")
            continue
        if refusal is not None and not refusal.isidentifier():
            entry.error(f"constraint id '{refusal}' must be a Python identifier (it is written g.refuse(\"{refusal}\"))")
            continue
        opset, dynamic, hints, eager_refuses = _parse_constraint_test(test, entry)
        constraints.append(Constraint(require.strip() if require else None, message.strip(), entry.location,
                                      refusal, opset, dynamic, hints, eager_refuses))
    return tuple(constraints)


def _parse_constraint_test(raw: dict[str, Any], entry: _Entry
                           ) -> tuple[int | None, tuple[str, ...], dict[str, Any], bool]:
    """`test: {opset: 10, dynamic: [self], hints: {self: {dtype: [uint8]}}, eager_refuses: true}`: where
    the differential test reaches the refusal, hints that replace the entry's for that search only, and
    whether eager torch refuses the case (export's capture still records it)."""
    raw_hints = raw.get("hints", {})
    test = _strip_lines(raw)
    opset, dynamic, hints = test.pop("opset", None), test.pop("dynamic", []), test.pop("hints", {})
    eager_refuses = test.pop("eager_refuses", False)
    for key in test:
        entry.error(f"unknown key '{key}' in a constraint's 'test'; allowed keys: opset, dynamic, hints, eager_refuses")
    if not isinstance(eager_refuses, bool):
        entry.error(f"a constraint's 'test.eager_refuses' must be true or false, got {eager_refuses!r}")
        eager_refuses = False
    if not isinstance(hints, dict):
        entry.error(f"a constraint's 'test.hints' must map argument names to test hints, got {hints!r}")
        hints = {}
    else:  # argument hints parsed as the entry's are; `shapes` adds or replaces symbols
        hints = {name: value if name == "shapes" else parse_arg_hint(name, raw_hints[name], entry.location,
                                                                      entry.collector)
                 for name, value in hints.items()}
    if opset is not None and (type(opset) is not int or not MIN_OPSET <= opset <= MAX_OPSET):
        entry.error(f"a constraint's 'test.opset' must be an opset from {MIN_OPSET} to {MAX_OPSET}, got {opset!r}")
        opset = None
    if not (isinstance(dynamic, list) and all(isinstance(d, str) for d in dynamic)):
        entry.error(f"a constraint's 'test.dynamic' must list argument names, got {dynamic!r}")
        dynamic = []
    return opset, tuple(dynamic), hints, eager_refuses


_EMIT_DECL = re.compile(r"^(?:([A-Za-z][\w.]*)::)?([A-Za-z]\w*)\s*(?:>=\s*(\d+))?\s*(?:<\s*(\d+))?$")
_ARG_VALUE_TYPES = (bool, int, float, str, type(None))


def _parse_emits(raw: Any, entry: _Entry) -> tuple[EmitDecl, ...] | None:
    """`emits: [Gather, Range>=11, Upsample<10]` (`[]`: the impl emits no op); None when absent."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        entry.error(f"'emits' must be a list of the ONNX ops the impl may emit, like [Gather, Range>=11]; got {raw!r}")
        return ()
    decls = []
    for index, item in enumerate(raw):
        where = Location(entry.file, item_line(raw, index, entry.location.line))
        match = _EMIT_DECL.match(item.strip()) if isinstance(item, str) else None
        if match is None:
            entry.collector.add(where, f"'emits' item {item!r} is not an ONNX op name with optional opsets: write "
                                       "'Gather', 'Range>=11' (from opset 11), 'Upsample<10' (before 10) or "
                                       "'Slice>=10<13'")
            continue
        domain, op, first, until = match.groups()
        decl = EmitDecl(f"{domain}::{op}" if domain else op, int(first) if first else None,
                        int(until) - 1 if until else None, where)
        if (decl.first or MIN_OPSET) > MAX_OPSET or (decl.last is not None and decl.last < MIN_OPSET):
            entry.collector.add(where, f"'emits' item '{item}' names no opset from {MIN_OPSET} to {MAX_OPSET}")
            continue
        decls.append(decl)
    return tuple(decls)


def _parse_args(raw: Any, entry: _Entry) -> tuple[tuple[str, Any], ...]:
    """`args: {rank: 2, with_indices: false}`: constants bound to parameters of the impl's function."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        entry.error(f"'args' must be a mapping of parameter names to constants, like {{rank: 2}}; got {raw!r}")
        return ()
    bound = []
    for name, value in _strip_lines(raw).items():
        plain = value if not isinstance(value, list) else None
        if not isinstance(name, str) or not name.isidentifier():
            entry.error(f"'args' key {name!r} is not a parameter name")
        elif not (isinstance(plain, _ARG_VALUE_TYPES) or (isinstance(value, list) and all(
                isinstance(v, _ARG_VALUE_TYPES) for v in value))):
            entry.error(f"'args.{name}' must be a number, a string, true/false, null or a list of those; got {value!r}")
        else:
            bound.append((name, value))
    return tuple(bound)


def _parse_variant(raw: Any, file: str, where: Location, collector: ErrorCollector) -> Variant | None:
    if not isinstance(raw, dict):
        collector.add(where, f"a variant must be a mapping with 'since' and 'emit' or 'impl', got {raw!r}")
        return None
    entry = _Entry(raw, file, collector, "a variant")
    since = entry.pop("since", int)
    emit = entry.pop("emit", str)
    impl = entry.pop("impl", str)
    args = _parse_args(entry.raw.pop("args", None), entry)
    emits = _parse_emits(entry.raw.pop("emits", None), entry)
    constraints = _parse_constraints(entry.raw.pop("constraints", None), file, entry.location, collector)
    entry.finish("since, emit, impl, args, emits, constraints")
    if (emit is None) == (impl is None):
        entry.error("a variant needs exactly one of 'emit' (an ONNX expression) or 'impl' (a Python helper)")
        return None
    if not _impl_keys_fit(entry, impl, args, emits):
        return None
    return Variant(since, emit.strip() if emit else None, impl, constraints, entry.location, args, emits or ())


def _impl_keys_fit(entry: _Entry, impl: str | None, args: tuple[Any, ...],
                   emits: tuple[EmitDecl, ...] | None) -> bool:
    """'args' and 'emits' go with an 'impl'; an impl says what it emits."""
    if impl is None:
        for key, given in (("args", bool(args)), ("emits", emits is not None)):
            if given:
                entry.error(f"'{key}' belongs to an 'impl'; an 'emit' expression shows its ONNX ops and arguments itself")
        return not args and emits is None
    if emits is None and not entry.had_type_error:
        entry.error(f"impl '{impl}' must declare the ONNX ops it may emit: add 'emits: [...]' (codegen checks them "
                    "against its Python and onnx.defs, and says which are missing)")
        return False
    return True


def _parse_promotion(raw: Any, entry: _Entry) -> Promotion | None:
    if raw is None:
        return None
    if isinstance(raw, list) and raw and all(isinstance(a, str) for a in raw):
        return Promotion(tuple(raw), "DEFAULT")
    if isinstance(raw, dict):
        sub = _Entry(raw, entry.file, entry.collector, "'promote'")
        args = sub.pop("args", list)
        kind = sub.pop("kind", str, "DEFAULT")
        sub.finish("args, kind")
        if kind not in PROMOTION_KINDS:
            sub.error(f"promotion kind '{kind}' is not one of {', '.join(PROMOTION_KINDS)}")
            return None
        if args and all(isinstance(a, str) for a in args):
            return Promotion(tuple(args), kind)
    if raw == []:
        entry.error("'promote' lists no arguments; name the ones to promote or remove the key")
        return None
    entry.error("'promote' must be a list of argument names or {args: [...], kind: KIND}")
    return None


RANDOM_HINT_KEYS = "moments, range, values, check"


def _parse_random(raw: Any, entry: _Entry) -> dict[str, Any] | None:
    """`random: true` or `{moments: bool, range: [lo, hi], values: [...], check: name}`."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return {}
    if not isinstance(raw, dict):
        entry.error(f"'test.random' must be true or a mapping with keys {RANDOM_HINT_KEYS}, got {raw!r}")
        return None
    hint = dict(raw)
    bounds, values = hint.get("range"), hint.get("values")
    problems = [f"unknown key '{k}' in 'test.random' (keys: {RANDOM_HINT_KEYS})" for k in hint
                if k not in ("moments", "range", "values", "check")]
    if "moments" in hint and not isinstance(hint["moments"], bool):
        problems.append("'test.random.moments' must be true or false")
    if bounds is not None and not (isinstance(bounds, list) and len(bounds) == 2 and all(
            isinstance(b, (int, float, str)) and not isinstance(b, bool) for b in bounds)):
        problems.append("'test.random.range' must be [lo, hi], each a number or an argument name")
    if values is not None and not (isinstance(values, list) and values and all(
            isinstance(v, (int, float)) for v in values)):
        problems.append("'test.random.values' must be a non-empty list of numbers")
    if "check" in hint and not isinstance(hint["check"], str):
        problems.append("'test.random.check' must be the name of a check in tests/op_runner.py")
    for problem in problems:
        entry.error(problem)
    return None if problems else hint


def _parse_test(raw: Any, entry: _Entry) -> TestHints:
    if raw is None:
        return TestHints()
    if not isinstance(raw, dict):
        entry.error("'test' must be a mapping of argument hints")
        return TestHints()
    hints = _strip_lines(raw)
    where = Location(entry.file, raw.get(LINE_KEY, entry.location.line))
    tolerance = hints.pop("tolerance", {}) or {}
    shapes = hints.pop("shapes", {}) or {}
    max_examples = hints.pop("max_examples", None)
    opsets = hints.pop("opsets", []) or []
    random = _parse_random(hints.pop("random", None), entry)
    untraceable = hints.pop("untraceable", None)
    if untraceable is not None and not (isinstance(untraceable, str) and untraceable.strip()):
        entry.error(f"'test.untraceable' must be a sentence saying why torch.jit.trace refuses the op, got {untraceable!r}")
        untraceable = None
    no_edges = hints.pop("no_edges", None)
    if no_edges is not None and not (isinstance(no_edges, str) and no_edges.strip()):
        entry.error(f"'test.no_edges' must be a sentence saying why empty tensors cannot be tested, got {no_edges!r}")
        no_edges = None
    signed_zeros = hints.pop("signed_zeros", False)
    if not isinstance(signed_zeros, bool):
        entry.error(f"'test.signed_zeros' must be true or false, got {signed_zeros!r}")
        signed_zeros = False
    if not isinstance(opsets, list) or not all(type(o) is int and MIN_OPSET <= o <= MAX_OPSET for o in opsets):
        entry.error(f"'test.opsets' must list opsets from {MIN_OPSET} to {MAX_OPSET}, got {opsets!r}")
        opsets = []
    xfails = []
    for item in hints.pop("xfail", []) or []:
        span = item.get("opsets", [MIN_OPSET, MAX_OPSET]) if isinstance(item, dict) else None
        if not isinstance(item, dict) or "reason" not in item or set(item) - {"opsets", "reason"} or not (
            isinstance(span, list) and len(span) == 2 and all(type(o) is int for o in span)
        ):
            entry.error("each 'xfail' needs a 'reason' and optional 'opsets: [first, last]' (two integers)")
            continue
        xfails.append((span[0], span[1], str(item["reason"])))
    if not isinstance(tolerance, dict) or set(tolerance) - {"atol", "rtol"} or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in tolerance.values()
    ):
        entry.error("'test.tolerance' takes only 'atol' and 'rtol', each a number")
        tolerance = {}
    if max_examples is not None and (type(max_examples) is not int or max_examples < 1):
        entry.error(f"'test.max_examples' must be a positive integer, got {max_examples!r}")
        max_examples = None
    return TestHints(
        args={name: parse_arg_hint(name, raw[name], where, entry.collector) for name in hints},
        shapes=shapes,
        atol=float(tolerance.get("atol", 1e-5)),
        rtol=float(tolerance.get("rtol", 1e-4)),
        xfail=tuple(xfails),
        max_examples=max_examples,
        opsets=tuple(sorted(set(opsets))),
        random=random,
        untraceable=untraceable,
        no_edges=no_edges,
        signed_zeros=signed_zeros,
    )


def _parse_aliases(raw: Any, entry: _Entry) -> tuple[Alias, ...]:
    """`aliases: [__and__.Tensor, ...]`: overload names spelled as in `aten`; checked in validate."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        entry.error("'aliases' must be a non-empty list of overload names (spelled as in 'aten'), "
                    f"like [__and__.Tensor]; got {raw!r}")
        return ()
    aliases = []
    for index, item in enumerate(raw):
        where = Location(entry.file, item_line(raw, index, entry.location.line))
        if not isinstance(item, str) or not item.strip():
            entry.collector.add(where, f"each alias must be an overload name such as '__and__.Tensor', got {item!r}")
            continue
        aliases.append(Alias(normalize_overload(item.strip()), where))
    return tuple(aliases)


ENTRY_KEYS = ("aten, onnx, emit, impl, args, emits, since, variants, constraints, promote, complex, test, note, "
              "aliases")
COMPLEX_MODES = ("native", "parts")


def _parse_complex(raw: Any, entry: _Entry) -> tuple[str | None, Variant | None]:
    """`complex: native`, `complex: parts` or `complex: {impl: ..., args: {...}, emits: [...]}`."""
    if raw is None:
        return None, None
    if isinstance(raw, str) and raw in COMPLEX_MODES:
        return raw, None
    if isinstance(raw, dict):
        sub = _Entry(raw, entry.file, entry.collector, "'complex'")
        impl = sub.pop("impl", str)
        args = _parse_args(sub.raw.pop("args", None), sub)
        emits = _parse_emits(sub.raw.pop("emits", None), sub)
        sub.finish("impl, args, emits")
        if impl is None:
            sub.error("'complex' as a mapping needs 'impl' (the Python mapping for complex inputs) and 'emits'")
            return None, None
        if not _impl_keys_fit(sub, impl, args, emits):
            return None, None
        return "impl", Variant(None, None, impl, (), sub.location, args, emits or ())
    entry.error(f"'complex' must be native (the mapping handles (real, imag) pairs itself), parts (it is linear with "
                f"real coefficients: it runs on the real and the imaginary parts) or {{impl: ..., emits: [...]}}; "
                f"got {raw!r}")
    return None, None


def parse_entry(raw: Any, file: str, collector: ErrorCollector, line: int = 1) -> OpSpec | None:
    """Parse one list item of a spec file; problems go to `collector`."""
    if not isinstance(raw, dict):
        collector.add(Location(file, line), f"each spec entry must be a mapping starting with 'aten:', got {raw!r}")
        return None
    entry = _Entry(raw, file, collector, "an op entry")
    aten = entry.pop("aten", str)
    aliases = _parse_aliases(entry.raw.pop("aliases", None), entry)
    onnx_op = entry.pop("onnx", str)
    emit = entry.pop("emit", str)
    impl = entry.pop("impl", str)
    args = _parse_args(entry.raw.pop("args", None), entry)
    emits = _parse_emits(entry.raw.pop("emits", None), entry)
    since = entry.pop("since", int)
    raw_variants = entry.pop("variants", list)
    constraints = _parse_constraints(entry.raw.pop("constraints", None), file, entry.location, collector)
    promote = _parse_promotion(entry.raw.pop("promote", None), entry)
    complex_mode, complex_impl = _parse_complex(entry.raw.pop("complex", None), entry)
    test = _parse_test(entry.raw.pop("test", None), entry)
    note = entry.pop("note", str)
    entry.finish(ENTRY_KEYS)
    if aten is None:
        entry.error("an op entry needs 'aten: <overload>' (for example 'add.Tensor')")
        return None

    forms = [k for k, v in (("onnx", onnx_op), ("emit", emit), ("impl", impl), ("variants", raw_variants)) if v]
    if not forms and entry.had_type_error:
        return None  # the wrongly typed key was reported already
    if len(forms) != 1:
        entry.error(f"'{aten}' needs exactly one of 'onnx', 'emit', 'impl' or 'variants', found: {', '.join(forms) or 'none'}")
        return None
    if onnx_op is not None:
        if not _impl_keys_fit(entry, None, args, emits):
            return None
        # Tier 1: every tensor argument, in schema order, becomes an input; resolved in validate.
        variants: tuple[Variant, ...] = (Variant(since, f"{onnx_op}(*)", None, (), entry.location),)
    elif emit is not None or impl is not None:
        if not _impl_keys_fit(entry, impl, args, emits):
            return None
        variants = (Variant(since, emit.strip() if emit else None, impl, (), entry.location, args, emits or ()),)
    else:
        for key, given in (("since", since), ("args", args), ("emits", emits)):
            if given or (key == "emits" and given is not None):
                entry.error(f"'{key}' belongs on each variant when 'variants' is used")
        parsed = [_parse_variant(v, file, Location(file, item_line(raw_variants, i, entry.location.line)), collector)
                  for i, v in enumerate(raw_variants)]
        if any(v is None for v in parsed):
            return None
        variants = tuple(v for v in parsed if v is not None)
    return OpSpec(normalize_overload(aten), variants, constraints, promote, test, note, entry.location, aliases,
                  complex_mode=complex_mode, complex_impl=complex_impl)
