"""Translate an ExportedProgram's FX graph into an onnx_ir model, one symbolic fn per node."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import onnx
import onnx_ir as ir
import torch
import torch.fx
from onnx_ir.tensor_adapters import TorchTensor
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind

from codegen.torch_schema import python_name, schema_of
from exporter import aten_fallback, registry
from exporter.dim_names import dim_text
from exporter.dtypes import from_torch_dtype
from exporter.errors import (
    ExportArgumentError,
    OnnxExporterError,
    TranslationError,
    UnsupportedOpsError,
    UnsupportedUse,
)
from exporter.fx_locations import classic_scope, locate, module_path
from exporter.graph_builder import GraphBuilder


def overload_name(target: Any) -> str | None:
    """`aten::add.Tensor` for an OpOverload, None for anything else."""
    if isinstance(target, torch._ops.OpOverload):
        return f"{target._schema.name}.{target._overloadname}"
    return None


def _describe_target(target: Any) -> str:
    return overload_name(target) or getattr(target, "__qualname__", None) or str(target)


def find_unsupported(graph: torch.fx.Graph, opset: int, aten_fallback_ok: bool = False) -> list[UnsupportedUse]:
    """Every call in the graph with no mapping at `opset`, grouped by op and location.

    With `aten_fallback_ok`, ops that can become ATen nodes are not counted as unsupported.
    """
    counts: Counter[tuple[str, Any]] = Counter()
    for node in graph.nodes:
        if node.op != "call_function" or node.target is operator.getitem:
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


def set_type_from_meta(value: ir.Value, meta: Any, dim_names: dict[Any, Any] | None = None) -> None:
    """dtype and shape from an FX fake tensor; symbolic dims take the user's names."""
    if not isinstance(meta, torch.Tensor):
        return
    value.dtype = from_torch_dtype(meta.dtype)
    value.shape = ir.Shape([dim_text(d, dim_names or {}) for d in meta.shape])


class _Translator:
    def __init__(self, program: ExportedProgram, opset: int, dim_names: dict[Any, Any], model_name: str = ""):
        self.program = program
        self.dim_names = dim_names
        self.opset = opset
        self.model_name = model_name
        self.g = GraphBuilder(opset)
        self.env: dict[torch.fx.Node, Any] = {}
        self.inputs: list[ir.Value] = []
        self.initializers: list[ir.Value] = []
        self.used_names: set[str] = set()

    # -- placeholders -----------------------------------------------------------------------------
    def placeholder(self, node: torch.fx.Node, spec: Any, user_name: str | None) -> None:
        if spec.kind == InputKind.USER_INPUT:
            value = ir.Value(name=self._unique(user_name or node.name))
            set_type_from_meta(value, node.meta.get("val"), self.dim_names)
            self.inputs.append(value)
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            tensor = self.program.state_dict.get(spec.target)
            if tensor is None:
                tensor = self.program.constants[spec.target]
            name = self._unique(spec.target)
            # Wrapped, not copied: serialization reads the torch tensor once, on save.
            value = ir.Value(name=name, const_value=TorchTensor(tensor.detach(), name=name))
            set_type_from_meta(value, tensor)
            self.initializers.append(value)
        else:
            raise NotImplementedError(f"input kind {spec.kind} of '{node.name}' is not supported yet")
        self.env[node] = value

    # -- calls ----------------------------------------------------------------------------------
    def call(self, node: torch.fx.Node) -> None:
        if node.target is operator.getitem:
            source, index = node.args
            self.env[node] = self.env[source][index]
            return
        name = overload_name(node.target)
        assert name is not None
        # find_unsupported ran first: no mapping here means the ATen fallback was allowed
        function = registry.lookup(name, self.opset) or aten_fallback.symbolic
        arguments = self.arguments(node, name)
        path, _ = module_path(node)
        location = locate(node)
        with self.g.translating(name, path or node.name, location, classic_scope(node, self.model_name)):
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
        self.env[node] = self.bind(node, result)

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
                raise RuntimeError(f"{node.target}: spec returned {result!r}, torch produces {len(meta)} outputs")
            return type(result)(self.bind_one(node.name, r, m, i) for i, (r, m) in enumerate(zip(result, meta)))
        return self.bind_one(node.name, result, meta, None)

    def bind_one(self, base: str, value: Any, meta: Any, index: int | None) -> Any:
        if not isinstance(value, ir.Value):
            return value
        fresh = value.producer() is not None and value.name.startswith("val_")
        if fresh:  # an output made for this node: give it the FX name and torch's type
            value.name = self._unique(base if index is None else f"{base}_{index}")
            set_type_from_meta(value, meta, self.dim_names)
        return value

    # -- outputs --------------------------------------------------------------------------------
    def outputs(self, node: torch.fx.Node, output_names: Sequence[str] | None) -> list[ir.Value]:
        specs = self.program.graph_signature.output_specs
        results = node.args[0]
        user_outputs = sum(1 for spec in specs if spec.kind == OutputKind.USER_OUTPUT)
        if output_names and len(output_names) > user_outputs:
            raise ExportArgumentError(
                f"output_names has {len(output_names)} names ({', '.join(output_names)}) but the model "
                f"has {user_outputs} output(s) (nested outputs count one per tensor, in order)"
            )
        values = []
        for spec, arg in zip(specs, results):
            if spec.kind != OutputKind.USER_OUTPUT:
                continue
            value = self.env[arg]
            wanted = output_names[len(values)] if output_names and len(values) < len(output_names) else None
            is_input = value in self.inputs or value in self.initializers or value in values
            if is_input or wanted and wanted != value.name and wanted in self.used_names:
                copy = self.g.op("Identity", value)
                copy.dtype, copy.shape = value.dtype, value.shape
                value = copy
                value.name = self._unique(wanted or f"{arg.name}_output")
            elif wanted:
                self.used_names.discard(value.name)
                value.name = self._unique(wanted)
            values.append(value)
        return values

    def _unique(self, name: str) -> str:
        candidate, count = name, 0
        while candidate in self.used_names:
            count += 1
            candidate = f"{name}_{count}"
        self.used_names.add(candidate)
        return candidate


