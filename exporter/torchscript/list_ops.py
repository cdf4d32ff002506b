"""TorchScript lists: static ones are Python lists, edited here; a list whose length is only known at run
time (grown in a loop or a branch) is an ONNX sequence, and its ops go through their specs
(opspecs/torchscript.yaml: `aten::append.t` -> SequenceInsert, `aten::__getitem__.t` -> SequenceAt, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.dtypes import from_torch_dtype
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.errors import TranslationError
from aten2onnx.exporter.torchscript.meta import SequenceMeta, is_concrete
from aten2onnx.exporter.torchscript.values import is_sequence

if TYPE_CHECKING:
    from aten2onnx.exporter.torchscript.translator import Translator

_MUTATING = {"aten::append.t", "aten::_set_item.t", "aten::insert.t", "aten::pop.t", "aten::clear.t",
             "aten::extend.t"}


def _static_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def handles(t: Translator, name: str, inputs: list[Any]) -> bool:
    """A list op on a static list (and static indices): edited in Python, nothing reaches ONNX."""
    if name not in _STATIC or not inputs or not isinstance(inputs[0], list):
        return False
    if name in ("aten::__getitem__.t", "aten::_set_item.t", "aten::insert.t", "aten::pop.t"):
        return _static_int(inputs[1])
    if name == "aten::slice.t":
        return all(v is None or _static_int(v) for v in inputs[1:])
    if name in ("aten::add.t", "aten::extend.t"):
        return isinstance(inputs[1], list)
    return True


def translate(t: Translator, node: torch._C.Node, name: str, inputs: list[Any], metas: list[Any]) -> None:
    items, item_metas = list(inputs[0]), list(metas[0]) if isinstance(metas[0], list) else [None] * len(inputs[0])
    result, result_meta = _STATIC[name](items, item_metas, inputs[1:], metas[1:])
    if name in _MUTATING:
        t.set(node.inputsAt(0), items, item_metas)
    if node.outputsSize() > 1:  # an item that is a tuple, unpacked (tuples are lowered)
        out_metas = result_meta if isinstance(result_meta, tuple) else (None,) * len(result)
        for out, value, meta in zip(node.outputs(), result, out_metas):
            t.set(out, value, meta)
    elif node.outputsSize():
        if name in ("aten::append.t", "aten::_set_item.t", "aten::extend.t"):
            result, result_meta = items, item_metas
        t.set(node.output(), result, result_meta)


def _getitem(items: list[Any], metas: list[Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return items[args[0]], metas[args[0]]


def _append(items: list[Any], metas: list[Any], args: list[Any], arg_metas: list[Any]) -> tuple[Any, Any]:
    items.append(args[0])
    metas.append(arg_metas[0])
    return None, None


def _set_item(items: list[Any], metas: list[Any], args: list[Any], arg_metas: list[Any]) -> tuple[Any, Any]:
    items[args[0]], metas[args[0]] = args[1], arg_metas[1]
    return None, None


def _insert(items: list[Any], metas: list[Any], args: list[Any], arg_metas: list[Any]) -> tuple[Any, Any]:
    items.insert(args[0], args[1])
    metas.insert(args[0], arg_metas[1])
    return None, None


def _pop(items: list[Any], metas: list[Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return items.pop(args[0]), metas.pop(args[0])


def _clear(items: list[Any], metas: list[Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    items.clear()
    metas.clear()
    return None, None


def _extend(items: list[Any], metas: list[Any], args: list[Any], arg_metas: list[Any]) -> tuple[Any, Any]:
    items.extend(args[0])
    metas.extend(arg_metas[0] if isinstance(arg_metas[0], list) else [None] * len(args[0]))
    return None, None


def _copy(items: list[Any], metas: list[Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return list(items), list(metas)


def _concat(items: list[Any], metas: list[Any], args: list[Any], arg_metas: list[Any]) -> tuple[Any, Any]:
    other = arg_metas[0] if isinstance(arg_metas[0], list) else [None] * len(args[0])
    return items + list(args[0]), metas + list(other)


def _slice(items: list[Any], metas: list[Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    window = slice(*args)
    return items[window], metas[window]


def _length(items: list[Any], metas: list[Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return len(items), len(items)


_STATIC: dict[str, Callable[[list[Any], list[Any], list[Any], list[Any]], tuple[Any, Any]]] = {
    "aten::__getitem__.t": _getitem, "aten::append.t": _append, "aten::_set_item.t": _set_item,
    "aten::insert.t": _insert, "aten::pop.t": _pop, "aten::clear.t": _clear, "aten::extend.t": _extend,
    "aten::list.t": _copy, "aten::add.t": _concat, "aten::slice.t": _slice, "aten::len.t": _length,
}


def meta(name: str, metas: list[Any], context: Any) -> Any:
    """The metadata of a list op's result when the list is a sequence or the index is symbolic."""
    if not metas:
        return None
    source = metas[0]
    if name == "aten::__getitem__.t":
        if isinstance(source, SequenceMeta):
            return source.element
        if isinstance(source, list) and source:
            if is_concrete(metas[1]):
                return source[metas[1]]
            if all(is_concrete(m) for m in source):  # numbers picked at run time: one of them, not known now
                first = source[0]
                return first if all(m == first for m in source) else context.unknown_number(type(first))
            return source[0]
    if name in ("aten::append.t", "aten::_set_item.t") and isinstance(source, SequenceMeta):
        return source if source.element is not None else SequenceMeta(metas[-1])
    return None


# -- ONNX sequences -------------------------------------------------------------------------------------
# ONNX Loop and If carry sequences from opset 13 (sequence ops themselves exist from 11).
SEQUENCES_IN_CONTROL_FLOW = 13


def require_sequences(t: Translator, node: torch._C.Node, why: str) -> None:
    if t.opset < SEQUENCES_IN_CONTROL_FLOW:
        raise TranslationError(
            f"{why} at {t.location(node)} becomes an ONNX sequence carried by Loop/If, which ONNX allows from "
            f"opset {SEQUENCES_IN_CONTROL_FLOW}; export with opset_version={SEQUENCES_IN_CONTROL_FLOW} or newer "
            f"(this export asked for {t.opset}). Below it, a loop may grow a list only as `ys.append(y)` once per "
            "iteration (not inside an `if`), with elements of one shape, read after the loop only by "
            "torch.stack(ys) or torch.cat(ys) (an ONNX Loop scan output); or build a tensor in the loop instead")


def to_sequence(g: GraphBuilder, items: Any, element: Any) -> ir.Value:
    """A static list of tensors as an ONNX sequence (SequenceEmpty of the elements' dtype when empty)."""
    if is_sequence(items):
        return items
    values = [g.constant(v) if not isinstance(v, ir.Value) else v for v in items]
    if values:
        out = g.op("SequenceConstruct", *values)
        if values[0].dtype is not None:
            out.type = ir.SequenceType(ir.TensorType(values[0].dtype))
        return out
    dtype = element.dtype if isinstance(element, torch.Tensor) else torch.float32
    out = g.op("SequenceEmpty", dtype=int(from_torch_dtype(dtype)))
    out.type = ir.SequenceType(ir.TensorType(from_torch_dtype(dtype)))
    return out


def sequence_at(t: Translator, node: torch._C.Node, sequence: ir.Value, index: int) -> ir.Value:
    out = t.g.op("SequenceAt", sequence, t.g.constant(index, torch.int64))
    element = sequence.type.elem_type if isinstance(sequence.type, ir.SequenceType) else None
    if isinstance(element, ir.TensorType):
        out.dtype = element.dtype
    return out
