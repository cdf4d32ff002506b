"""custom_translation_table: torch.onnx's map from an op to the onnxscript function(s) translating it.

`export(..., custom_translation_table={torch.ops.mylib.foo.default: fn})` translates every call of
that op with `fn` instead of its spec, for this export only: the entries are installed as the
registry's first layer while the export runs, so the op is also kept whole by decomposition.
A key is an OpOverload (`torch.ops.aten.relu.default`) or an OpOverloadPacket (`torch.ops.aten.relu`,
every overload); a value is one function or a list of them.

The functions are written with onnxscript, in either of the forms torch.onnx takes:
- `@onnxscript.script()` functions are compiled ONNX functions. As torch.onnx's translation does,
  each call becomes a node of the function's domain and the function joins the model's local
  functions (ONNX Runtime inlines it when it loads the model; `optimize=True` inlines it in the file).
- plain Python functions calling `op.X(...)` (`from onnxscript import opset18 as op`) are traced:
  their ops are inlined into the graph.
A function receives the op's arguments as torch.export recorded them (positional ones in order,
keyword-only ones by name): tensors as graph values, everything else as Python values
(a dtype as its ONNX data type). Python numbers given to an ONNX input take the dtype of the
input they share a type with, as onnxscript does.

A list serves several dtypes or opsets. As in torch.onnx's dispatcher, the first function whose
type annotations accept the node's dtypes is used, skipping those whose ONNX ops are not valid at
the export's opset (an op that changed its inputs or attributes since the opset the function was
written for). When no function fits, the op's own mapping translates it, as torch.onnx falls back
to its built-in functions; the report lists which ops came from the table.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from aten2onnx.codegen.shared.onnx_schema import schema_at
from aten2onnx.codegen.shared.torch_schema import python_name, schema_of
from aten2onnx.exporter.dtypes import from_torch_dtype, to_torch_dtype
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.errors import ExportArgumentError, OnnxExporterError, TranslationError
from aten2onnx.exporter.translate import registry

_STANDARD_DOMAINS = ("", "ai.onnx")
# ONNX attribute type -> graph_builder's typed-attribute suffix (torch.onnx's `alpha_f=` convention)
_ATTRIBUTE_SUFFIX = {
    ir.AttributeType.FLOAT: "_f", ir.AttributeType.INT: "_i", ir.AttributeType.STRING: "_s",
    ir.AttributeType.FLOATS: "_f", ir.AttributeType.INTS: "_i", ir.AttributeType.STRINGS: "_s",
    ir.AttributeType.TENSOR: "_t",
}
_DEFAULT_DTYPES = {bool: ir.DataType.BOOL, int: ir.DataType.INT64, float: ir.DataType.FLOAT}


class _NotAtThisOpset(Exception):
    """A traced function used an ONNX op whose form differs at the export's opset: try the next one."""


@dataclass(frozen=True, eq=False)
class Candidate:
    """One function of a table entry, with what dispatch needs to know about it."""

    function: Callable[..., Any]
    signature: ir.schemas.OpSignature | None  # from its type annotations; None: takes anything
    label: str                                 # `name (file.py:12)`, for reports and errors

    @property
    def is_script(self) -> bool:
        import onnxscript

        return isinstance(self.function, onnxscript.OnnxFunction)


@dataclass(frozen=True)
class TableEntry:
    name: str  # `aten::relu.default`, or `aten::relu` for a packet (every overload)
    candidates: tuple[Candidate, ...]


@dataclass
class TableSession:
    """What the table did during one export: the functions to add to the model, and its uses."""

    entries: tuple[TableEntry, ...]
    functions: dict[tuple[str, str, str], ir.Function] = field(default_factory=dict)
    function_sources: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    domain_versions: dict[str, int] = field(default_factory=dict)
    uses: dict[str, Counter[str]] = field(default_factory=dict)  # overload -> Counter(function label)


_active: TableSession | None = None


# -- checking the table ----------------------------------------------------------------------------------
def _label(function: Any) -> str:
    inner = getattr(function, "function", function)  # an OnnxFunction wraps the Python function
    name = getattr(inner, "__qualname__", None) or getattr(function, "name", None) or repr(function)
    try:
        where = f"{inspect.getsourcefile(inner)}:{inspect.getsourcelines(inner)[1]}"
    except (TypeError, OSError):
        return name
    return f"{name} ({where})"


