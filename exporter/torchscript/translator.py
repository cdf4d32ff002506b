"""Translate a TorchScript graph into ONNX through the same registry the torch.export path uses.

Each `aten::` node resolves to its OpOverload from the node's own schema (`aten::add.Tensor`),
and the registry entry of that overload is called with the same GraphBuilder and the same keyword
arguments (schema names) as on the torch.export path. `prim::` constructs are read here:
constants, lists and tuples (static ones are Python lists), attribute reads (weights become
initializers named by their module path), numbers, and control flow (control_flow.py).

Every value carries metadata computed on fake tensors (meta.py): a node whose outputs are all
numbers known at export time is folded to those numbers (a static `x.size(1)`), so only what
depends on the inputs reaches ONNX. In-place ops rebind the value they write: their own spec when
there is one, else the functional op's mapping cast back to the written dtype; a write into a
`select`/`slice` view is written back into its base with select_scatter/slice_scatter.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import TorchTensor

from aten2onnx.codegen.shared.torch_schema import python_name
from aten2onnx.exporter.capture.autograd_symbolic import translate_python_op
from aten2onnx.exporter.capture.torch_export import _functional_variant
from aten2onnx.exporter.emit.graph_builder import (
    GraphBuilder,
    is_generated_name,
    is_symbolic_scalar,
    mark_symbolic_scalar,
)
from aten2onnx.exporter.errors import ModelLocation, OnnxExporterError, TranslationError, UnsupportedUse
from aten2onnx.exporter.torchscript import (
    control_flow,
    dict_ops,
    list_ops,
    locations,
    prim_ops,
    running_stats,
    scan_lists,
)
from aten2onnx.exporter.torchscript.decompose import decompose
from aten2onnx.exporter.torchscript.meta import (
    MetaContext,
    SequenceMeta,
    histogram_meta,
    is_concrete,
    number_op,
    returns_kind,
    torch_value,
)
from aten2onnx.exporter.torchscript.module_calls import ModuleCalls
from aten2onnx.exporter.torchscript.values import MISSING, is_missing
from aten2onnx.exporter.translate import aten_fallback, complex_values, registry
from aten2onnx.exporter.translate.graph_parts import GraphParts
from aten2onnx.exporter.translate.translator import scalar_type, set_type_from_meta

# Ops that read a tensor's data as a Python number.
_TO_NUMBER = {"Int": int, "Float": float, "Bool": bool, "ScalarImplicit": None, "IntImplicit": int,
              "FloatImplicit": float, "item": None, "_local_scalar_dense": None}
# Ops on 0-d tensors whose result is still the number they hold (the trace's `x.size(0) * 2`).
_HELD_ARITHMETIC = {"add", "sub", "mul", "div", "floor_divide", "remainder", "neg", "rsub"}
# View ops a write can be carried back through, and the scatter op that does it.
_WRITE_BACK = {"aten::select.int": "aten::select_scatter.default", "aten::slice.Tensor": "aten::slice_scatter.default"}
_VIEWS = {"view", "reshape", "transpose", "t", "permute", "unsqueeze", "squeeze", "expand", "expand_as", "narrow",
          "flatten", "unflatten", "view_as", "reshape_as", "diagonal", "as_strided", "unfold", "split", "chunk",
          "unbind", "select", "slice", "alias", "detach", "movedim", "swapaxes", "real", "imag"}
_SANITIZE = re.compile(r"[^\w.]")
# Ops whose output sizes depend on tensor data (packed sequences follow their lengths).
_DATA_DEPENDENT = {"aten::_pack_padded_sequence.default", "aten::_pad_packed_sequence.default", "aten::lstm.data",
                   "aten::gru.data", "aten::rnn_tanh.data", "aten::rnn_relu.data"}


def overload_of(node: torch._C.Node) -> tuple[str, torch._ops.OpOverload | None]:
    """(`aten::add.Tensor`, its OpOverload) from the node's schema; the OpOverload is None when torch has none."""
    try:
        schema = torch._C.parse_schema(node.schema())
    except RuntimeError:
        return node.kind(), None
    namespace, _, name = schema.name.partition("::")
    overload = schema.overload_name or "default"
    try:
        op = getattr(getattr(getattr(torch.ops, namespace), name), overload)
    except (AttributeError, RuntimeError):
        op = None
    return f"{schema.name}.{overload}", op


