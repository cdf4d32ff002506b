"""The `prim::` constructs of a TorchScript graph that are not ops: read here, not mapped by specs.

Constants, list and tuple construction and unpacking (static lists are Python lists), attribute
reads of the module (weights become initializers named by module path, other attributes Python
values), type queries answered from metadata (`x.dtype`, `x.device`), and markers that do nothing
in ONNX. `prim::NumToTensor` and the number ops TorchScript spells `aten::add.int` are ops with
schemas: they go through their specs like any ATen op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from aten2onnx.exporter.errors import TranslationError
from aten2onnx.exporter.torchscript.meta import SCALAR_TYPE_NUMBERS
from aten2onnx.exporter.torchscript.values import MISSING, ModuleRef, is_sequence

if TYPE_CHECKING:
    from aten2onnx.exporter.torchscript.translator import Translator


def _constant(t: Translator, node: torch._C.Node) -> None:
    out = node.output()
    try:
        value = out.toIValue()
    except RuntimeError:
        value = None
    meta = t.meta.constant(value) if isinstance(value, torch.Tensor) else value
    t.set(out, value, meta)


def _list_construct(t: Translator, node: torch._C.Node) -> None:
    t.set(node.output(), [t.get(v) for v in node.inputs()], [t.meta_of(v) for v in node.inputs()])


def _dict_construct(t: Translator, node: torch._C.Node) -> None:
    """A dict of outputs (`return {"logits": ...}`): its values in order, as torch flattens it."""
    items = list(node.inputs())
    keys = [t.get(k) for k in items[0::2]]
    t.set(node.output(), dict(zip(keys, (t.get(v) for v in items[1::2]))),
          dict(zip(keys, (t.meta_of(v) for v in items[1::2]))))


def _tuple_construct(t: Translator, node: torch._C.Node) -> None:
    t.set(node.output(), tuple(t.get(v) for v in node.inputs()), tuple(t.meta_of(v) for v in node.inputs()))


def _unpack(t: Translator, node: torch._C.Node) -> None:
    source, meta = t.get(node.input()), t.meta_of(node.input())
    outputs = list(node.outputs())
    if is_sequence(source):  # a list grown at run time, unpacked into a known number of names
        from aten2onnx.exporter.torchscript.list_ops import sequence_at

        for index, out in enumerate(outputs):
            t.set(out, sequence_at(t, node, source, index), getattr(meta, "element", None))
        return
    if not isinstance(source, (list, tuple)) or len(source) != len(outputs):
        raise TranslationError(f"{node.kind()} at {t.location(node)}: cannot unpack {source!r} into "
                               f"{len(outputs)} values")
    metas = meta if isinstance(meta, (list, tuple)) else [None] * len(outputs)
    for out, value, m in zip(outputs, source, metas):
        t.set(out, value, m)


def _tuple_index(t: Translator, node: torch._C.Node) -> None:
    source, index = t.get(node.inputsAt(0)), t.get(node.inputsAt(1))
    meta = t.meta_of(node.inputsAt(0))
    t.set(node.output(), source[index], meta[index] if isinstance(meta, (list, tuple)) else None)


def _get_attr(t: Translator, node: torch._C.Node) -> None:
    owner = t.get(node.input())
    name = node.s("name")
    if not isinstance(owner, ModuleRef):
        raise TranslationError(f"prim::GetAttr '{name}' at {t.location(node)} reads an attribute of {owner!r}, "
                               "which is not a module")
    path = f"{owner.path}.{name}" if owner.path else name
    value = getattr(owner.module, name)
    if isinstance(value, torch.nn.Module):
        t.set(node.output(), ModuleRef(path, value), None)
    elif isinstance(value, torch.Tensor):
        t.set(node.output(), *t.initializer(path, value))
    else:
        t.set(node.output(), value, value)


def _set_attr(t: Translator, node: torch._C.Node) -> None:
    raise TranslationError(
        f"the model assigns attribute '{node.s('name')}' at {t.location(node)} (prim::SetAttr): an exported "
        "graph cannot change the module's state; keep such updates out of forward()")


def _identity(t: Translator, node: torch._C.Node) -> None:
    t.set(node.output(), t.get(node.input()), t.meta_of(node.input()))


def _nothing(t: Translator, node: torch._C.Node) -> None:
    for out in node.outputs():
        t.set(out, None, None)


def _raise(t: Translator, node: torch._C.Node) -> None:
    message = t.get(node.inputsAt(0)) if node.inputsSize() else ""
    raise TranslationError(f"the model raises an exception at {t.location(node)} for these inputs ({message}); "
                           "check the example inputs")


def _tensor_property(read: Callable[[torch.Tensor], Any]) -> Callable[[Translator, torch._C.Node], None]:
    def translate(t: Translator, node: torch._C.Node) -> None:
        meta = t.meta_of(node.input())
        if not isinstance(meta, torch.Tensor):
            raise TranslationError(f"{node.kind()} at {t.location(node)}: the type of the tensor is not known")
        value = read(meta)
        t.set(node.output(), value, value)
    return translate


_HANDLERS: dict[str, Callable[[Translator, torch._C.Node], None]] = {
    "prim::Constant": _constant,
    "prim::ListConstruct": _list_construct,
    "prim::TupleConstruct": _tuple_construct,
    "prim::DictConstruct": _dict_construct,
    "prim::ListUnpack": _unpack,
    "prim::TupleUnpack": _unpack,
    "prim::TupleIndex": _tuple_index,
    "prim::GetAttr": _get_attr,
    "prim::SetAttr": _set_attr,
    "prim::unchecked_cast": _identity,
    "prim::data": _identity,
    "prim::Uninitialized": _nothing,
    "prim::Print": _nothing,
    "prim::RaiseException": _raise,
    "prim::dtype": _tensor_property(lambda m: SCALAR_TYPE_NUMBERS.get(m.dtype, m.dtype)),
    "prim::device": _tensor_property(lambda m: torch.device("cpu")),
    "prim::layout": _tensor_property(lambda m: 0),
    "prim::is_cuda": _tensor_property(lambda m: False),
    "prim::requires_grad": _tensor_property(lambda m: False),
    "prim::is_sparse": _tensor_property(lambda m: False),
    "prim::is_quantized": _tensor_property(lambda m: False),
}


def handles(kind: str) -> bool:
    return kind in _HANDLERS


def translate(t: Translator, node: torch._C.Node) -> None:
    if any(t.get(v) is MISSING for v in node.inputs()) and node.kind() != "prim::ListConstruct":
        for out in node.outputs():
            t.set(out, MISSING, None)
        return
    _HANDLERS[node.kind()](t, node)
