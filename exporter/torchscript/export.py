"""export(..., dynamo=False): capture with TorchScript, translate, return the ONNX model.

api.export calls `export_torchscript` for dynamo=False, for ScriptModules and ScriptFunctions, and
(fallback=True) when torch.export cannot capture the model; checking options, the post-passes,
verification, the report and saving are shared with the torch.export path, and so is the
legalization after translation (aten2onnx.exporter.rewrite.passes.legalize, for `target_runtime`).
"""

from __future__ import annotations

import inspect
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import onnx_ir.passes.common
import torch

from aten2onnx.exporter.capture.dim_names import _name_of, leaf_specs
from aten2onnx.exporter.capture.legacy_dynamic_axes import DynamicAxes
from aten2onnx.exporter.capture.model_inputs import parameter_names, tensor_leaves
from aten2onnx.exporter.capture.torch_export import model_mode
from aten2onnx.exporter.errors import ExportArgumentError, TranslationError, UnsupportedOpsError
from aten2onnx.exporter.options import ExportOptions
from aten2onnx.exporter.torchscript.capture import TRACE, Captured, TracedValueWarning, capture_torchscript
from aten2onnx.exporter.torchscript.meta import MetaContext
from aten2onnx.exporter.torchscript.translator import Translator
from aten2onnx.exporter.torchscript.values import ModuleRef, is_missing, is_sequence
from aten2onnx.exporter.translate.translator import _newer_opsets


def _axis_names(spec: Any, leaf_name: str) -> dict[int, str]:
    """{axis: name} of one input's dynamic axes; axes given as Dim hints get `x_dim0`-style names."""
    if spec is None:
        return {}
    items = spec.items() if isinstance(spec, dict) else enumerate(spec)
    return {axis: _name_of(dim) or f"{leaf_name}_dynamic_axes_{axis + 1}" for axis, dim in items if dim is not None}


def _flat_pairs(value: Any, meta: Any) -> list[tuple[Any, Any]]:
    """An input as the lowered graph takes it: tuples flattened, lists and numbers kept whole."""
    if isinstance(value, tuple):
        return [pair for v, m in zip(value, meta) for pair in _flat_pairs(v, m)]
    return [(value, meta)]


class _InputBinder:
    """Graph inputs from the example inputs: every tensor an ONNX input (those inside tuples, lists and
    dicts in order, named as torch.export names them: `batch_ids`), every other value a constant."""

    def __init__(self, t: Translator, names: list[str], axes: list[dict[int, str]], user_names: Sequence[str]):
        self.t, self.names, self.axes, self.user_names = t, names, axes, list(user_names)
        self.count = 0

    def bind(self, value: Any) -> tuple[Any, Any]:
        if isinstance(value, torch.Tensor):
            index = self.count
            self.count += 1
            name = self.user_names[index] if index < len(self.user_names) else \
                self.names[index] if index < len(self.names) else f"input_{index}"
            axes = self.axes[index] if index < len(self.axes) else {}
            meta = self.t.meta.input(value, axes, name)
            return self.t.new_input(name, value, meta), meta
        if isinstance(value, (list, tuple)):
            pairs = [self.bind(v) for v in value]
            return type(value)(p[0] for p in pairs), type(value)(p[1] for p in pairs)
        if isinstance(value, dict):  # torch.onnx flattened a dict input's values in order: one input each
            bound = {key: self.bind(item) for key, item in value.items()}
            return {k: p[0] for k, p in bound.items()}, {k: p[1] for k, p in bound.items()}
        return value, value


def _outputs(t: Translator, results: list[tuple[Any, Any]], output_names: Sequence[str] | None) -> list[ir.Value]:
    flat: list[tuple[Any, Any]] = []

    def walk(value: Any, meta: Any) -> None:
        if isinstance(value, dict):
            by_key = meta if isinstance(meta, dict) else {}
            for key, item in value.items():
                walk(item, by_key.get(key))
        elif isinstance(value, (list, tuple)):
            in_order = meta if isinstance(meta, (list, tuple)) else [None] * len(value)
            for v, m in zip(value, in_order):
                walk(v, m)
        elif value is not None:
            flat.append((value, meta))

    for value, meta in results:
        walk(value, meta)
    if output_names and len(output_names) > len(flat):
        raise ExportArgumentError(
            f"output_names has {len(output_names)} names ({', '.join(output_names)}) but the model has "
            f"{len(flat)} output(s) (nested outputs count one per tensor, in order)")
    values: list[ir.Value] = []
    for index, (value, _) in enumerate(flat):
        wanted = output_names[index] if output_names and index < len(output_names) else None
        if is_sequence(value):
            raise TranslationError("the model returns a list built at run time (an ONNX sequence); return "
                                   "torch.stack(...) or torch.cat(...) of it instead")
        values.append(t.output(value, wanted, f"output_{index}", values))
    return values


def _defaults(captured: Captured, given: int, wanted: int) -> list[Any]:
    """The default values of a scripted forward()'s trailing arguments the example inputs leave out."""
    if given >= wanted or not isinstance(captured.owner, torch.jit.ScriptModule) or captured.method != "torch.jit.script":
        return []
    # a ScriptMethod, which torch's stubs type as a plain callable
    arguments = captured.owner.forward.schema.arguments[1:]  # type: ignore[attr-defined]  # after self
    missing = arguments[given:wanted] if len(arguments) == wanted else []
    return [a.default_value for a in missing if a.default_value is not None or a.has_default_value()]


