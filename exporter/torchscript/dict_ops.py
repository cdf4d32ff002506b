"""TorchScript dicts: a dict input (`batch["ids"]`) or one the model builds (`out["logits"] = y`) is a
Python dict of ONNX values during translation, read and edited here with keys known at export time.

ONNX has no maps: a dict input's tensors are separate graph inputs (in the dict's order, named
`batch_ids` as torch.export names them), and a dict output's tensors separate outputs. Each op
on a dict works on the Python dict, so nothing reaches ONNX; an edit rebinds the dict value (as
list_ops does for static lists). A key computed at run time cannot pick a value here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.errors import TranslationError

if TYPE_CHECKING:
    from aten2onnx.exporter.torchscript.translator import Translator

# each op: (dict, metas, arguments, argument metas) -> (result, result meta); edits change the dict in place
_Op = Callable[[dict[Any, Any], dict[Any, Any], list[Any], list[Any]], tuple[Any, Any]]


def _getitem(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return d[args[0]], m[args[0]]


def _get(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], metas: list[Any]) -> tuple[Any, Any]:
    default, default_meta = (args[1], metas[1]) if len(args) > 1 else (None, None)
    return (d[args[0]], m[args[0]]) if args[0] in d else (default, default_meta)


def _keys(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return list(d), list(d)


def _values(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return list(d.values()), list(m.values())


def _items(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return [(k, v) for k, v in d.items()], [(k, m[k]) for k in d]


def _length(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return len(d), len(d)


def _contains(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return args[0] in d, args[0] in d


def _set_item(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], metas: list[Any]) -> tuple[Any, Any]:
    d[args[0]], m[args[0]] = args[1], metas[1]
    return None, None


def _delete(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    del d[args[0]], m[args[0]]
    return None, None


def _pop(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], metas: list[Any]) -> tuple[Any, Any]:
    if args[0] not in d and len(args) > 1:
        return args[1], metas[1]
    return d.pop(args[0]), m.pop(args[0])


def _setdefault(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], metas: list[Any]) -> tuple[Any, Any]:
    if args[0] not in d:
        d[args[0]], m[args[0]] = args[1], metas[1]
    return d[args[0]], m[args[0]]


def _update(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], metas: list[Any]) -> tuple[Any, Any]:
    d.update(args[0])
    m.update(metas[0] if isinstance(metas[0], dict) else dict.fromkeys(args[0]))
    return None, None


def _copy(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    return dict(d), dict(m)


def _clear(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    d.clear()
    m.clear()
    return None, None


def _popitem(d: dict[Any, Any], m: dict[Any, Any], args: list[Any], _: list[Any]) -> tuple[Any, Any]:
    key, value = d.popitem()
    return (key, value), (key, m.pop(key))


# by the op's name without its overload (`aten::__getitem__.Dict_str` and `.Dict_int` alike)
_OPS: dict[str, _Op] = {
    "__getitem__": _getitem, "get": _get, "keys": _keys, "values": _values, "items": _items, "len": _length,
    "__contains__": _contains, "_set_item": _set_item, "Delete": _delete, "pop": _pop, "setdefault": _setdefault,
    "update": _update, "copy": _copy, "dict": _copy, "clear": _clear, "popitem": _popitem,
}
_EDITS = {"_set_item", "Delete", "pop", "setdefault", "update", "clear", "popitem"}
_KEYED = {"__getitem__", "get", "__contains__", "_set_item", "Delete", "pop", "setdefault"}


def _base(name: str) -> str:
    return name.split("::", 1)[-1].split(".", 1)[0]


def handles(name: str, inputs: list[Any]) -> bool:
    """An op on a dict the translation holds (every dict does), with its key known now."""
    return bool(inputs) and isinstance(inputs[0], dict) and name.startswith("aten::") and _base(name) in _OPS


def translate(t: Translator, node: torch._C.Node, name: str, inputs: list[Any], metas: list[Any]) -> None:
    base = _base(name)
    source, source_meta = inputs[0], metas[0] if isinstance(metas[0], dict) else dict.fromkeys(inputs[0])
    if base in _KEYED and isinstance(inputs[1], (ir.Value, torch.Tensor)):
        raise TranslationError(f"{name} at {t.location(node)} picks a dict entry by a key computed at run time; "
                               "ONNX has no maps: use keys known at export time (string constants)")
    d, m = (dict(source), dict(source_meta)) if base in _EDITS else (source, source_meta)
    try:
        result, result_meta = _OPS[base](d, m, inputs[1:], metas[1:])
    except KeyError as missing:
        raise TranslationError(f"{name} at {t.location(node)} reads key {missing} that the dict does not have "
                               f"(its keys: {', '.join(repr(k) for k in source)}); check the example inputs") from None
    if base in _EDITS:
        t.set(node.inputsAt(0), d, m)
    if node.outputsSize() == 1:
        t.set(node.output(), result, result_meta)