def _signature(function: Any) -> ir.schemas.OpSignature | None:
    import onnxscript

    if isinstance(function, onnxscript.OnnxFunction):
        return function.op_signature
    try:  # onnxscript reads a plain function's annotations as torch.onnx does
        return onnxscript.values.TracedOnnxFunction(onnxscript.values.Opset("aten2onnx.traced", 1),
                                                    function).op_signature
    except Exception:  # unannotated or unreadable: it takes anything
        return None


def _key_name(key: Any) -> str:
    if isinstance(key, torch._ops.OpOverload):
        return f"{key._schema.name}.{key._overloadname}"
    if isinstance(key, torch._ops.OpOverloadPacket):
        return key._qualified_op_name
    raise ExportArgumentError(
        f"custom_translation_table: key {key!r} is not a torch operator; use an op overload such as "
        "torch.ops.aten.relu.default or torch.ops.mylib.foo.default (or the packet torch.ops.aten.relu "
        "for every overload)"
    )


def check_table(table: Any) -> tuple[TableEntry, ...]:
    """The table as entries, every key and function checked; () when there is none."""
    if table is None:
        return ()
    if not isinstance(table, Mapping):
        raise ExportArgumentError(f"custom_translation_table must be a dict from op overloads to onnxscript "
                                  f"functions, got {type(table).__name__}")
    entries = []
    for key, value in table.items():
        name = _key_name(key)
        functions = list(value) if isinstance(value, (list, tuple)) else [value]
        if not functions or not all(callable(f) for f in functions):
            raise ExportArgumentError(
                f"custom_translation_table[{name}] must be an onnxscript function (or a list of them), "
                f"got {value!r}"
            )
        entries.append(TableEntry(name, tuple(Candidate(f, _signature(f), _label(f)) for f in functions)))
    return tuple(entries)


@contextlib.contextmanager
def installed(entries: tuple[TableEntry, ...]) -> Iterator[TableSession]:
    """The entries as the registry's first layer while the export runs."""
    global _active
    session = TableSession(entries)
    if not entries:
        yield session
        return
    if _active is not None:
        raise ExportArgumentError("custom_translation_table: another export with a table is running")
    for entry in entries:
        translate_fn = _translator(entry, session)
        registry.translation_table.add(entry.name, registry.Entry(registry.MIN_OPSET, translate_fn,
                                                                  f"custom_translation_table[{entry.name}]"))
    _active = session
    try:
        yield session
    finally:
        _active = None
        registry.translation_table.entries.clear()


def add_functions(model: ir.Model, custom_opsets: Mapping[str, int]) -> None:
    """Put the table's script functions into `model` and give their domains the Opset's version."""
    session = _active
    if session is None:
        return
    for identifier, function in session.functions.items():
        model.functions[identifier] = function
    for domain, version in session.domain_versions.items():
        if domain not in _STANDARD_DOMAINS:
            model.opset_imports[domain] = custom_opsets.get(domain, version)


# -- calling a function for a node -----------------------------------------------------------------------
def _onnx_argument(value: Any) -> Any:
    """torch.export's recorded value as torch.onnx passes it: a dtype as its ONNX data type."""
    if isinstance(value, torch.dtype):
        return from_torch_dtype(value)
    if isinstance(value, (torch.device, torch.memory_format, torch.layout)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_onnx_argument(v) for v in value)
    return value


