"""Replacing nodes of a translated model in place: what the rewrite passes share.

A rule looks at one node and, when it applies, returns how to build the replacement: a function
of a GraphBuilder at the model's opset (made only then: most nodes are left alone); the new nodes take the old node's place in its graph (If/Loop bodies
included), its outputs keep their names, types and consumers, and the new nodes are offered
to the rules in turn (a replacement may itself need rewriting by a later rule).
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Sequence

import onnx_ir as ir

from aten2onnx.exporter.emit.graph_builder import MODULE_CALLS_KEY, GraphBuilder, generated_number

# builder -> the replacement's outputs, one per output of the node replaced
Build = Callable[[GraphBuilder], Sequence[ir.Value]]
# (node, opset) -> how to replace the node, or None: not this node
Rule = Callable[[ir.Node, int], Build | None]

def _all_nodes(graph: ir.Graph) -> list[ir.Node]:
    return list(ir.traversal.RecursiveGraphIterator(graph))


def rewrite(model: ir.Model, rules: Sequence[tuple[str, Rule]]) -> list[str]:
    """Apply `rules` to every node of `model`; returns one line per rewrite ("rule: Op(dtypes)")."""
    opset = model.opset_imports.get("", 1)
    nodes = _all_nodes(model.graph)
    numbers = (generated_number(value.name) for node in nodes for value in node.outputs)
    counter = itertools.count(1 + max((n for n in numbers if n is not None), default=0))
    node_names = {node.name: 1 for node in nodes if node.name}
    applied: list[str] = []
    pending = collections.deque(nodes)
    while pending:
        node = pending.popleft()
        if node.graph is None:
            continue  # removed by an earlier rewrite
        for name, rule in rules:
            build = rule(node, opset)
            if build is None:
                continue
            builder = GraphBuilder(opset)
            builder._value_counter, builder._node_names, builder._scope = counter, node_names, node.name or node.op_type
            outputs = build(builder)
            dtypes = ", ".join(str(v.dtype) if v is not None else "-" for v in node.inputs)
            applied.append(f"{name}: {node.op_type}({dtypes})")
            _splice(node, builder.nodes, list(outputs))
            pending.extendleft(reversed(builder.nodes))
            break
    return applied


def _splice(node: ir.Node, new_nodes: list[ir.Node], outputs: list[ir.Value]) -> None:
    """Put `new_nodes` where `node` is; its outputs' consumers (and graph outputs) read `outputs`."""
    graph = node.graph
    assert graph is not None
    for old, new in zip(node.outputs, outputs):
        if old.dtype is not None:
            new.dtype = old.dtype
        new.shape = old.shape
        new.meta.update(old.meta)
        old.replace_all_uses_with(new, replace_graph_outputs=True)
    names = [old.name for old in node.outputs]
    for new_node in new_nodes:  # where in the model it comes from (verbose, the saved file, module functions)
        new_node.metadata_props.update(node.metadata_props)
        if MODULE_CALLS_KEY in node.meta:
            new_node.meta[MODULE_CALLS_KEY] = node.meta[MODULE_CALLS_KEY]
    graph.insert_before(node, new_nodes)
    graph.remove(node, safe=True)
    for name, new in zip(names, outputs):
        new.name = name