def _input_names(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], captured: Captured) -> list[str]:
    names = [leaf.default_name for leaf in tensor_leaves(model, args, kwargs)]
    if all(not n.startswith("args_") for n in names):
        return names
    graph_inputs = list(captured.graph.inputs())[1 if captured.takes_self else 0:]
    debug = [v.debugName().split(".")[0] for v in graph_inputs if isinstance(v.type(), torch._C.TensorType)]
    return debug if len(debug) == len(names) else names


def translate_torchscript(captured: Captured, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                          axes: DynamicAxes, options: ExportOptions) -> ir.Model:
    """The ONNX model of a captured TorchScript graph; raises UnsupportedOpsError listing every gap."""
    root = model if isinstance(model, torch.nn.Module) else None
    model_name = getattr(model, "original_name", None) or type(model).__name__ if root is not None else ""
    t = Translator(options.opset_version, MetaContext(), root, model_name, options.aten_fallback,
                   captured.module_calls)
    graph_inputs = list(captured.graph.inputs())
    if captured.takes_self:
        t.set(graph_inputs.pop(0), ModuleRef("", captured.owner), None)
    names = _input_names(model, args, kwargs, captured)
    specs = leaf_specs(model, args, kwargs, axes.dynamic_shapes) if axes.dynamic_shapes is not None else []
    binder = _InputBinder(t, names, [_axis_names(s, n) for s, n in zip(specs, names)], options.input_names or ())
    # ONNX inputs follow torch.export's order (args, then kwargs as given); the graph takes them as traced
    named = [*zip(parameter_names(model, len(args)), args), *kwargs.items()]
    bound = {name: binder.bind(value) for name, value in named}
    order = list(bound)
    if kwargs and captured.method == TRACE and isinstance(model, torch.nn.Module):
        order = list(inspect.signature(model.forward).bind(*args, **kwargs).arguments)  # what tracing passed
    pairs = [pair for name in order for pair in _flat_pairs(*bound[name])]
    pairs += [(d, d) for d in _defaults(captured, len(pairs), len(graph_inputs))]
    if len(pairs) != len(graph_inputs):
        raise ExportArgumentError(f"{type(model).__name__}'s TorchScript graph takes {len(graph_inputs)} input(s), "
                                  f"the example inputs give {len(pairs)}")
    for graph_input, (value, meta) in zip(graph_inputs, pairs):
        t.set(graph_input, value, meta)
    t.run_graph(captured.graph)
    if t.unsupported:
        uses = t.unsupported_uses()
        raise UnsupportedOpsError(options.opset_version, uses, _newer_opsets(uses, options.opset_version))
    results = [(t.get(v), t.meta_of(v)) for v in captured.graph.return_node().inputs()]
    if any(is_missing(v) for v, _ in results):
        raise TranslationError("an output of the model could not be translated")
    outputs = _outputs(t, results, options.output_names)
    for where, (size, by) in t.specialized.items():
        message = (f"aten2onnx: the dynamic axis {where} was fixed to {size} by {by}: the exported model only "
                   "accepts that size there; remove the axis from dynamic_axes or keep the size symbolic in the model")
        captured.notes.append(message)
        warnings.warn(message, TracedValueWarning, stacklevel=3)
    # pruned: numbers folded at export time leave their nodes
    return t.model(outputs, options.custom_opsets, options.target_runtime, options.runtime_version, prune=True)


def export_torchscript(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], axes: DynamicAxes,
                       options: ExportOptions, modules_as_functions: bool = False) -> tuple[Captured, ir.Model]:
    """Capture (trace or script) and translate; the model's attributes are read in the training mode asked.
    `modules_as_functions`: every node must be known to come from its module call (or from none)."""
    if modules_as_functions and isinstance(model, torch.jit.ScriptFunction):
        raise ExportArgumentError(f"export_modules_as_functions: {model.name} is a scripted function, which calls "
                                  "no modules; export the nn.Module that uses it, or leave the option out")
    captured = capture_torchscript(model, args, kwargs, options.training)
    if modules_as_functions:
        captured.module_calls.check_complete(getattr(model, "original_name", None) or type(model).__name__,
                                             captured.graph)
    with model_mode(model, options.training), model_mode(captured.owner, options.training):
        return captured, translate_torchscript(captured, model, args, kwargs, axes, options)


def operator_counts(graph: torch._C.Graph) -> Counter[str]:
    """How often each op (`aten::add.Tensor`, `prim::Loop`) occurs in the graph, its blocks included."""
    from aten2onnx.exporter.torchscript.translator import overload_of

    counts: Counter[str] = Counter()

    def walk(block: torch._C.Block) -> None:
        for node in block.nodes():
            if node.kind() not in ("prim::Constant", "prim::ListConstruct", "prim::GetAttr"):
                counts[overload_of(node)[0]] += 1  # a node without a schema (prim::If) counts by its kind
            for inner in node.blocks():
                walk(inner)

    walk(graph.block())
    return counts