def _call_arguments(overload: str, arguments: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Translate's keyword arguments -> the op's call as recorded: positional ones in schema order
    up to the first one left out, the rest (and keyword-only ones) by name. No default is filled in:
    the function's own defaults apply, as in torch.onnx."""
    schema = schema_of(overload)
    if schema is None:
        return [_onnx_argument(v) for v in arguments.values()], {}
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    gap = False
    for arg in schema.arguments:
        key = python_name(arg.name)
        if key not in arguments:
            gap = gap or not arg.kwarg_only
            continue
        value = _onnx_argument(arguments[key])
        if arg.kwarg_only or gap:
            keywords[arg.name] = value
        else:
            positional.append(value)
    return positional, keywords


def _bind(signature: ir.schemas.OpSignature, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter name -> value, as Python would bind the call; TypeError when it cannot."""
    params = list(signature.params)
    if len(args) > len(params):
        raise TypeError(f"takes {len(params)} arguments, the op gives {len(args)}")
    bound = {param.name: value for param, value in zip(params, args)}
    for name, value in kwargs.items():
        if name not in {p.name for p in params}:
            raise TypeError(f"has no parameter '{name}'")
        bound[name] = value
    missing = [p.name for p in params if p.required and p.name not in bound]
    if missing:
        raise TypeError(f"needs {', '.join(missing)}, which the op does not give")
    return bound


def _dtype_of(value: Any) -> ir.DataType | None:
    if isinstance(value, ir.Value):
        return value.dtype
    return None


def _mismatch(signature: ir.schemas.OpSignature | None, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
    """Why the function's annotations do not accept this call (None: they do), as torch.onnx matches
    a node's argument types against each function's signature."""
    if signature is None:
        return None
    try:
        bound = _bind(signature, args, kwargs)
    except TypeError as exc:
        return str(exc)
    assigned: dict[str, ir.TypeProtocol] = {}
    for param in signature.params:
        if param.name not in bound or bound[param.name] is None:
            continue
        value = bound[param.name]
        if isinstance(param, ir.schemas.AttributeParameter):
            if isinstance(value, ir.Value):
                return f"attribute '{param.name}' would get a value computed in the graph"
            continue
        dtype = _dtype_of(value)
        if dtype is None:
            continue  # a Python number is cast to the input's type
        given = ir.TensorType(dtype)
        allowed = param.type_constraint.allowed_types
        if given not in allowed:
            return f"'{param.name}' is {dtype.name}, the function takes {_type_names(allowed)}"
        if assigned.setdefault(param.type_constraint.name, given) != given:
            return (f"'{param.name}' is {dtype.name} but another input of type {param.type_constraint.name} is "
                    f"{assigned[param.type_constraint.name]}")
    return None


def _type_names(types: Any) -> str:
    names = sorted(t.dtype.name for t in types if isinstance(t, ir.TensorType))
    return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "") if names else "no tensor"


def _translator(entry: TableEntry, session: TableSession) -> Callable[..., Any]:
    def translate_with_table(g: GraphBuilder, **arguments: Any) -> Any:
        overload = g.overload
        args, kwargs = _call_arguments(overload, arguments)
        reasons = []
        for candidate in entry.candidates:
            reason = _mismatch(candidate.signature, args, kwargs)
            if reason is None:
                reason, result = _try(candidate, g, args, kwargs, session)
                if reason is None:
                    session.uses.setdefault(overload, Counter())[candidate.label] += 1
                    return result
            reasons.append(f"{candidate.label}: {reason}")
        fallback = registry.find_declared(overload, g.opset)
        if fallback is None:
            raise TranslationError(
                f"custom_translation_table[{entry.name}] has no function for {overload} at opset {g.opset} "
                f"with these inputs, and the op has no other mapping:\n  " + "\n  ".join(reasons)
                + "\nAdd a function whose annotations accept these dtypes, written for this opset."
            )
        session.uses.setdefault(overload, Counter())[f"its own mapping ({fallback.source})"] += 1
        return fallback.function(g, **arguments)

    return translate_with_table


def _try(candidate: Candidate, g: GraphBuilder, args: list[Any], kwargs: dict[str, Any],
         session: TableSession) -> tuple[str | None, Any]:
    """(None, outputs) when `candidate` translated the node; (why not, None) when it is not valid at
    the export's opset, leaving the graph as it was."""
    from onnxscript import evaluator

    recorder = _Recorder(g, session, candidate.label)
    if candidate.is_script:
        reason = recorder.script_unfit(candidate.function)
        if reason is not None:
            return reason, None
    first_node, domains, functions = len(g.nodes), set(g.domains), dict(session.functions)
    try:
        with evaluator.default_as(recorder):
            if candidate.is_script:
                result = recorder.eval_function(candidate.function, args, kwargs)
            else:
                result = candidate.function(*args, **kwargs)
    except _NotAtThisOpset as unfit:
        del g.nodes[first_node:]
        g.domains.intersection_update(domains)
        for identifier in set(session.functions) - set(functions):
            del session.functions[identifier], session.function_sources[identifier]
        return str(unfit), None
    except OnnxExporterError:
        raise
    except Exception as exc:
        raise TranslationError(
            f"custom_translation_table: {candidate.label} failed on {g.overload} at {g.location}: "
            f"{type(exc).__name__}: {exc}; the original error is chained below"
        ) from exc
    if result is None or not _all_values(result):
        raise TranslationError(f"custom_translation_table: {candidate.label} returned {result!r} for {g.overload}; "
                               "it must return the ONNX value(s) it built (op.X(...) results)")
    return None, tuple(result) if isinstance(result, list) else result


def _all_values(result: Any) -> bool:
    items = result if isinstance(result, (list, tuple)) else [result]
    return all(isinstance(item, ir.Value) for item in items)


# -- onnxscript's evaluator, recording into the graph ---------------------------------------------------
def _unfit(op_type: str, written: int, target: int, attributes: Sequence[str], inputs: int) -> str | None:
    """Why ONNX `op_type` as written at opset `written` is not the same op at `target` (None: it is).
    Ops whose inputs and attributes stayed the same (new types only) count as the same."""
    if written == target:
        return None
    before, now = schema_at(op_type, written), schema_at(op_type, target)
    if now is None:
        return f"ONNX {op_type} does not exist at opset {target}"
    if before is None or before.since_version == now.since_version:
        return None
    names_before = [i.name for i in before.inputs][:inputs]
    names_now = [i.name for i in now.inputs][:inputs]
    changed = [a for a in attributes if a not in now.attributes]
    if names_before != names_now or changed or len(now.inputs) < min(inputs, len(before.inputs)):
        return (f"it uses ONNX {op_type} as of opset {written} (version {before.since_version}); at opset {target} "
                f"{op_type} is version {now.since_version}, with other inputs or attributes")
    return None


def _constant_dtype(value: Any, constraint: Any, known: Mapping[str, ir.DataType]) -> ir.DataType:
    """onnxscript's autocast: a Python number takes the dtype of the inputs sharing its type."""
    if constraint is not None and constraint.name in known:
        return known[constraint.name]
    if constraint is not None:
        tensors = [t for t in constraint.allowed_types if isinstance(t, ir.TensorType)]
        if len(tensors) == 1:
            return tensors[0].dtype
    sample = value
    while isinstance(sample, (list, tuple)) and sample:
        sample = sample[0]
    return _DEFAULT_DTYPES.get(type(sample), ir.DataType.FLOAT)


class _Recorder:
    """An onnxscript evaluator that builds each op into the graph through `g` (onnxscript calls
    `eval_op` for every `op.X(...)` and `eval_function` for a script function)."""

    def __init__(self, g: GraphBuilder, session: TableSession, label: str):
        self.g = g
        self.session = session
        self.label = label

    def _formal_inputs(self, signature: ir.schemas.OpSignature | None) -> list[Any]:
        return [p for p in signature.params if isinstance(p, ir.schemas.Parameter)] if signature else []

    def _as_inputs(self, signature: ir.schemas.OpSignature | None, values: Sequence[Any]) -> list[Any]:
        """Python numbers, lists and arrays as Constants, typed like the inputs sharing their type."""
        formal = self._formal_inputs(signature)

        def constraint(index: int) -> Any:
            return formal[min(index, len(formal) - 1)].type_constraint if formal else None

        known: dict[str, ir.DataType] = {}
        for index, value in enumerate(values):
            if isinstance(value, ir.Value) and value.dtype is not None and constraint(index) is not None:
                known.setdefault(constraint(index).name, value.dtype)
        inputs = []
        for index, value in enumerate(values):
            if value is None or isinstance(value, ir.Value):
                inputs.append(value)
            elif isinstance(value, torch.Tensor):
                inputs.append(self.g.constant(value))
            elif isinstance(value, np.ndarray):
                inputs.append(self.g.constant(torch.from_numpy(value)))
            elif isinstance(value, (bool, int, float, list, tuple)):
                dtype = _constant_dtype(value, constraint(index), known)
                inputs.append(self.g.constant(value, to_torch_dtype(dtype)))
            else:
                raise self._error(f"an ONNX input cannot be {type(value).__name__} ({value!r})")
        return inputs

    def _error(self, problem: str) -> TranslationError:
        """What is wrong with the table function's call, naming the function, the op and where."""
        return TranslationError(f"custom_translation_table: {self.label} on {self.g.overload} at {self.g.location}: "
                                f"{problem}")

    def eval_op(self, op: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        domain = op.opset.domain
        attributes = {k: v for k, v in kwargs.items() if v is not None}
        if domain in _STANDARD_DOMAINS:
            reason = _unfit(op.name, op.opset.version, self.g.opset, list(attributes), len(args))
            if reason is not None:
                raise _NotAtThisOpset(reason)
        else:
            self.session.domain_versions.setdefault(domain, op.opset.version)
        inputs = self._as_inputs(op.op_signature, args)
        outputs = _output_count(op, inputs, attributes)
        if outputs is None:
            raise self._error("op.Split needs num_outputs= or a constant split to know its outputs")
        return self.g.op(op.name, *inputs, _domain=domain, _outputs=outputs,
                         **{k: _attribute_value(v) for k, v in attributes.items()})

    def eval_function(self, function: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """A call node of the script function's domain; the function joins the model's functions."""
        signature = function.op_signature
        try:
            bound = _bind(signature, args, kwargs)
        except TypeError as exc:  # _bind speaks Python's TypeError for _mismatch; here it is the user's call
            raise self._error(f"{function.name} {exc}") from None
        inputs, attributes = [], {}
        for param in signature.params:
            value = bound.get(param.name)
            if isinstance(param, ir.schemas.Parameter):
                inputs.append(value)
            elif value is not None:
                suffix = _ATTRIBUTE_SUFFIX.get(param.type)
                if suffix is None:
                    raise self._error(f"attribute '{param.name}' of type {param.type.name} cannot be given")
                attributes[param.name + suffix] = _coerce(_attribute_value(value), param.type)
        self._register(function)
        domain = function.function_ir.domain
        outputs = len(function.function_ir.outputs)
        return self.g.op(function.name, *self._as_inputs(signature, inputs), _domain=domain, _outputs=outputs,
                         **attributes)

    def script_unfit(self, function: Any) -> str | None:
        """Why a script function (and those it calls) is not valid at the export's opset, or None."""
        for sub in _script_functions(function):
            written = sub.function_ir.opset_imports.get("", self.g.opset)
            for node in ir.traversal.RecursiveGraphIterator(sub.function_ir.graph):
                if node.domain in _STANDARD_DOMAINS:
                    reason = _unfit(node.op_type, written, self.g.opset, list(node.attributes), len(node.inputs))
                    if reason is not None:
                        return reason
        return None

    def _register(self, function: Any) -> None:
        for sub in _script_functions(function):
            identifier = (sub.function_ir.domain, sub.name, "")
            known = self.session.function_sources.get(identifier)
            if known is sub:
                continue
            if known is not None:
                raise ExportArgumentError(
                    f"custom_translation_table: two different script functions are named "
                    f"{identifier[0]}::{identifier[1]}; give one another name or domain"
                )
            body = ir.serde.deserialize_function(sub.to_function_proto())
            body.opset_imports[""] = self.g.opset  # checked by script_unfit: the same ops at this opset
            for node in ir.traversal.RecursiveGraphIterator(body):
                if node.domain not in _STANDARD_DOMAINS and node.domain in body.opset_imports:
                    self.session.domain_versions.setdefault(node.domain, body.opset_imports[node.domain])
            self.session.functions[identifier] = body
            self.session.function_sources[identifier] = sub
            self.session.domain_versions.setdefault(sub.function_ir.domain, sub.opset.version)


def _script_functions(function: Any) -> list[Any]:
    """The script function and every script function it calls, each once."""
    found: dict[int, Any] = {}
    pending = [function]
    while pending:
        current = pending.pop()
        if id(current) in found:
            continue
        found[id(current)] = current
        pending.extend(current.function_ir.get_called_functions().values())
    return list(found.values())


def _attribute_value(value: Any) -> Any:
    if isinstance(value, ir.DataType):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_attribute_value(v) for v in value]
    return value


def _coerce(value: Any, attr_type: ir.AttributeType) -> Any:
    """A Python value as the attribute type the function declares (an int for a float attribute...)."""
    if attr_type == ir.AttributeType.FLOAT:
        return float(value)
    if attr_type == ir.AttributeType.INT:
        return int(value)
    if attr_type == ir.AttributeType.FLOATS:
        return [float(v) for v in value]
    if attr_type == ir.AttributeType.INTS:
        return [int(v) for v in value]
    if attr_type in (ir.AttributeType.STRING, ir.AttributeType.STRINGS):
        return value
    if attr_type == ir.AttributeType.TENSOR:
        return value if isinstance(value, torch.Tensor) else torch.tensor(value)
    return value


def _output_count(op: Any, inputs: Sequence[Any], attributes: Mapping[str, Any]) -> int | None:
    """How many outputs an op call has, as onnxscript counts them in eager mode (None: a Split whose
    count only shows at run time)."""
    schema = op.op_schema
    if schema is None:
        return 1
    if op.opset.domain in _STANDARD_DOMAINS:
        if op.name == "BatchNormalization" and not attributes.get("training_mode", 0):
            return 1
        if op.name == "Split":
            if "num_outputs" in attributes:
                return int(attributes["num_outputs"])
            split = inputs[1] if len(inputs) > 1 else None
            if isinstance(split, ir.Value) and split.const_value is not None:
                return int(split.const_value.numpy().size)
            producer = split.producer() if isinstance(split, ir.Value) else None
            if producer is not None and producer.op_type == "Constant":
                return int(producer.attributes["value"].as_tensor().numpy().size)
            return None
    return len(schema.outputs)