class Translator(GraphParts):
    """Translates one TorchScript graph (and its blocks) into GraphBuilders, value by value."""

    def __init__(self, opset: int, meta: MetaContext, root: Any, model_name: str, aten_fallback_ok: bool,
                 module_calls: ModuleCalls | None = None):
        super().__init__(opset)
        self.module_calls = module_calls or ModuleCalls()  # each node's module calls (export_modules_as_functions)
        self.meta = meta
        self.root = root                      # the user's module: class names for locations
        self.model_name = model_name
        self.aten_fallback_ok = aten_fallback_ok
        self.values: dict[int, Any] = {}      # Value.unique() -> ir.Value, Python value, list, ModuleRef
        self.metas: dict[int, Any] = {}       # Value.unique() -> fake tensor, number or symbol, list
        self._by_path: dict[str, tuple[ir.Value, Any]] = {}
        self._constants: dict[GraphBuilder, dict[int, ir.Value]] = {}
        self.unsupported: dict[tuple[str, ModelLocation], int] = {}
        self.dry_run = 0                      # > 0 while a loop body is translated to learn its types
        self._main_g = self.g
        self.specialized: dict[str, tuple[int, str]] = {}  # `x.shape[0]` -> (size, where) fixed by the graph

    # -- values ---------------------------------------------------------------------------------
    def get(self, value: torch._C.Value) -> Any:
        return self.values[value.unique()]

    def meta_of(self, value: torch._C.Value) -> Any:
        return self.metas.get(value.unique())

    def set(self, value: torch._C.Value, onnx_value: Any, meta: Any) -> None:
        self.values[value.unique()] = onnx_value
        self.metas[value.unique()] = meta

    def new_input(self, name: str, tensor: torch.Tensor, meta: Any) -> ir.Value:
        value = ir.Value(name=self.unique(name))
        set_type_from_meta(value, meta, self.meta.dim_names)
        self.inputs.append(value)
        return value

    def initializer(self, path: str, tensor: torch.Tensor) -> tuple[ir.Value, Any]:
        """A weight (or tensor attribute) as an initializer named by its module path, once per path."""
        if path not in self._by_path:
            name = self.unique(path)
            stored = torch.view_as_real(tensor.detach()) if tensor.is_complex() else tensor.detach()
            value = ir.Value(name=name, const_value=TorchTensor(stored, name=name))
            set_type_from_meta(value, tensor)
            self.initializers.append(value)
            self._by_path[path] = (value, self.meta.constant(tensor))
        return self._by_path[path]

    def onnx(self, value: Any) -> Any:
        """An argument as specs take it: a tensor constant becomes an ONNX value (once per graph)."""
        if isinstance(value, torch.Tensor):
            made = self._constants.setdefault(self.g, {})  # per builder: a subgraph makes its own
            if id(value) not in made:
                if value.numel() > 64 and self.g is self._main_g:  # large: an initializer, as weights are
                    made[id(value)] = self.initializer(f"_tensor_constant{len(made)}", value)[0]
                else:
                    made[id(value)] = self.g.constant(value)
            return made[id(value)]
        if isinstance(value, list):
            return [self.onnx(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.onnx(v) for v in value)
        return value

    @contextlib.contextmanager
    def building(self, g: GraphBuilder) -> Iterator[None]:
        """Translate into `g` (an If branch or Loop body) for the duration."""
        saved, self.g = self.g, g
        try:
            yield
        finally:
            self.g = saved

    # -- blocks and nodes -----------------------------------------------------------------------
    def run_graph(self, graph: torch._C.Graph) -> None:
        self.run_block(graph.block())

    def run_block(self, block: torch._C.Block) -> list[tuple[Any, Any]]:
        """Translate the block's nodes; its outputs as (value, meta) pairs."""
        for node in block.nodes():
            kind = node.kind()
            if kind in ("prim::If", "prim::Loop"):
                control_flow.translate(self, node)
            elif kind.startswith("prim::") and prim_ops.handles(kind):
                prim_ops.translate(self, node)
            elif kind == "prim::PythonOp":
                translate_python_op(self, node)
            else:
                self.op(node)
        return [(self.get(v), self.meta_of(v)) for v in block.returnNode().inputs()]

    def location(self, node: torch._C.Node) -> ModelLocation:
        location = locations.locate(node, self.root)
        calls = self.module_calls.of(node)
        if not location.module_path and calls:  # a scripted module: no trace scope, but its call is known
            _, path, cls = calls[-1]
            return ModelLocation(path, cls.rpartition(".")[2], location.source)
        return location

    @contextlib.contextmanager
    def translating(self, node: torch._C.Node, name: str) -> Iterator[None]:
        location = self.location(node)
        calls = self.module_calls.of(node)
        scope = locations.scope_name(node) or (calls[-1][1] if calls else "") or (
            node.outputsAt(0).debugName() if node.outputsSize() else name)
        with self.g.translating(name, scope, location, locations.classic_scope(node, self.root, self.model_name),
                                calls):
            yield

    def record_unsupported(self, name: str, node: torch._C.Node) -> None:
        if self.dry_run:
            return
        key = (name, self.location(node))
        self.unsupported[key] = self.unsupported.get(key, 0) + 1

    def unsupported_uses(self) -> list[UnsupportedUse]:
        return [UnsupportedUse(name, location, count) for (name, location), count in self.unsupported.items()]

    # -- ATen (and other registered) ops --------------------------------------------------------
    def op(self, node: torch._C.Node) -> None:
        name, op = overload_of(node)
        inputs = [self.get(v) for v in node.inputs()]
        metas = [self.meta_of(v) for v in node.inputs()]
        if op is None:
            self.record_unsupported(name, node)
            self._bind_missing(node)
            return
        if scan_lists.handles(inputs):  # stack/cat of a list a loop grew as its scan output
            self._bind_outputs(node, scan_lists.translate(self, node, name, inputs),
                               self.compute_meta(node, name, op, metas))
            return
        if list_ops.handles(self, name, inputs):
            list_ops.translate(self, node, name, inputs, metas)
            return
        if dict_ops.handles(name, inputs):
            dict_ops.translate(self, node, name, inputs, metas)
            return
        result_meta = self.compute_meta(node, name, op, metas)
        returns = [str(r.type) for r in op._schema.returns]
        if returns and not any("Tensor" in t for t in returns) and is_concrete(result_meta):
            self._bind_outputs(node, result_meta, result_meta)  # a number known now: folded
            return
        if is_missing(inputs):
            self._bind_missing(node, result_meta)
            return
        written = [i for i, a in enumerate(op._schema.arguments) if a.alias_info and a.alias_info.is_write]
        if written == [0]:
            self._in_place(node, name, op, inputs, metas, result_meta)
            return
        for index in written:  # batch norm's running statistics, updated in place: only its outputs export
            if self._used_after(node.inputsAt(index), node, node):
                raise TranslationError(
                    f"{name} at {self.location(node)} updates '{op._schema.arguments[index].name}' in place and the "
                    "model reads it afterwards; ONNX cannot update a tensor in place: export in eval mode or read "
                    "the op's outputs instead")
        for index in running_stats.updated(name, op, metas):
            self._refuse_stale_statistics(node, name, index)
        function = registry.lookup(name, self.opset)
        if function is None:
            result = decompose(self, node, name, op, inputs, metas)
            if result is not None:
                self._bind_outputs(node, result, result_meta)
                return
            if self.aten_fallback_ok and aten_fallback.can_fall_back(op):
                function = aten_fallback.symbolic
            else:
                self.record_unsupported(name, node)
                self._bind_missing(node, result_meta)
                return
        result = self.call(node, name, function, op, inputs, result_meta)
        self._bind_outputs(node, result, result_meta)

    def arguments(self, op: torch._C.FunctionSchema | Any, inputs: Sequence[Any]) -> dict[str, Any]:
        """Schema-named keyword arguments: tensors as ONNX values, enums as torch objects."""
        schema = op._schema if hasattr(op, "_schema") else op
        return {python_name(a.name): self.onnx(torch_value(str(a.real_type), v)) for a, v in zip(schema.arguments, inputs)}

    def call(self, node: torch._C.Node, name: str, function: Any, op: Any, inputs: Sequence[Any],
             result_meta: Any, mapped_as: str | None = None) -> Any:
        """`function(g, **arguments)` for the node; `mapped_as` names the overload whose mapping it is."""
        with self.translating(node, name):  # constants made for the arguments belong to the node's module
            arguments = self.arguments(op, inputs)
            function = complex_values.symbolic_for(name, function, arguments, result_meta)
            try:
                return function(self.g, **arguments)
            except OnnxExporterError:
                raise
            except Exception as exc:  # a bug in a spec helper or a user's symbolic: say which and where
                source = registry.source_of(mapped_as or name) or "the ATen fallback"
                raise TranslationError(
                    f"translating {name} at {self.location(node)} failed: {type(exc).__name__}: {exc} "
                    f"(mapping from {source}); the original error is chained below") from exc

    # -- metadata -------------------------------------------------------------------------------
    def compute_meta(self, node: torch._C.Node, name: str, op: torch._ops.OpOverload, metas: list[Any]) -> Any:
        """The op's result on fake values (see meta.py); the node's own TorchScript type when that fails."""
        found = list_ops.meta(name, metas, self.meta)
        if found is not None:
            return found
        base = name.split("::", 1)[1].split(".", 1)[0]
        if base in ("__is__", "__isnot__"):  # `x is None`: a value's metadata is None exactly when it is None
            return (metas[0] is None and metas[1] is None) == (base == "__is__")
        tensors = [m for m in metas if isinstance(m, torch.Tensor)]
        returns = [str(r.type) for r in op._schema.returns]
        if base in ("size", "sym_size") and tensors:
            sizes = list(tensors[0].shape)
            return sizes if len(metas) == 1 else sizes[metas[1]] if isinstance(metas[1], int) else \
                self.meta.unknown_number(int)
        if base == "dim" and tensors:
            return tensors[0].dim()
        if base == "numel" and tensors:
            return tensors[0].numel()
        if base == "len" and tensors:
            return tensors[0].shape[0]
        if base in _TO_NUMBER and len(tensors) == 1:
            held = self.meta.number_of(tensors[0])
            kind = _TO_NUMBER[base]  # None: the number keeps the tensor's kind (item, ScalarImplicit)
            if held is not None:
                return held if kind is None else number_op({int: "Int", float: "Float"}.get(kind, "Bool"), [held])
            if kind is bool or kind is None and tensors[0].dtype == torch.bool:
                return self.meta.unknown_number(bool)
            floating = tensors[0].is_floating_point() or tensors[0].is_complex()
            return self.meta.unknown_number(kind or (float if floating else int))
        if name.startswith("prim::NumToTensor"):
            return self.meta.number_tensor(metas[0])
        if not tensors and all(returns_kind(t) is not None or t == "str" for t in returns) and len(returns) == 1:
            if all(is_concrete(m) for m in metas):
                try:
                    return op(*[torch_value(str(a.real_type), m) for a, m in zip(op._schema.arguments, metas)])
                except Exception:  # noqa: BLE001 - a TorchScript-only op torch cannot run eagerly
                    pass
            found = number_op(base, metas)
            return found if found is not None else self.meta.unknown_number(returns_kind(returns[0]) or int)
        if op._schema.is_mutable:
            written = [i for i, a in enumerate(op._schema.arguments) if a.alias_info and a.alias_info.is_write]
            return metas[written[0]] if written else None
        shaped = histogram_meta(self.meta, name, metas)
        if shaped is not None:
            return shaped
        before = len(self.meta.shape_env.replacements)
        try:
            result = self._call_meta(op, metas)
        except Exception:  # no fake kernel, or a data-dependent size torch cannot decide: the node's own type
            result = self._fallback_meta(node, metas)
        if len(self.meta.shape_env.replacements) != before:
            self._note_specialization(node, name)
        result = self._traced_dtypes(node, result)
        if name in _DATA_DEPENDENT:  # torch's fake kernels give sizes (and dtypes) that do not follow the data
            result = tuple(self.meta.empty([self.meta.unknown_number(int) for _ in r.shape],
                                           _TS_DTYPES.get(out.type().scalarType(), r.dtype))
                           if isinstance(r, torch.Tensor) else r for r, out in zip(result, node.outputs()))
        if base in _HELD_ARITHMETIC and isinstance(result, torch.Tensor) and result.dim() == 0:
            self._hold_arithmetic(base, name, metas, result)
        return result

    def _traced_dtypes(self, node: torch._C.Node, result: Any) -> Any:
        """A trace records the dtypes eager torch produced; where a fake kernel disagrees (batch norm's
        running statistics in float16), the trace is right."""
        outputs = list(node.outputs())
        results = list(result) if isinstance(result, (tuple, list)) and len(outputs) > 1 else [result]
        fixed = []
        for out, meta in zip(outputs, results):
            dtype = _TS_DTYPES.get(out.type().scalarType()) if isinstance(out.type(), torch._C.TensorType) else None
            if isinstance(meta, torch.Tensor) and dtype is not None and dtype != meta.dtype:
                meta = self.meta.empty(list(meta.shape), dtype)
            fixed.append(meta)
        return fixed[0] if len(outputs) == 1 or not isinstance(result, (tuple, list)) else tuple(fixed)

    def _call_meta(self, op: torch._ops.OpOverload, metas: list[Any]) -> Any:
        """The op on fake values; a list that exists only at run time (an ONNX sequence) is tried with one
        and with two elements, and the sizes that differ (`stack`'s new axis) become unknown."""
        if not any(isinstance(m, SequenceMeta) for m in metas):
            return self.meta.call(op, metas)
        one, two = ([[m.element] * count if isinstance(m, SequenceMeta) else m for m in metas] for count in (1, 2))
        first, second = self.meta.call(op, one), self.meta.call(op, two)
        if not isinstance(first, torch.Tensor) or not isinstance(second, torch.Tensor):
            return first
        sizes = [a if _same_size(a, b) else self.meta.unknown_number(int) for a, b in zip(first.shape, second.shape)]
        return self.meta.empty(sizes, first.dtype)

    def _hold_arithmetic(self, base: str, name: str, metas: list[Any], result: torch.Tensor) -> None:
        numbers = []
        for m in metas:
            if isinstance(m, torch.Tensor):
                held = self.meta.number_of(m)
                if held is None:
                    return
                numbers.append(held)
            else:
                numbers.append(m)
        if base == "div" and len(numbers) > 2 and numbers[2] in ("floor", "trunc"):
            if numbers[2] == "trunc":
                return  # trunc of a size: rare, not followed
            base = "floordiv"
        if base in ("add", "sub") and len(numbers) > 2 and numbers[2] != 1:
            numbers = [numbers[0], numbers[1] * numbers[2]]
        if base == "rsub":
            numbers, base = [numbers[1], numbers[0]], "sub"
        found = number_op({"floor_divide": "floordiv"}.get(base, base), numbers[:1] if base == "neg" else numbers[:2])
        if found is not None:
            self.meta.hold(result, found)

    def _note_specialization(self, node: torch._C.Node, name: str) -> None:
        for where, size in self.meta.specialized().items():
            if where not in self.specialized:
                self.specialized[where] = (size, f"{name} at {self.location(node)}")

    def _fallback_meta(self, node: torch._C.Node, metas: list[Any]) -> Any:
        results = [self._type_meta(out.type(), metas) for out in node.outputs()]
        return results[0] if len(results) == 1 else tuple(results)

    def _type_meta(self, ts_type: Any, metas: list[Any]) -> Any:
        """A fake tensor from a TorchScript tensor type: its sizes when complete (a traced graph), where
        an input of the same example shape gives its (symbolic) sizes; unknown sizes are unbacked."""
        if not isinstance(ts_type, torch._C.TensorType):
            return None
        dtype = _TS_DTYPES.get(ts_type.scalarType())
        rank = ts_type.dim()
        if dtype is None or rank is None:
            return None
        sizes = ts_type.varyingSizes()
        if sizes is None or any(s is None for s in sizes):
            return self.meta.empty([self.meta.unknown_number(int) for _ in range(rank)], dtype)
        for m in metas:
            if isinstance(m, torch.Tensor) and list(_hints(m.shape)) == list(sizes):
                return self.meta.empty(list(m.shape), dtype)
        if self.meta.dim_names:  # dynamic axes: a size seen while tracing may be any of them
            return self.meta.empty([self.meta.unknown_number(int) for _ in sizes], dtype)
        return self.meta.empty(sizes, dtype)

    # -- in-place ops ---------------------------------------------------------------------------
    def _in_place(self, node: torch._C.Node, name: str, op: torch._ops.OpOverload, inputs: list[Any],
                  metas: list[Any], result_meta: Any) -> None:
        """`x.add_(y)`: the op's own spec, else its functional op's mapping cast back to x's dtype; then
        x (and the tensor x is a select/slice view of) is rebound to the result."""
        written = [i for i, a in enumerate(op._schema.arguments) if a.alias_info and a.alias_info.is_write]
        function, mapped_as = registry.lookup(name, self.opset), name
        functional = _functional_variant(op) if function is None else None
        if function is None and functional is not None:
            mapped_as = f"{functional._schema.name}.{functional._overloadname}"
            inner = registry.lookup(mapped_as, self.opset)
            if inner is not None:
                def function(g: GraphBuilder, **arguments: Any) -> Any:
                    return g.cast(inner(g, **arguments), g.known_dtype(arguments["self"]))
        if function is None or written != [0]:
            self.record_unsupported(name, node)
            self._bind_missing(node, metas[written[0]] if written else None)
            return
        target = node.inputsAt(0)
        result = self.call(node, name, function, op, inputs, result_meta, mapped_as)
        result = self._bind_one(node.output(), result, result_meta, name)
        self.assign(node, target, result, result_meta)
        self.set(node.output(), self.get(target), result_meta)

    def assign(self, node: torch._C.Node, target: torch._C.Value, value: Any, meta: Any = None) -> None:
        """`target` now holds `value` (an in-place write); writes reach the base of a select/slice view."""
        self.set(target, value, meta if meta is not None else self.meta_of(target))
        producer = target.node()
        overload = overload_of(producer)[0] if producer.kind().startswith("aten::") else ""
        base_name = overload.split("::", 1)[-1].split(".", 1)[0]
        if overload in _WRITE_BACK:
            base = producer.inputsAt(0)
            scatter = registry.lookup(_WRITE_BACK[overload], self.opset)
            if scatter is None:
                raise TranslationError(f"{_WRITE_BACK[overload]} has no mapping at opset {self.opset}: the "
                                       f"in-place write at {self.location(node)} cannot be exported")
            scatter_op = torch.ops.aten.select_scatter.default if "select" in overload \
                else torch.ops.aten.slice_scatter.default
            view_args = [self.get(v) for v in producer.inputs()]
            arguments = [view_args[0], value, *view_args[1:]]
            with self.translating(node, _WRITE_BACK[overload]):
                merged = scatter(self.g, **self.arguments(scatter_op, arguments))
            merged = self._bind_one(base, merged, self.meta_of(base), "scatter")
            self.assign(node, base, merged)
        elif base_name in _VIEWS and producer.inputsSize() and self._used_after(producer.inputsAt(0), node, producer):
            raise TranslationError(
                f"{overload_of(node)[0]} at {self.location(node)} writes into a view ({overload}) of a tensor that "
                "is read afterwards; ONNX has no views, so the write cannot reach it. Write the result into a new "
                "tensor (out = x.clone(); out[...] = ...), or use index_put/scatter")

    def _refuse_stale_statistics(self, node: torch._C.Node, name: str, index: int) -> None:
        """Training-mode batch norm whose updated running statistic is read afterwards (running_stats.py)."""
        path = running_stats.attribute_path(node.inputsAt(index))
        if path is None or not running_stats.read_after(node, path, self._used_after):
            return
        raise TranslationError(
            f"{name} at {self.location(node)} runs in training mode, which updates '{path}' in place, and the model "
            f"reads '{path}' afterwards: the TorchScript frontend cannot carry that update. Call model.eval() "
            "(or export with training=TrainingMode.EVAL), or export with the torch.export frontend (dynamo=True), "
            "which carries it")

    @staticmethod
    def _used_after(value: torch._C.Value, node: torch._C.Node, producer: torch._C.Node) -> bool:
        block = node.owningBlock()
        for use in value.uses():
            if use.user is producer:
                continue
            user: torch._C.Node | None = use.user
            while user is not None and user.owningBlock() != block:
                owner = user.owningBlock().owningNode() if user.owningBlock() is not None else None
                user = owner
            if user is not None and user.isAfter(node):
                return True
        return False

    # -- binding results ------------------------------------------------------------------------
    def _bind_missing(self, node: torch._C.Node, meta: Any = None) -> None:
        outputs = list(node.outputs())
        metas = meta if isinstance(meta, tuple) and len(outputs) > 1 else [meta] * len(outputs)
        for out, m in zip(outputs, metas):
            self.set(out, MISSING, m)

    def _bind_outputs(self, node: torch._C.Node, result: Any, meta: Any) -> None:
        outputs = list(node.outputs())
        if len(outputs) == 1:
            self.set(outputs[0], self._bind_one(outputs[0], result, meta, node.kind()), meta)
            return
        if not isinstance(result, (list, tuple)) or len(result) != len(outputs):
            raise TranslationError(f"{node.kind()} at {self.location(node)}: the mapping returned {result!r}, "
                                   f"torch produces {len(outputs)} outputs")
        metas = meta if isinstance(meta, (list, tuple)) else [None] * len(outputs)
        for out, r, m in zip(outputs, result, metas):
            self.set(out, self._bind_one(out, r, m, node.kind()), m)

    def _bind_one(self, out: torch._C.Value, value: Any, meta: Any, kind: str) -> Any:
        """Name a fresh ONNX value after the TorchScript value and give it torch's type; a number known
        at export time replaces the value computed for it."""
        if isinstance(value, (list, tuple)) and isinstance(meta, (list, tuple)) and len(value) == len(meta):
            # a list of tensors (histogramdd's bin edges): each named and typed as a single output is
            return type(value)(m if is_concrete(m) else self._bind_one(out, v, m, kind) for v, m in zip(value, meta))
        if not isinstance(value, ir.Value):
            return value
        if is_concrete(meta) and meta is not None and not isinstance(meta, (list, tuple, str)):
            return meta
        if isinstance(meta, torch.Tensor) and is_symbolic_scalar(value):
            value = self.g.op("Identity", value)  # a tensor made from a number: it promotes as a tensor
        if value.producer() is not None and is_generated_name(value.name):
            debug = out.debugName()
            short = kind.split("::", 1)[-1].split(".", 1)[0]
            value.name = self.unique(_SANITIZE.sub("_", debug if not debug.isdigit() else f"{short}_{debug}"))
            if isinstance(meta, torch.Tensor) or scalar_type(meta) is not None:
                set_type_from_meta(value, meta, self.meta.dim_names)
            if scalar_type(meta) is not None:
                mark_symbolic_scalar(value)
        return value


def _same_size(a: Any, b: Any) -> bool:
    """Sizes that are the same expression (comparing unbacked sizes with == would need their values)."""
    if isinstance(a, torch.SymInt) or isinstance(b, torch.SymInt):
        return isinstance(a, torch.SymInt) and isinstance(b, torch.SymInt) and a.node.expr == b.node.expr
    return a == b


def _hints(sizes: Any) -> list[int | None]:
    """Sizes as the example had them (a symbol's hint)."""
    return [d.node.hint if isinstance(d, torch.SymInt) else d for d in sizes]


# TorchScript's scalarType() names -> torch dtypes (scalarType() is None where the type records none).
_TS_DTYPES: dict[str | None, torch.dtype] = {"Float": torch.float32, "Double": torch.float64, "Half": torch.float16, "BFloat16": torch.bfloat16,
              "Long": torch.int64, "Int": torch.int32, "Short": torch.int16, "Char": torch.int8, "Byte": torch.uint8,
              "Bool": torch.bool, "ComplexFloat": torch.complex64, "ComplexDouble": torch.complex128}
