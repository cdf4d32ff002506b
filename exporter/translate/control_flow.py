"""torch's control-flow operators as ONNX If and Loop, their bodies translated by the same translator.

| torch (higher-order op)                     | ONNX                                                |
|---------------------------------------------|-----------------------------------------------------|
| `torch.cond(pred, true_fn, false_fn, ops)`  | `If(pred)`, one subgraph per branch                 |
| `while_loop(cond_fn, body_fn, carried)`     | `Loop(cond=cond_fn(carried))`, body = body_fn, then cond_fn |
| `scan(combine_fn, init, xs)`                | `Loop(M=len(xs))`: carries, xs[i] sliced, ys stacked |
| `torch._higher_order_ops.map(f, xs, *args)` | `Loop(M=len(xs))` with scan outputs only             |
| `associative_scan(combine_fn, xs)`          | `Loop(M=len(xs)-1)` folding from xs[0]               |

torch.export lifts whatever a subgraph captures (outer tensors, weights, sizes) into extra
operands, so each subgraph's placeholders are bound to values of the enclosing graph, which
ONNX subgraphs may read directly (outer scope). Loop bodies get fresh inputs for their
iteration number, condition and carried values. Subgraphs nest: a body may hold another If.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import onnx_ir as ir
import torch
import torch.fx
from torch._higher_order_ops.associative_scan import associative_scan_op
from torch._higher_order_ops.cond import cond_op
from torch._higher_order_ops.map import map_impl
from torch._higher_order_ops.scan import scan_op
from torch._higher_order_ops.while_loop import while_loop_op

from aten2onnx.exporter.emit.graph_builder import GraphBuilder

if TYPE_CHECKING:
    from aten2onnx.exporter.translate.translator import Translator


def _module_of(node: torch.fx.Node, arg: Any) -> torch.fx.GraphModule | None:
    if isinstance(arg, torch.fx.Node) and arg.op == "get_attr" and node.graph.owning_module is not None:
        module = getattr(node.graph.owning_module, str(arg.target), None)
        return module if isinstance(module, torch.fx.GraphModule) else None
    return None


def subgraph_modules(node: torch.fx.Node) -> list[torch.fx.GraphModule]:
    """The subgraphs a control-flow node runs (empty for any other node)."""
    if not handles(node.target):
        return []
    found = (_module_of(node, arg) for arg in node.args)
    return [m for m in found if m is not None]


# -- building subgraphs --------------------------------------------------------------------------
def _as_value(g: GraphBuilder, value: Any) -> ir.Value:
    if isinstance(value, ir.Value):
        return value
    return g.constant(value, torch.int64 if type(value) is int else None)


def _graph(g: GraphBuilder, inputs: Sequence[ir.Value], outputs: Sequence[Any], name: str) -> ir.Graph:
    """An ONNX subgraph of `g`'s nodes. Every output is made inside it (Identity where it is an
    input, an outer value or a repeat), as ONNX Runtime expects of subgraph outputs."""
    made = {id(out) for node in g.nodes for out in node.outputs}
    values: list[ir.Value] = []
    for output in outputs:
        value = _as_value(g, output)
        if id(value) not in made or value in values:
            copy = g.op("Identity", value)
            copy.type, copy.shape = value.type, value.shape  # a sequence stays a sequence
            value = copy
        values.append(value)
    return ir.Graph(list(inputs), values, nodes=g.nodes, name=name)


def _loop_input(t: Translator, base: str, like: Any) -> ir.Value:
    """A Loop body input typed like `like` (an ir.Value of the outer graph or FX metadata)."""
    if isinstance(like, ir.Value):
        value = ir.Value(name=t.unique(base), type=ir.TensorType(like.dtype) if like.dtype else None,
                         shape=like.shape)
        return value
    return t.fresh_value(base, like)


def _loop_counters(t: Translator, name: str) -> tuple[ir.Value, ir.Value]:
    iteration = ir.Value(name=t.unique(f"{name}_iteration"), type=ir.TensorType(ir.DataType.INT64),
                         shape=ir.Shape([]))
    condition = ir.Value(name=t.unique(f"{name}_condition"), type=ir.TensorType(ir.DataType.BOOL),
                         shape=ir.Shape([]))
    return iteration, condition


def _tuple(outputs: Any) -> tuple[Any, ...]:
    """g.op returns one value, or a tuple for several outputs: always a tuple here."""
    return outputs if isinstance(outputs, tuple) else (outputs,)


def _placeholder_metas(module: torch.fx.GraphModule) -> list[Any]:
    return [n.meta.get("val") for n in module.graph.nodes if n.op == "placeholder"]


def _condition(g: GraphBuilder, value: Any) -> ir.Value:
    """A single-element bool tensor, as If and Loop take it."""
    value = _as_value(g, value)
    value = g.cast(value, torch.bool)
    if value.shape is not None and len(value.shape) != 0:
        value = g.op("Reshape", value, g.constant([], torch.int64))
        value.shape = ir.Shape([])
    return value


def _length(g: GraphBuilder, tensor: ir.Value) -> ir.Value:
    """Size of `tensor` along dim 0, a 0-d int64 value (a constant when static)."""
    shape = tensor.shape
    if shape is not None and len(shape) > 0 and isinstance(shape[0], int):
        return g.constant(int(shape[0]), torch.int64)
    return g.op("Gather", g.op("Shape", tensor), g.constant(0, torch.int64), axis=0)


# -- the operators -------------------------------------------------------------------------------
def _cond(t: Translator, node: torch.fx.Node) -> tuple[Any, ...]:
    predicate, true_module, false_module, operands = t.resolve(tuple(node.args))
    operands = list(operands)
    if not isinstance(predicate, ir.Value):  # decided at export time
        return tuple(t.run_subgraph(true_module if predicate else false_module, operands, t.g))
    branches: dict[str, Any] = {}
    for attribute, module in (("then_branch", true_module), ("else_branch", false_module)):
        body = t.g.subgraph()
        results = t.run_subgraph(module, operands, body)
        branches[attribute] = _graph(body, [], results, f"{node.name}_{attribute}")
    count = len(branches["then_branch"].outputs)
    return _tuple(t.g.op("If", _condition(t.g, predicate), _outputs=count, **branches))


def _while_loop(t: Translator, node: torch.fx.Node) -> tuple[Any, ...]:
    cond_module, body_module, carried, additional = t.resolve(tuple(node.args))
    carried = [_as_value(t.g, c) for c in carried]
    additional = list(additional)
    first = t.run_subgraph(cond_module, [*carried, *additional], t.g)[0]
    body = t.g.subgraph()
    iteration, condition = _loop_counters(t, node.name)
    metas = _placeholder_metas(body_module)
    inputs = [_loop_input(t, f"{node.name}_carried_{i}", meta) for i, meta in enumerate(metas[:len(carried)])]
    updated = [_as_value(body, v) for v in t.run_subgraph(body_module, [*inputs, *additional], body)]
    again = t.run_subgraph(cond_module, [*updated, *additional], body)[0]
    graph = _graph(body, [iteration, condition, *inputs], [_condition(body, again), *updated], f"{node.name}_body")
    return _tuple(t.g.op("Loop", None, _condition(t.g, first), *carried, body=graph, _outputs=len(carried)))


def _scan_loop(t: Translator, node: torch.fx.Node, module: torch.fx.GraphModule, init: Sequence[Any],
               xs: Sequence[ir.Value], additional: Sequence[Any]) -> tuple[Any, ...]:
    """Loop over dim 0 of `xs`: carries `init`, feeds xs[i], stacks the other outputs (the ys)."""
    init = [_as_value(t.g, v) for v in init]
    body = t.g.subgraph()
    iteration, condition = _loop_counters(t, node.name)
    metas = _placeholder_metas(module)
    carries = [_loop_input(t, f"{node.name}_carry_{i}", meta) for i, meta in enumerate(metas[:len(init)])]
    slices = [body.op("Gather", x, iteration, axis=0) for x in xs]
    results = [_as_value(body, v) for v in t.run_subgraph(module, [*carries, *slices, *additional], body)]
    # Loop takes at least one carried value before opset 11: carry the iteration number along
    padding = [] if init or t.opset >= 11 else [t.g.constant(0, torch.int64)]
    unused = [_loop_input(t, f"{node.name}_unused", padding[0])] if padding else []
    graph = _graph(body, [iteration, condition, *carries, *unused], [condition, *unused, *results], f"{node.name}_body")
    trips = _length(t.g, xs[0])
    loop = t.g.op("Loop", trips, t.g.constant(True), *init, *padding, body=graph, _outputs=len(padding) + len(results))
    return _tuple(loop)[len(padding):]


def _scan(t: Translator, node: torch.fx.Node) -> tuple[Any, ...]:
    module, init, xs, additional = t.resolve(tuple(node.args))
    return _scan_loop(t, node, module, list(init), list(xs), list(additional))


def _map(t: Translator, node: torch.fx.Node) -> tuple[Any, ...]:
    module, xs, args = t.resolve(tuple(node.args))
    return _scan_loop(t, node, module, [], list(xs), list(args))


def _associative_scan(t: Translator, node: torch.fx.Node) -> tuple[Any, ...]:
    """ys[0] = xs[0], ys[i] = combine(ys[i-1], xs[i]): a Loop over xs[1:] folding from xs[0]."""
    module, xs, additional = t.resolve(tuple(node.args))
    xs, g = list(xs), t.g
    first = [g.op("Gather", x, g.constant(0, torch.int64), axis=0) for x in xs]
    rest = [g.op("Slice", x, g.constant([1], torch.int64), g.constant([2**63 - 1], torch.int64),
                 g.constant([0], torch.int64)) if g.opset >= 10 else
            g.op("Slice", x, starts=[1], ends=[2**63 - 1], axes=[0]) for x in xs]
    for source, part in zip(xs, rest):
        part.dtype = source.dtype
        part.shape = ir.Shape([None, *list(source.shape)[1:]]) if source.shape is not None else None
    body = g.subgraph()
    iteration, condition = _loop_counters(t, node.name)
    carries = [_loop_input(t, f"{node.name}_carry_{i}", v) for i, v in enumerate(first)]
    for carry, meta in zip(carries, _placeholder_metas(module)):
        if isinstance(meta, torch.Tensor):
            carry.shape = ir.Shape([d if isinstance(d, int) else None for d in meta.shape])
    slices = [body.op("Gather", x, iteration, axis=0) for x in rest]
    results = [_as_value(body, v) for v in t.run_subgraph(module, [*carries, *slices, *additional], body)]
    graph = _graph(body, [iteration, condition, *carries], [condition, *results, *results], f"{node.name}_body")
    loop = g.op("Loop", _length(g, rest[0]), g.constant(True), *first, body=graph, _outputs=2 * len(results))
    stacked = loop[len(results):]
    outputs = []
    for head, tail in zip(first, stacked):
        unsqueezed = (g.op("Unsqueeze", head, g.constant([0], torch.int64)) if g.opset >= 13
                      else g.op("Unsqueeze", head, axes=[0]))
        tail.dtype = head.dtype
        outputs.append(g.op("Concat", unsqueezed, tail, axis=0))
    return tuple(outputs)


_TRANSLATORS: dict[Any, Callable[[Any, torch.fx.Node], tuple[Any, ...]]] = {
    cond_op: _cond,
    while_loop_op: _while_loop,
    scan_op: _scan,
    map_impl: _map,
    associative_scan_op: _associative_scan,
}


def handles(target: Any) -> bool:
    return any(target is op for op in _TRANSLATORS)


def translate(t: Translator, node: torch.fx.Node) -> tuple[Any, ...]:
    """The ONNX values of a control-flow node's outputs (translated into `t.g`)."""
    return _TRANSLATORS[node.target](t, node)
