"""Translate an ExportedProgram's FX graph into an onnx_ir model, one symbolic fn per node."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import onnx_ir as ir
import torch
import torch.fx
from torch.export import ExportedProgram
from torch.export.graph_signature import ConstantArgument, InputKind, OutputKind

from aten2onnx.codegen.shared.torch_schema import python_name, schema_of
from aten2onnx.exporter.capture.dim_names import dim_text
from aten2onnx.exporter.capture.fx_locations import classic_scope, locate, module_calls, module_path
from aten2onnx.exporter.dtypes import from_torch_dtype
from aten2onnx.exporter.emit import symint_ops
from aten2onnx.exporter.emit.graph_builder import (
    COMPLEX_KEY,
    STRIDED_VIEW_KEY,
    GraphBuilder,
    complex_parts_dtype,
    is_generated_name,
    is_symbolic_scalar,
    mark_complex,
    mark_symbolic_scalar,
)
from aten2onnx.exporter.errors import (
    ExportArgumentError,
    OnnxExporterError,
    TranslationError,
    UnsupportedOpsError,
    UnsupportedUse,
)
from aten2onnx.exporter.rewrite import passes
from aten2onnx.exporter.translate import aten_fallback, complex_values, control_flow, registry
from aten2onnx.exporter.translate.empty_results import empty_result, is_empty_result
from aten2onnx.exporter.translate.graph_parts import GraphParts
from aten2onnx.exporter.write.weight_sources import SourceTensor


def overload_name(target: Any) -> str | None:
    """`aten::add.Tensor` for an OpOverload, None for anything else."""
    if isinstance(target, torch._ops.OpOverload):
        return f"{target._schema.name}.{target._overloadname}"
    return None


def _describe_target(target: Any) -> str:
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"higher_order::{target.name()}"  # control flow and other torch.export wrappers
    return overload_name(target) or getattr(target, "__qualname__", None) or str(target)


def _calls(graph: torch.fx.Graph) -> Any:
    """Every call_function node, those of control-flow subgraphs (If/Loop bodies) included."""
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        yield node
        for module in control_flow.subgraph_modules(node):
            yield from _calls(module.graph)


def _handled_in_python(target: Any) -> bool:
    """getitem, arithmetic on symbolic sizes and control flow: translated without a spec."""
    return target is operator.getitem or symint_ops.handles(target) or control_flow.handles(target)


def find_unsupported(graph: torch.fx.Graph, opset: int, aten_fallback_ok: bool = False) -> list[UnsupportedUse]:
    """Every call in the graph (and its subgraphs) with no mapping at `opset`, grouped by op and location.

    With `aten_fallback_ok`, ops that can become ATen nodes are not counted as unsupported.
    """
    counts: Counter[tuple[str, Any]] = Counter()
    for node in _calls(graph):
        if _handled_in_python(node.target):
            continue
        name = overload_name(node.target)
        if name is None or registry.lookup(name, opset) is None:
            if aten_fallback_ok and aten_fallback.can_fall_back(node.target):
                continue
            counts[(_describe_target(node.target), locate(node))] += 1
    return [UnsupportedUse(name, location, count) for (name, location), count in counts.items()]


def _newer_opsets(uses: list[UnsupportedUse], opset: int) -> dict[str, int]:
    newer = {}
    for use in uses:
        for candidate in range(opset + 1, registry.MAX_OPSET + 1):
            if registry.lookup(use.overload, candidate) is not None:
                newer[use.overload] = candidate
                break
    return newer


def scalar_type(meta: Any) -> ir.DataType | None:
    """The dtype of the 0-d value that stands for a (symbolic) Python number, None for anything else."""
    if isinstance(meta, (bool, torch.SymBool)):
        return ir.DataType.BOOL
    if isinstance(meta, (int, torch.SymInt)):
        return ir.DataType.INT64
    if isinstance(meta, (float, torch.SymFloat)):
        return ir.DataType.DOUBLE
    return None


def set_type_from_meta(value: ir.Value, meta: Any, dim_names: dict[Any, Any] | None = None) -> None:
    """dtype and shape from an FX fake tensor (or a SymInt: 0-d); symbolic dims take the user's names."""
    dtype = scalar_type(meta)
    if dtype is not None:
        value.dtype, value.shape = dtype, ir.Shape([])
        return
    if not isinstance(meta, torch.Tensor):
        return
    dims = [dim_text(d, dim_names or {}) for d in meta.shape]
    if meta.dtype.is_complex:  # (real, imag) pairs on a trailing axis: see graph_builder.mark_complex
        value.dtype = from_torch_dtype(complex_parts_dtype(meta.dtype))
        value.shape = ir.Shape([*dims, 2])
        mark_complex(value)
        return
    value.meta.pop(COMPLEX_KEY, None)
    value.dtype = from_torch_dtype(meta.dtype)
    value.shape = ir.Shape(dims)
    layout = _view_layout(meta)
    if layout is not None:  # a view in eager: as_strided reads its base's storage, which ONNX does not have
        value.meta[STRIDED_VIEW_KEY] = layout


