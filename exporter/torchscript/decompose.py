"""An ATen op with no mapping: torch's own decomposition of it, traced on the node's fake values and
translated op by op through the registry, as the torch.export path decomposes the ops it has no
spec for. TorchScript graphs keep composite ops torch.export never shows (`contiguous`, `chunk`,
`expand_as`, `floor_divide`, `feature_dropout`, ...); this is how they export without specs of their own.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import onnx_ir as ir
import torch
import torch.fx
from torch.fx.experimental.proxy_tensor import make_fx
from torch.utils._pytree import tree_flatten, tree_unflatten

from aten2onnx.exporter.capture.torch_export import _decompositions
from aten2onnx.exporter.emit import symint_ops
from aten2onnx.exporter.errors import OnnxExporterError
from aten2onnx.exporter.torchscript.meta import Symbolic, torch_value
from aten2onnx.exporter.translate import registry
from aten2onnx.exporter.translate.translator import Translator as FxTranslator

if TYPE_CHECKING:
    from aten2onnx.exporter.torchscript.translator import Translator

_find = None


def _decomposition_of(op: torch._ops.OpOverload) -> Any:
    global _find
    if _find is None:
        _find = _decompositions()
    return _find(op)


def _mapped(target: Any, opset: int) -> bool:
    if target is operator.getitem or symint_ops.handles(target):
        return True
    return isinstance(target, torch._ops.OpOverload) and not target._schema.is_mutable and registry.lookup(
        f"{target._schema.name}.{target._overloadname}", opset) is not None


def _trace(t: Translator, op: torch._ops.OpOverload, metas: list[Any]) -> tuple[torch.fx.GraphModule, Any] | None:
    """The decomposition traced on fake values (every op it yields mapped), and how its tensor inputs
    sit in the flattened arguments; None when torch has none or it cannot be traced here."""
    decomposition = _decomposition_of(op)
    if decomposition is None:
        return None
    converted = [torch_value(str(a.real_type), m) for a, m in zip(op._schema.arguments, metas)]
    flat, spec = tree_flatten(converted)
    positions = [i for i, item in enumerate(flat) if isinstance(item, torch.Tensor)]
    if any(isinstance(item, Symbolic) for item in flat):
        return None  # a size computed at run time among the arguments: the trace would fix it
    kwarg_only = [a.kwarg_only for a in op._schema.arguments]

    def body(*tensors: torch.Tensor) -> Any:
        items = list(flat)
        for i, tensor in zip(positions, tensors):
            items[i] = tensor
        values = tree_unflatten(items, spec)
        args = [v for v, k in zip(values, kwarg_only) if not k]
        kwargs = {a.name: v for a, v, k in zip(op._schema.arguments, values, kwarg_only) if k}
        return decomposition(*args, **kwargs)

    try:
        with t.meta.mode:
            traced = make_fx(body, tracing_mode="real")(*[flat[i] for i in positions])
    except Exception:  # torch cannot trace it on these values: the op stays unsupported
        return None
    for node in traced.graph.nodes:
        if node.op == "call_function" and not _mapped(node.target, t.opset):
            return None
    return traced, (positions, spec)


def decompose(t: Translator, node: torch._C.Node, name: str, op: torch._ops.OpOverload, inputs: list[Any],
              metas: list[Any]) -> Any | None:
    """The ONNX values of `node`'s outputs through torch's decomposition; None when there is none to use."""
    found = _trace(t, op, metas)
    if found is None:
        return None
    traced, (positions, _) = found
    flat_inputs, _ = tree_flatten([torch_value(str(a.real_type), v) for a, v in zip(op._schema.arguments, inputs)])
    operands = [t.onnx(flat_inputs[i]) for i in positions]
    if not all(isinstance(v, ir.Value) for v in operands):
        return None
    sub = FxTranslator(None, t.opset, t.meta.dim_names, t.model_name, g=t.g)  # type: ignore[arg-type]
    sub.used_names = t.used_names  # names stay unique across the whole graph
    placeholders = [n for n in traced.graph.nodes if n.op == "placeholder"]
    for placeholder, value in zip(placeholders, operands):
        sub.env[placeholder] = value
    results: Any = None
    with t.translating(node, name):
        try:
            for fx_node in traced.graph.nodes:
                if fx_node.op == "call_function":
                    sub.call(fx_node)
                elif fx_node.op == "get_attr":
                    sub.get_attr(fx_node, traced)
                elif fx_node.op == "output":
                    results = sub.resolve(fx_node.args[0])
        except OnnxExporterError as error:
            if hasattr(error, "add_note"):
                error.add_note(f"aten2onnx: while translating torch's decomposition of {name} at {t.location(node)}")
            raise
    return results