def translate(program: ExportedProgram, opset: int, input_names: Sequence[str] | None = None,
              output_names: Sequence[str] | None = None, dim_names: dict[Any, Any] | None = None, *,
              aten_fallback_ok: bool = False, model_name: str = "",
              custom_opsets: Mapping[str, int] | None = None) -> ir.Model:
    """The ONNX model for `program` at `opset`; raises UnsupportedOpsError listing every gap.

    `model_name` roots the classic scopes (`AlexNet/Conv2d[conv]`); `custom_opsets` sets the
    version of custom domains (1 for any other domain the graph uses).
    """
    graph = program.graph_module.graph
    unsupported = find_unsupported(graph, opset, aten_fallback_ok)
    if unsupported:
        raise UnsupportedOpsError(opset, unsupported, _newer_opsets(unsupported, opset))
    translator = _Translator(program, opset, dim_names or {}, model_name)
    input_specs = iter(program.graph_signature.input_specs)
    user_names = iter(input_names or ())
    outputs: list[ir.Value] = []
    for node in graph.nodes:
        if node.op == "placeholder":
            spec = next(input_specs)
            user_name = next(user_names, None) if spec.kind == InputKind.USER_INPUT else None
            translator.placeholder(node, spec, user_name)
        elif node.op == "call_function":
            translator.call(node)
        elif node.op == "output":
            outputs = translator.outputs(node, output_names)
    imports = {"": opset, **dict.fromkeys(sorted(translator.g.domains), 1), **(custom_opsets or {})}
    if aten_fallback.ATEN_DOMAIN in translator.g.domains:
        imports.setdefault(aten_fallback.ATEN_DOMAIN, aten_fallback.ATEN_DOMAIN_VERSION)
    ir_graph = ir.Graph(
        translator.inputs, outputs, nodes=translator.g.nodes, initializers=translator.initializers,
        opset_imports=imports, name="main_graph",
    )
    ir_version = onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])
    return ir.Model(ir_graph, ir_version=max(ir_version, 8), producer_name="aten2onnx")