def _view_layout(meta: torch.Tensor) -> tuple[tuple[int, ...], int] | None:
    """(stride, storage offset) of a tensor that is not row-major with storage of its own, as every
    ONNX value is; None when it is, or when sizes are symbolic: asking torch then adds guards that
    would specialize the program's dynamic dimensions."""
    try:
        if any(isinstance(n, torch.SymInt) for n in (*meta.shape, *meta.stride(), meta.storage_offset())):
            return None
        if (meta.is_contiguous() and meta.storage_offset() == 0
                and meta.untyped_storage().nbytes() == meta.numel() * meta.element_size()):
            return None
        return tuple(int(s) for s in meta.stride()), int(meta.storage_offset())
    except Exception:  # a guard on a symbolic (or data-dependent) size torch cannot decide here
        return None


def _state_kind(spec: Any) -> str:
    """What a lifted tensor is in the model, as checkpoint errors name it."""
    if spec.kind == InputKind.PARAMETER:
        return "parameter"
    if spec.kind == InputKind.BUFFER:
        return "buffer" if spec.persistent is not False else "non-persistent buffer"
    return "constant"


class Translator(GraphParts):
    """Translates the nodes of one FX graph into `self.g`; a subgraph gets a translator of its own.

    A subgraph translator (see `run_subgraph`) shares the program, the names in use and the
    initializers with its parent; its placeholders are bound to values given by the caller.
    """

    def __init__(self, program: ExportedProgram, opset: int, dim_names: dict[Any, Any], model_name: str = "",
                 parent: Translator | None = None, g: GraphBuilder | None = None):
        super().__init__(opset, g, parent.initializers if parent else None, parent.used_names if parent else None)
        self.program = program
        self.dim_names = dim_names
        self.model_name = model_name
        self.env: dict[torch.fx.Node, Any] = {}

    # -- placeholders -----------------------------------------------------------------------------
    def constant_input(self, node: torch.fx.Node, spec: Any) -> None:
        """A Python value (or None) given as an input: torch.export specialized the graph on it, so
        it is a constant of the export, not an ONNX input (as in torch.onnx)."""
        self.env[node] = spec.arg.value

    def placeholder(self, node: torch.fx.Node, spec: Any, user_name: str | None) -> None:
        if spec.kind == InputKind.USER_INPUT:
            value = ir.Value(name=self.unique(user_name or node.name))
            set_type_from_meta(value, node.meta.get("val"), self.dim_names)
            self.inputs.append(value)
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            tensor = self.program.state_dict.get(spec.target)
            if tensor is None:
                tensor = self.program.constants[spec.target]
            name = self.unique(spec.target)
            # Wrapped, not copied: serialization reads the torch tensor once, on save (it may be fake
            # until ONNXProgram.apply_weights gives it data).
            source = SourceTensor(tensor, key=spec.target, kind=_state_kind(spec), origin=id(tensor), name=name)
            value = ir.Value(name=name, const_value=source)
            set_type_from_meta(value, tensor)
            self.initializers.append(value)
        else:
            raise NotImplementedError(f"input kind {spec.kind} of '{node.name}' is not supported yet")
        self.env[node] = value

    def get_attr(self, node: torch.fx.Node, owner: torch.nn.Module) -> None:
        """A submodule (a control-flow subgraph) or a tensor attribute of the graph's module."""
        value = getattr(owner, str(node.target))
        if isinstance(value, torch.Tensor):
            with self.g.translating("get_attr", node.name, locate(node)):
                value = self.g.constant(value)
        self.env[node] = value

    # -- subgraphs (control flow) ---------------------------------------------------------------
    def run_subgraph(self, module: torch.fx.GraphModule, args: Sequence[Any], g: GraphBuilder) -> list[Any]:
        """Translate `module`'s graph into `g` with its placeholders bound to `args`; its outputs, flat.

        `g` is `self.g` to inline the graph, or `self.g.subgraph()` for an If/Loop body.
        """
        sub = Translator(self.program, self.opset, self.dim_names, self.model_name, parent=self, g=g)
        placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(args):
            raise TranslationError(f"subgraph '{module.__class__.__name__}' takes {len(placeholders)} inputs, "
                                   f"{len(args)} were given")
        outputs: list[Any] = []
        for node in module.graph.nodes:
            if node.op == "placeholder":
                value = args[placeholders.index(node)]
                if isinstance(value, ir.Value) and value.shape is None:
                    set_type_from_meta(value, node.meta.get("val"), self.dim_names)
                sub.env[node] = value
            elif node.op == "get_attr":
                sub.get_attr(node, module)
            elif node.op == "call_function":
                sub.call(node)
            elif node.op == "output":
                results = node.args[0]
                flat = list(results) if isinstance(results, (list, tuple)) else [results]
                outputs = [sub.resolve(r) for r in flat]
        return outputs

    def fresh_value(self, base: str, meta: Any) -> ir.Value:
        """A new graph input (of a Loop body) named after `base`, typed from FX metadata."""
        value = ir.Value(name=self.unique(base))
        set_type_from_meta(value, meta, self.dim_names)
        if scalar_type(meta) is not None:
            mark_symbolic_scalar(value)
        return value

    # -- calls ----------------------------------------------------------------------------------
    def call(self, node: torch.fx.Node) -> None:
        if node.target is operator.getitem:
            source, index = node.args
            assert isinstance(source, torch.fx.Node)  # getitem reads a multi-output node's result
            self.env[node] = self.env[source][index]
            return
        if symint_ops.handles(node.target) or control_flow.handles(node.target):
            self.env[node] = self.bind(node, self._call_python(node))
            return
        name = overload_name(node.target)
        assert name is not None
        if is_empty_result(node.meta.get("val")):  # nothing to compute: torch recorded the empty result
            self.env[node] = self.bind(node, empty_result(self.g, node.meta["val"]))
            return
        # find_unsupported ran first: no mapping here means the ATen fallback was allowed
        function = registry.lookup(name, self.opset) or aten_fallback.symbolic
        arguments = self.arguments(node, name)
        function = complex_values.symbolic_for(name, function, arguments, node.meta.get("val"), self.opset)
        path, _ = module_path(node)
        location = locate(node)
        meta = node.meta.get("val")
        # the dtype torch recorded for the node's result: factory ops without a dtype argument take it
        # (torch's default dtype when the model ran may not be the one now)
        self.g.output_dtype = meta.dtype if isinstance(meta, torch.Tensor) and not meta.dtype.is_complex else None
        with self.g.translating(name, path or node.name, location, classic_scope(node, self.model_name),
                                module_calls(node)):
            try:
                result = function(self.g, **arguments)
            except OnnxExporterError:
                raise
            except Exception as exc:  # a bug in a spec helper or a user's symbolic: say which and where
                source = registry.source_of(name) or "the ATen fallback"
                raise TranslationError(
                    f"translating {name} at {location} failed: {type(exc).__name__}: {exc} "
                    f"(mapping from {source}); the original error is chained below"
                ) from exc
            finally:
                self.g.output_dtype = None
        self.env[node] = self.bind(node, result)

    def _call_python(self, node: torch.fx.Node) -> Any:
        """Arithmetic on symbolic sizes (symint_ops) and control flow (control_flow)."""
        name = _describe_target(node.target)
        path, _ = module_path(node)
        location = locate(node)
        with self.g.translating(name, path or node.name, location, classic_scope(node, self.model_name),
                                module_calls(node)):
            try:
                if control_flow.handles(node.target):
                    return control_flow.translate(self, node)
                return symint_ops.translate(self.g, node.target, self.resolve(tuple(node.args)))
            except OnnxExporterError:
                raise
            except Exception as exc:
                raise TranslationError(
                    f"translating {name} at {location} failed: {type(exc).__name__}: {exc}; "
                    "the original error is chained below"
                ) from exc

    def arguments(self, node: torch.fx.Node, name: str) -> dict[str, Any]:
        """Schema-ordered keyword arguments, FX nodes replaced by their ONNX values."""
        schema = schema_of(name)
        assert schema is not None
        given = dict(zip((a.name for a in schema.arguments), node.args))
        given.update(node.kwargs)
        return {python_name(a.name): self.resolve(given[a.name]) for a in schema.arguments if a.name in given}

    def resolve(self, arg: Any) -> Any:
        if isinstance(arg, torch.fx.Node):
            return self.env[arg]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.resolve(a) for a in arg)
        return arg

    def bind(self, node: torch.fx.Node, result: Any) -> Any:
        meta = node.meta.get("val")
        if isinstance(meta, (list, tuple)):
            if not isinstance(result, (list, tuple)) or len(result) != len(meta):
                raise TranslationError(
                    f"translating {node.target} at {locate(node)}: its mapping returned {result!r}, torch produces "
                    f"{len(meta)} outputs; a mapping returns one ONNX value per output, as a tuple")
            return type(result)(self.bind_one(node.name, r, m, i) for i, (r, m) in enumerate(zip(result, meta)))
        return self.bind_one(node.name, result, meta, None)

    def bind_one(self, base: str, value: Any, meta: Any, index: int | None) -> Any:
        if isinstance(value, (list, tuple)) and isinstance(meta, (list, tuple)) and len(value) == len(meta):
            # a list of tensors among the outputs (histogramdd's bin edges): each named and typed
            name = base if index is None else f"{base}_{index}"
            return type(value)(self.bind_one(name, v, m, i) for i, (v, m) in enumerate(zip(value, meta)))
        if not isinstance(value, ir.Value):
            return value
        if isinstance(meta, torch.Tensor) and is_symbolic_scalar(value):
            value = self.g.op("Identity", value)  # a tensor made from a size: it promotes as a tensor
        fresh = value.producer() is not None and is_generated_name(value.name)
        if fresh:  # an output made for this node: give it the FX name and torch's type
            value = self._as_torch_dtype(value, meta)
            value.name = self.unique(base if index is None else f"{base}_{index}")
            set_type_from_meta(value, meta, self.dim_names)
            if scalar_type(meta) is not None:
                mark_symbolic_scalar(value)  # a SymInt/SymFloat/SymBool: promotes as a Python number
        return value

    def _as_torch_dtype(self, value: ir.Value, meta: Any) -> ir.Value:
        """`value` cast to the dtype torch recorded when the mapping computed another one: the value is
        declared with torch's dtype, and a declared type that disagrees with the computed one makes
        ONNX Runtime refuse the model."""
        if not isinstance(meta, torch.Tensor) or value.dtype is None or is_symbolic_scalar(value):
            return value
        wanted = from_torch_dtype(complex_parts_dtype(meta.dtype) if meta.dtype.is_complex else meta.dtype)
        if value.dtype == wanted:
            return value
        return self.g.op("Cast", value, to=int(wanted))

    # -- outputs --------------------------------------------------------------------------------
    def outputs(self, node: torch.fx.Node, output_names: Sequence[str] | None) -> list[ir.Value]:
        specs = self.program.graph_signature.output_specs
        results = node.args[0]
        assert isinstance(results, (list, tuple))  # the output node holds the outputs' sequence
        user_outputs = sum(1 for spec, arg in zip(specs, results) if spec.kind == OutputKind.USER_OUTPUT
                           and arg is not None)
        if output_names and len(output_names) > user_outputs:
            raise ExportArgumentError(
                f"output_names has {len(output_names)} names ({', '.join(output_names)}) but the model "
                f"has {user_outputs} output(s) (nested outputs count one per tensor, in order)"
            )
        values: list[ir.Value] = []
        for spec, arg in zip(specs, results):
            if spec.kind != OutputKind.USER_OUTPUT or arg is None:
                continue  # None outputs are dropped, as torch.onnx does
            value = self.env[arg] if isinstance(arg, torch.fx.Node) else arg
            wanted = output_names[len(values)] if output_names and len(values) < len(output_names) else None
            # a Python number the model returns (a static size) is `output_N`; a copy, after its node
            copied = isinstance(arg, torch.fx.Node) and isinstance(value, ir.Value)
            fallback = f"{arg.name}_output" if copied else f"output_{len(values)}"
            values.append(self.output(value, wanted, fallback, values))
        return values


