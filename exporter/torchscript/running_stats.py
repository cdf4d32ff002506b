"""Training-mode batch norm's running statistics in a TorchScript graph.

`aten::batch_norm` (and `instance_norm` with use_input_stats) in training mode update
running_mean and running_var in place, though their schemas declare no write. The torch.export
frontend carries that update to every later reader of the buffers (run_decompositions
functionalizes it: capture/torch_export.py, _STAT_UPDATERS) and, like torch.onnx, exports no
output for it. A TorchScript graph reads the buffers as module attributes (`prim::GetAttr`,
which a trace even hoists above the op), so a later read would get the value from before the
update: the translator refuses that case (an op whose statistics nobody reads afterwards gives
the same graph on both frontends).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

# op name -> the bool argument that makes it update its running statistics
UPDATERS = {"aten::batch_norm": "training", "aten::instance_norm": "use_input_stats",
            "aten::_batch_norm_impl_index": "training", "aten::native_batch_norm": "training"}
STATISTICS = ("running_mean", "running_var")


def updated(name: str, op: torch._ops.OpOverload, metas: list[object]) -> list[int]:
    """Indices of the running statistics the op updates in place (none in eval mode)."""
    flag = UPDATERS.get(name.split(".", 1)[0])
    if flag is None:
        return []
    names = [a.name for a in op._schema.arguments]
    if flag not in names or metas[names.index(flag)] is False:
        return []
    return [names.index(s) for s in STATISTICS if s in names and metas[names.index(s)] is not None]


def attribute_path(value: torch._C.Value) -> str | None:
    """'bn.running_mean' for a chain of prim::GetAttr from the graph's module input; None otherwise."""
    names = []
    while value.node().kind() == "prim::GetAttr":
        names.append(value.node().s("name"))
        value = value.node().input()
    return ".".join(reversed(names)) if names and value.node().kind() == "prim::Param" else None


def _nodes(block: torch._C.Block) -> Iterator[torch._C.Node]:
    for node in block.nodes():
        yield node
        for inner in node.blocks():
            yield from _nodes(inner)


def read_after(node: torch._C.Node, path: str,
               used_after: Callable[[torch._C.Value, torch._C.Node, torch._C.Node], bool]) -> bool:
    """Whether a node after `node` reads the module attribute `path`."""
    block = node.owningBlock()
    while block.owningNode() is not None:  # the graph's own block
        block = block.owningNode().owningBlock()
    return any(other.kind() == "prim::GetAttr" and attribute_path(other.output()) == path
               and used_after(other.output(), node, node) for other in _nodes(block))
