"""A list a scripted loop appends to once per iteration, then stacked or concatenated: ONNX Loop scan outputs.

    ys = []                        # or [x0, ...]: tensors known before the loop
    for i in range(n):
        ys.append(f(x, i))         # once per iteration, in the loop's own block
    out = torch.stack(ys, dim)     # or torch.cat(ys, dim); nothing else reads ys after the loop

ONNX Loop has stacked each iteration's value of a body output along a new first axis (a scan
output) since opset 1, so this is exported at every opset, without the sequences (SequenceInsert
carried by Loop, opset 13+) that other lists grown in a loop need: the element becomes a scan
output S of shape [n, *element], and after the loop `stack(ys, dim)` is S with axis 0 moved to
`dim`, `cat(ys, dim)` that with the two axes merged; elements added before the loop are
concatenated in front. Each step goes through the registry's own mappings (permute, flatten,
unsqueeze, cat).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import onnx_ir as ir
import torch
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

from aten2onnx.exporter.errors import TranslationError
from aten2onnx.exporter.translate import registry
from aten2onnx.exporter.translate.translator import set_type_from_meta

if TYPE_CHECKING:
    from aten2onnx.exporter.torchscript.translator import Translator

_READERS = {"aten::stack", "aten::cat"}


@dataclass(frozen=True)
class ScanList:
    """What the list holds after the loop: its elements from before the loop, then the scan output."""

    prefix: tuple[Any, ...]
    prefix_metas: tuple[Any, ...]
    scanned: Any            # the Loop's scan output: [iterations, *element]
    element: Any            # the element's metadata (a fake tensor)


def _inside(user: torch._C.Node, node: torch._C.Node) -> bool:
    while user is not None:
        if user == node:
            return True
        block = user.owningBlock()
        user = block.owningNode() if block is not None else None
    return False


def _later_in_block(user: torch._C.Node, node: torch._C.Node) -> bool | None:
    """Whether `user` (or the node holding it) comes after `node` in node's block; None when it is
    not in that block at all (an outer block)."""
    block = node.owningBlock()
    while user is not None and user.owningBlock() != block:
        owner = user.owningBlock()
        user = owner.owningNode() if owner is not None else None
    return None if user is None else user.isAfter(node)


def candidates(t: Translator, node: torch._C.Node, mutated: list[torch._C.Value]) -> list[torch._C.Value]:
    """The lists among `mutated` (written by the loop `node`) that follow the pattern."""
    body = next(iter(node.blocks()))
    found = []
    for value in mutated:
        kind = value.type()
        if not isinstance(t.get(value), list) or not (isinstance(kind, torch._C.ListType)
                                                      and isinstance(kind.getElementType(), torch._C.TensorType)):
            continue
        inside = [use for use in value.uses() if _inside(use.user, node)]
        if len(inside) != 1:
            continue
        append = inside[0].user
        if append.kind() != "aten::append" or inside[0].offset != 0 or append.owningBlock() != body \
                or append.output().uses():
            continue
        later = [use for use in value.uses() if not _inside(use.user, node) and _later_in_block(use.user, node)
                 is not False]
        if later and all(use.user.kind() in _READERS and use.offset == 0
                         and _later_in_block(use.user, node) for use in later):
            found.append(value)
    return found


def fits(value: torch._C.Value, element: Any) -> bool:
    """Whether the list's element, as the body makes it, can be a scan output: a tensor, and for `cat`
    one whose sizes do not follow the iteration or data read in the loop (a scan output has one
    shape; `stack` needs one anyway)."""
    if not isinstance(element, torch.Tensor):
        return False
    joined_by_cat = any(use.user.kind() == "aten::cat" for use in value.uses())
    return not (joined_by_cat and free_unbacked_symbols(element.shape))


def handles(inputs: list[Any]) -> bool:
    return bool(inputs) and isinstance(inputs[0], ScanList)


def _call(t: Translator, node: torch._C.Node, overload: str, op: Any, inputs: list[Any],
          metas: list[Any]) -> tuple[Any, Any]:
    """An ATen op through its mapping, typed from its result on fake values: (value, metadata)."""
    function = registry.lookup(overload, t.opset)
    if function is None:
        raise TranslationError(f"{overload} has no mapping at opset {t.opset}; the list joined at "
                               f"{t.location(node)} cannot be exported")
    meta = t.meta.call(op, metas)
    value = t.call(node, overload, function, op, inputs, meta)
    if isinstance(value, ir.Value) and value.producer() is not None:
        set_type_from_meta(value, meta, t.meta.dim_names)
    return value, meta


def translate(t: Translator, node: torch._C.Node, name: str, inputs: list[Any]) -> Any:
    """`stack(ys, dim)` or `cat(ys, dim)` of a ScanList: the ONNX value."""
    scan: ScanList = inputs[0]
    rank = scan.element.dim()
    dim = inputs[1] if len(inputs) > 1 else 0
    if not isinstance(dim, int):
        raise TranslationError(f"{name} at {t.location(node)} joins a list along a dimension computed at run time")
    stack = node.kind() == "aten::stack"
    dim %= rank + 1 if stack else rank
    moved = list(range(1, dim + 1)) + [0] + list(range(dim + 1, rank + 1))  # the iterations' axis to `dim`
    joined = (scan.scanned, t.meta.empty([t.meta.unknown_number(int), *scan.element.shape], scan.element.dtype))
    if dim:
        joined = _call(t, node, "aten::permute.default", torch.ops.aten.permute.default, [joined[0], moved],
                       [joined[1], moved])
    if stack:
        prefix = [_call(t, node, "aten::unsqueeze.default", torch.ops.aten.unsqueeze.default, [p, dim], [m, dim])
                  for p, m in zip(scan.prefix, scan.prefix_metas)]
    else:  # the iterations' axis and `dim` side by side, merged
        joined = _call(t, node, "aten::flatten.using_ints", torch.ops.aten.flatten.using_ints,
                       [joined[0], dim, dim + 1], [joined[1], dim, dim + 1])
        prefix = list(zip(scan.prefix, scan.prefix_metas))
    if not prefix:
        return joined[0]
    parts = [*prefix, joined]
    return _call(t, node, "aten::cat.default", torch.ops.aten.cat.default, [[p[0] for p in parts], dim],
                 [[p[1] for p in parts], dim])[0]