def is_constant_input(spec: Any) -> bool:
    """A user input that is a Python value (bool, int, float, str) or None, not a tensor."""
    return spec.kind == InputKind.USER_INPUT and isinstance(spec.arg, ConstantArgument)


def constant_inputs(program: ExportedProgram) -> dict[str, Any]:
    """The user inputs torch.export specialized on: name -> value (`flag=False`, `mask=None`)."""
    return {spec.arg.name: spec.arg.value for spec in program.graph_signature.input_specs
            if is_constant_input(spec)}


def translate(program: ExportedProgram, opset: int, input_names: Sequence[str] | None = None,
              output_names: Sequence[str] | None = None, dim_names: dict[Any, Any] | None = None, *,
              aten_fallback_ok: bool = False, model_name: str = "",
              custom_opsets: Mapping[str, int] | None = None,
              target_runtime: str | None = passes.DEFAULT_TARGET_RUNTIME,
              runtime_version: str | None = None) -> ir.Model:
    """The ONNX model for `program` at `opset`; raises UnsupportedOpsError listing every gap.

    `model_name` roots the classic scopes (`AlexNet/Conv2d[conv]`); `custom_opsets` sets the
    version of custom domains (1 for any other domain the graph uses). The translated model
    goes through `passes.legalize` for `target_runtime` at `runtime_version` (its rewrites are listed in the model's
    `meta["aten2onnx.rewrites"]`).
    """
    graph = program.graph_module.graph
    unsupported = find_unsupported(graph, opset, aten_fallback_ok)
    if unsupported:
        raise UnsupportedOpsError(opset, unsupported, _newer_opsets(unsupported, opset))
    translator = Translator(program, opset, dim_names or {}, model_name)
    input_specs = iter(program.graph_signature.input_specs)
    user_names = iter(input_names or ())
    outputs: list[ir.Value] = []
    for node in graph.nodes:
        if node.op == "placeholder":
            spec = next(input_specs)
            if is_constant_input(spec):
                translator.constant_input(node, spec)
                continue
            user_name = next(user_names, None) if spec.kind == InputKind.USER_INPUT else None
            translator.placeholder(node, spec, user_name)
        elif node.op == "call_function":
            translator.call(node)
        elif node.op == "get_attr":
            translator.get_attr(node, program.graph_module)
        elif node.op == "output":
            outputs = translator.outputs(node, output_names)
    return translator.model(outputs, custom_opsets, target_runtime, runtime_version)
