"""TorchScript list ops on lists whose length is only known at run time: ONNX sequences.

A static list is a Python list of values (the TorchScript frontend edits those itself); these
mappings also accept one, turning it into a sequence only when an index is computed at run time.
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

# A Python number in a list is the 0-d value the exporter uses for numbers: int64, float64 or bool.
_NUMBER_DTYPES = {bool: torch.bool, int: torch.int64, float: torch.float64}


def _sequence(g: Any, items: Any) -> ir.Value:
    if isinstance(items, ir.Value):
        return items
    values = [v if isinstance(v, ir.Value) else g.constant(v, _NUMBER_DTYPES.get(type(v))) for v in items]
    out = g.op("SequenceConstruct", *values)
    out.type = ir.SequenceType(ir.TensorType(values[0].dtype))
    return out


def _element_dtype(sequence: ir.Value) -> ir.DataType | None:
    element = sequence.type.elem_type if isinstance(sequence.type, ir.SequenceType) else None
    return element.dtype if isinstance(element, ir.TensorType) else None


def _index(g: Any, idx: Any) -> ir.Value:
    return idx if isinstance(idx, ir.Value) else g.constant(int(idx), torch.int64)


def getitem(g: Any, list: Any, idx: Any) -> Any:
    """aten::__getitem__.t: list[idx]."""
    if not isinstance(list, ir.Value) and not isinstance(idx, ir.Value):
        return list[idx]
    sequence = _sequence(g, list)
    out = g.op("SequenceAt", sequence, _index(g, idx))
    out.dtype = _element_dtype(sequence)
    return out


def length(g: Any, a: Any) -> Any:
    """aten::len.t: the number of elements."""
    if not isinstance(a, ir.Value):
        return len(a)
    return g.op("SequenceLength", a)


def append(g: Any, self: Any, el: Any) -> Any:
    """aten::append.t: the list with `el` added at the end (the frontend rebinds the list to it)."""
    if not isinstance(self, ir.Value):
        return [*self, el]
    out = g.op("SequenceInsert", self, el)
    out.type = self.type
    return out


def set_item(g: Any, l: Any, idx: Any, el: Any) -> Any:  # noqa: E741 - torch's argument name
    """aten::_set_item.t: `list[idx] = el`, as erase-then-insert at the same (non-negative) position."""
    if not isinstance(l, ir.Value) and not isinstance(idx, ir.Value):
        items = [*l]
        items[idx] = el
        return items
    sequence = _sequence(g, l)
    position = _index(g, idx)
    if not isinstance(idx, ir.Value) and idx < 0 or isinstance(idx, ir.Value):
        count = g.op("SequenceLength", sequence)
        negative = g.op("Less", position, g.constant(0, torch.int64))
        position = g.op("Where", negative, g.op("Add", position, count), position)
    out = g.op("SequenceInsert", g.op("SequenceErase", sequence, position), el, position)
    out.type = sequence.type
    return out
