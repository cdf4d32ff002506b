"""`prim::If` -> ONNX If and `prim::Loop` -> ONNX Loop, their blocks translated by the same translator.

A condition known at export time (`if self.training`, `if x.dim() == 4`) keeps only the branch
taken; a branch that only raises is dropped (ONNX has no exceptions), as torch.onnx did. Otherwise
each block becomes a subgraph, which reads outer values directly.

TorchScript lists and in-place ops mutate values defined outside a block (`ys.append(y)` in a
loop, `x[0] += 1` in a branch) without passing them through the block. Each block is scanned first
for such writes (through select/slice views to their base), and those values become extra If
outputs or extra loop-carried values, rebound after the node. A list the loop appends to once per
iteration and that is only stacked or concatenated afterwards becomes a scan output of the Loop
(any opset: scan_lists.py); any other list carried by a loop, or edited in a branch, becomes an
ONNX sequence (opset 13+). A loop over a list no ONNX graph holds (a dict's keys, strings) runs at
export time, its body translated once per iteration.

A loop body is translated twice: a dry run learns how its carried values change (numbers become
symbols, sizes that grow become unknown, a list learns its element type), then the body is built
with those types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.dtypes import from_torch_dtype
from aten2onnx.exporter.emit.graph_builder import GraphBuilder, mark_symbolic_scalar
from aten2onnx.exporter.errors import TranslationError
from aten2onnx.exporter.torchscript import list_ops, scan_lists
from aten2onnx.exporter.torchscript.meta import SequenceMeta, is_concrete
from aten2onnx.exporter.torchscript.values import MISSING, is_missing, is_sequence
from aten2onnx.exporter.translate.control_flow import _condition, _graph
from aten2onnx.exporter.translate.translator import scalar_type, set_type_from_meta

if TYPE_CHECKING:
    from aten2onnx.exporter.torchscript.translator import Translator

_INT64_MAX = 2**63 - 1
_VIEW_KINDS = {"aten::select", "aten::slice"}  # writes through these reach their base (Translator.assign)


# -- what a block writes outside itself ---------------------------------------------------------------
def _defined_inside(block: torch._C.Block) -> set[int]:
    found = {v.unique() for v in block.inputs()}
    for node in block.nodes():
        found.update(v.unique() for v in node.outputs())
        for inner in node.blocks():
            found |= _defined_inside(inner)
    return found


def _written(node: torch._C.Node) -> list[torch._C.Value]:
    try:
        schema = torch._C.parse_schema(node.schema())
    except RuntimeError:
        return []
    return [v for a, v in zip(schema.arguments, node.inputs()) if a.alias_info is not None and a.alias_info.is_write]


def _all_nodes(block: torch._C.Block) -> list[torch._C.Node]:
    nodes = []
    for node in block.nodes():
        nodes.append(node)
        for inner in node.blocks():
            nodes += _all_nodes(inner)
    return nodes


def mutated_outside(blocks: list[torch._C.Block]) -> list[torch._C.Value]:
    """Values defined outside `blocks` that they write (in place, or list edits), in a stable order."""
    found: dict[int, torch._C.Value] = {}
    for block in blocks:
        inside = _defined_inside(block)
        for node in _all_nodes(block):
            for value in _written(node):
                while True:
                    if value.unique() not in inside:
                        found.setdefault(value.unique(), value)
                    producer = value.node()
                    if producer.kind() not in _VIEW_KINDS:
                        break
                    value = producer.inputsAt(0)
    return list(found.values())


def _raises(block: torch._C.Block) -> bool:
    return any(node.kind() == "prim::RaiseException" for node in block.nodes())


# -- metadata of values that differ between branches or iterations ------------------------------------
def _same_meta(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and len(a.shape) == len(b.shape) and all(
            _same_size(x, y) for x, y in zip(a.shape, b.shape))
    if isinstance(a, SequenceMeta) and isinstance(b, SequenceMeta):
        return _same_meta(a.element, b.element)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_meta(x, y) for x, y in zip(a, b))
    if isinstance(a, (torch.SymInt, torch.SymFloat, torch.SymBool)) or isinstance(
            b, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return a is b
    return type(a) is type(b) and a == b


def _same_size(a: Any, b: Any) -> bool:
    if isinstance(a, torch.SymInt) or isinstance(b, torch.SymInt):
        return isinstance(a, torch.SymInt) and isinstance(b, torch.SymInt) and a.node.expr == b.node.expr
    return a == b


def _number_kind(meta: Any) -> type:
    if isinstance(meta, (bool, torch.SymBool)):
        return bool
    if isinstance(meta, (float, torch.SymFloat)):
        return float
    return int


def merge_meta(t: Translator, a: Any, b: Any, where: str) -> Any:
    """Metadata covering both `a` and `b` (two branches, or a loop value before and after an iteration)."""
    if _same_meta(a, b):
        return a
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.dtype != b.dtype:
            raise TranslationError(f"{where}: a tensor is {a.dtype} on one path and {b.dtype} on the other; ONNX "
                                   "needs one dtype: convert it (.to(...)) so both agree")
        if len(a.shape) != len(b.shape):
            raise TranslationError(f"{where}: a tensor has rank {a.dim()} on one path and {b.dim()} on the other; "
                                   "ONNX If/Loop outputs need one rank")
        sizes = [x if _same_size(x, y) else t.meta.unknown_number(int) for x, y in zip(a.shape, b.shape)]
        return t.meta.empty(sizes, a.dtype)
    if isinstance(a, (SequenceMeta, list)) or isinstance(b, (SequenceMeta, list)):
        return SequenceMeta(merge_meta(t, _element(a), _element(b), where))
    return t.meta.unknown_number(_number_kind(a))


def _element(meta: Any) -> Any:
    if isinstance(meta, SequenceMeta):
        return meta.element
    if isinstance(meta, list):
        return meta[0] if meta else None
    return meta


# -- values across subgraph boundaries ----------------------------------------------------------------
def _number_dtype(meta: Any) -> torch.dtype:
    dtypes: dict[type, torch.dtype] = {bool: torch.bool, float: torch.float64}
    return dtypes.get(_number_kind(meta), torch.int64)


def _as_onnx(g: GraphBuilder, value: Any, meta: Any) -> ir.Value:
    """A value as an ONNX output of a subgraph: numbers become 0-d constants, lists sequences."""
    if isinstance(value, ir.Value):
        return value
    if isinstance(value, (list, tuple)) or isinstance(meta, SequenceMeta):
        return list_ops.to_sequence(g, list(value), _element(meta))
    if isinstance(value, torch.Tensor):
        return g.constant(value)
    if isinstance(value, (bool, int, float)):
        return g.constant(value, _number_dtype(value))
    raise TranslationError(f"a value of type {type(value).__name__} cannot pass between ONNX subgraphs")


def _typed_like(t: Translator, base: str, meta: Any, value: Any) -> ir.Value:
    """A fresh subgraph input for a loop-carried value."""
    out = ir.Value(name=t.unique(base))
    if isinstance(meta, SequenceMeta) or is_sequence(value):
        element = meta.element if isinstance(meta, SequenceMeta) else None
        if isinstance(element, torch.Tensor):
            out.type = ir.SequenceType(ir.TensorType(from_torch_dtype(element.dtype)))
        elif is_sequence(value):
            out.type = value.type
        return out
    if isinstance(meta, torch.Tensor) or scalar_type(meta) is not None:
        set_type_from_meta(out, meta, t.meta.dim_names)
    if scalar_type(meta) is not None:
        mark_symbolic_scalar(out)
    return out


def _bind_result(t: Translator, target: torch._C.Value, value: ir.Value, meta: Any) -> None:
    if isinstance(meta, torch.Tensor) or scalar_type(meta) is not None:
        set_type_from_meta(value, meta, t.meta.dim_names)
    if scalar_type(meta) is not None:
        mark_symbolic_scalar(value)
    debug = target.debugName()
    value.name = t.unique(debug if not debug.isdigit() else f"value_{debug}")
    t.set(target, value, meta)


# -- If -----------------------------------------------------------------------------------------------
def _if(t: Translator, node: torch._C.Node) -> None:
    condition = t.get(node.input())
    blocks = list(node.blocks())
    raising = [_raises(b) for b in blocks]
    if not isinstance(condition, ir.Value) or any(raising):
        if isinstance(condition, ir.Value) or condition is MISSING:
            chosen = blocks[1] if raising[0] else blocks[0]
        else:
            chosen = blocks[0] if condition else blocks[1]
        for out, (value, meta) in zip(node.outputs(), t.run_block(chosen)):
            t.set(out, value, meta)
        return
    mutated = mutated_outside(blocks)
    if any(isinstance(t.get(m), list) or is_sequence(t.get(m)) for m in mutated):
        list_ops.require_sequences(t, node, "a list changed inside an `if` on a tensor's value")
    saved = {m.unique(): (t.get(m), t.meta_of(m)) for m in mutated}
    branches = []
    for block in blocks:
        sub = t.g.subgraph()
        with t.building(sub):
            results = t.run_block(block) + [(t.get(m), t.meta_of(m)) for m in mutated]
        branches.append((sub, results))
        for m in mutated:
            t.set(m, *saved[m.unique()])
    targets = list(node.outputs()) + mutated
    where = f"prim::If at {t.location(node)}"
    if any(is_missing(v) for _, results in branches for v, _ in results):
        for target in targets:
            t.set(target, MISSING, None)
        return
    (then_g, then_results), (else_g, else_results) = branches
    passed: dict[int, Any] = {}      # outputs both branches agree on at export time
    onnx_outputs: list[tuple[int, ir.Value, ir.Value, Any]] = []
    for index, ((a, ma), (b, mb)) in enumerate(zip(then_results, else_results)):
        if is_concrete(ma) and _same_meta(ma, mb) and not isinstance(a, ir.Value) and not isinstance(b, ir.Value):
            passed[index] = (a, ma)
            continue
        meta = merge_meta(t, ma, mb, where)
        onnx_outputs.append((index, _as_onnx(then_g, a, meta), _as_onnx(else_g, b, meta), meta))
    if onnx_outputs:
        then_graph = _graph(then_g, [], [o[1] for o in onnx_outputs], f"{_name(node)}_then")
        else_graph = _graph(else_g, [], [o[2] for o in onnx_outputs], f"{_name(node)}_else")
        with t.translating(node, "prim::If"):
            made = t.g.op("If", _condition(t.g, condition), _outputs=len(onnx_outputs),
                          then_branch=then_graph, else_branch=else_graph)
        outputs = made if isinstance(made, tuple) else (made,)
        for (index, then_value, _, meta), value in zip(onnx_outputs, outputs):
            if isinstance(then_value.type, ir.SequenceType):
                value.type = then_value.type
            _bind_result(t, targets[index], value, meta)
    for index, (value, meta) in passed.items():
        t.set(targets[index], value, meta)


def _name(node: torch._C.Node) -> str:
    """`loop_x_5` (after the node's first output) to name its subgraphs and their inputs."""
    outputs = list(node.outputs())
    kind = node.kind().split("::")[1].lower()
    return f"{kind}_{outputs[0].debugName()}".replace(".", "_") if outputs else kind


# -- Loop ---------------------------------------------------------------------------------------------
def _carried_meta(t: Translator, value: Any, meta: Any) -> Any:
    """The metadata a loop-carried value starts with: numbers change, so they are symbols; lists grow."""
    if isinstance(value, list) or is_sequence(value) or isinstance(meta, SequenceMeta):
        return SequenceMeta(_element(meta))
    if scalar_type(meta) is not None or isinstance(value, (bool, int, float)):
        return t.meta.unknown_number(_number_kind(meta if meta is not None else value))
    return meta


# a list the loop appends to for a scan output: (its value, its elements before the loop, their metadata)
_Scan = tuple[torch._C.Value, list[Any], list[Any]]


def _loop_body(t: Translator, node: torch._C.Node, carried: list[torch._C.Value], metas: list[Any],
               init: list[tuple[Any, Any]], scans: Sequence[_Scan] = ()
               ) -> tuple[Any, list[ir.Value], list[tuple[Any, Any]], ir.Value, ir.Value]:
    """Translate the body once with carried values typed by `metas`: (builder, inputs, outputs, iteration, cond).
    The outputs are the condition, the carried values, then the element each scanned list got."""
    body = next(iter(node.blocks()))
    sub = t.g.subgraph()
    name = _name(node)
    iteration = ir.Value(name=t.unique(f"{name}_iteration"), type=ir.TensorType(ir.DataType.INT64), shape=ir.Shape([]))
    mark_symbolic_scalar(iteration)
    condition = ir.Value(name=t.unique(f"{name}_condition"), type=ir.TensorType(ir.DataType.BOOL), shape=ir.Shape([]))
    inputs = [_typed_like(t, f"{name}_{value.debugName()}".replace(".", "_"), meta, start)
              for value, meta, (start, _) in zip(carried, metas, init)]
    block_inputs = list(body.inputs())
    t.set(block_inputs[0], iteration, t.meta.unknown_number(int))
    loop_carried = len(block_inputs) - 1
    for value, body_input, meta in zip(block_inputs[1:], inputs[:loop_carried], metas[:loop_carried]):
        t.set(value, body_input, meta)
    mutated = carried[loop_carried:]
    for value, body_input, meta in zip(mutated, inputs[loop_carried:], metas[loop_carried:]):
        t.set(value, body_input, meta)
    for value, prefix, prefix_metas in scans:
        t.set(value, list(prefix), list(prefix_metas))
    with t.building(sub):
        results = t.run_block(body)
        results = results + [(t.get(m), t.meta_of(m)) for m in mutated]
        results = results + [(t.get(value)[-1], t.meta_of(value)[-1]) for value, _, _ in scans]
    for value, prefix, prefix_metas in scans:
        t.set(value, list(prefix), list(prefix_metas))
    return sub, inputs, results, iteration, condition


def _picks_python_values(t: Translator, body: torch._C.Block) -> bool:
    """The body reads, at the iteration's index, a list of values no ONNX graph holds: the keys or
    items of a dict, strings, tuples (`for key in batch.keys()`, `for k, v in d.items()`)."""
    iteration = next(body.inputs())
    for use in iteration.uses():
        user = use.user
        if user.kind() != "aten::__getitem__" or use.offset != 1:
            continue
        items = t.get(user.inputsAt(0))
        if isinstance(items, list) and any(not isinstance(v, (ir.Value, torch.Tensor, bool, int, float))
                                           for v in items):
            return True
    return False


def _unroll(t: Translator, node: torch._C.Node, trips: int) -> None:
    """The loop run at export time, its body translated once per iteration (a static trip count)."""
    body = next(iter(node.blocks()))
    block_inputs = list(body.inputs())
    values = [(t.get(v), t.meta_of(v)) for v in list(node.inputs())[2:]]
    for index in range(trips):
        t.set(block_inputs[0], index, index)
        for block_input, (value, meta) in zip(block_inputs[1:], values):
            t.set(block_input, value, meta)
        (go_on, _), *values = t.run_block(body)
        if isinstance(go_on, ir.Value):
            raise TranslationError(f"the loop at {t.location(node)} walks a list of strings or tuples (a dict's keys "
                                   "or items) and stops on a tensor's value; ONNX cannot hold that list: loop over "
                                   "tensors, or decide when to stop from values known at export time")
        if not go_on:
            break
    for out, (value, meta) in zip(node.outputs(), values):
        t.set(out, value, meta)


def _widened(t: Translator, node: torch._C.Node, carried: list[torch._C.Value], init: list[tuple[Any, Any]],
             scans: list[_Scan], where: str) -> tuple[list[Any], list[Any]]:
    """Dry runs of the body: the metadata of the carried values over every iteration, and of each
    scanned list's element."""
    metas = [_carried_meta(t, v, m) for v, m in init]
    elements: list[Any] = []
    t.dry_run += 1
    try:
        for _ in range(3):  # each pass can only widen: unknown sizes, symbols, element types
            _, _, results, _, _ = _loop_body(t, node, carried, metas, init, scans)
            elements = [meta for _, meta in results[len(carried) + 1:]]
            widened = [merge_meta(t, m, r, where) if not _same_meta(m, r) else m
                       for m, (_, r) in zip(metas, results[1:])]
            if all(_same_meta(a, b) for a, b in zip(widened, metas)):
                break
            metas = widened
    finally:
        t.dry_run -= 1
        for value, (start, meta) in zip(carried, init):
            t.set(value, start, meta)
    return metas, elements


def _loop(t: Translator, node: torch._C.Node) -> None:
    inputs = list(node.inputs())
    trips, first = t.get(inputs[0]), t.get(inputs[1])
    body = next(iter(node.blocks()))
    mutated = mutated_outside([body])
    carried = inputs[2:] + mutated
    targets = list(node.outputs()) + mutated
    init = [(t.get(v), t.meta_of(v)) for v in carried]
    if first is False or trips == 0:  # the loop never runs
        for target, (value, meta) in zip(targets, init):
            t.set(target, value, meta)
        return
    if isinstance(trips, int) and trips < _INT64_MAX and first is True and _picks_python_values(t, body):
        _unroll(t, node, trips)
        return
    if any(is_missing(v) for v, _ in init) or is_missing(trips) or is_missing(first):
        for target in targets:
            t.set(target, MISSING, None)
        return
    where = f"prim::Loop at {t.location(node)}"
    scanned = scan_lists.candidates(t, node, mutated)
    while True:  # a scanned list whose elements turn out to change size is carried as a sequence instead
        kept = {v.unique() for v in scanned}
        carried = inputs[2:] + [m for m in mutated if m.unique() not in kept]
        init = [(t.get(v), t.meta_of(v)) for v in carried]
        if any(isinstance(v, list) or is_sequence(v) for v, _ in init):
            list_ops.require_sequences(t, node, "a list changed inside a loop")
        scans = [(v, list(t.get(v)), list(t.meta_of(v) or [None] * len(t.get(v)))) for v in scanned]
        metas, elements = _widened(t, node, carried, init, scans, where)
        unfit = {v.unique() for v, element in zip(scanned, elements) if not scan_lists.fits(v, element)}
        if not unfit:
            break
        scanned = [v for v in scanned if v.unique() not in unfit]
    targets = list(node.outputs()) + carried[len(inputs) - 2:]
    sub, body_inputs, results, iteration, condition = _loop_body(t, node, carried, metas, init, scans)
    results, elements = results[:len(carried) + 1], results[len(carried) + 1:]
    if any(is_missing(v) for v, _ in results + elements):
        for target in targets:
            t.set(target, MISSING, None)
        return
    with t.translating(node, "prim::Loop"):  # its constants and casts belong to the loop's module
        g = t.g
        starts = [_as_onnx(g, value, meta) for (value, _), meta in zip(init, metas)]
        for start, body_input in zip(starts, body_inputs):
            if isinstance(body_input.type, ir.SequenceType) or not isinstance(start.type, ir.SequenceType):
                if body_input.type is None:
                    body_input.type = start.type
            if body_input.dtype is not None and start.dtype is not None and body_input.dtype != start.dtype \
                    and not isinstance(start.type, ir.SequenceType):
                raise TranslationError(f"{where}: a carried value starts as {start.dtype} and the body makes it "
                                       f"{body_input.dtype}; convert it before the loop so both agree")
        outputs = [_as_onnx(sub, value, meta) for (value, _), meta in zip(results[1:], metas)]
        for body_input, output in zip(body_inputs, outputs):
            if body_input.dtype is not None and output.dtype is not None and body_input.dtype != output.dtype \
                    and not isinstance(output.type, ir.SequenceType):
                raise TranslationError(f"{where}: a value the loop carries enters as {body_input.dtype.name.lower()} "
                                       f"and leaves an iteration as {output.dtype.name.lower()}; ONNX Loop needs one "
                                       "dtype: convert it in the loop (.to(...)) so both agree")
        padding = [] if starts or t.opset >= 11 else [g.constant(0, torch.int64)]  # Loop needs a carried value before 11
        extra = [ir.Value(name=t.unique(f"{_name(node)}_unused"), type=ir.TensorType(ir.DataType.INT64),
                          shape=ir.Shape([]))] if padding else []
        go_on = _condition(sub, results[0][0] if not isinstance(results[0][0], bool)
                           else sub.constant(results[0][0], torch.bool))
        scan_outputs = [_as_onnx(sub, value, meta) for value, meta in elements]
        graph = _graph(sub, [iteration, condition, *body_inputs, *extra], [go_on, *outputs, *extra, *scan_outputs],
                       f"{_name(node)}_body")
        count = None if isinstance(trips, int) and trips >= _INT64_MAX else (
            trips if isinstance(trips, ir.Value) else g.constant(int(trips), torch.int64))
        if isinstance(count, ir.Value) and count.dtype != ir.DataType.INT64:
            count = g.cast(count, torch.int64)
        start_condition = _condition(g, first if isinstance(first, ir.Value) else g.constant(bool(first), torch.bool))
        loop = g.op("Loop", count, start_condition, *starts, *padding, body=graph,
                    _outputs=len(starts) + len(padding) + len(scan_outputs))
    loop = loop if isinstance(loop, tuple) else (loop,)
    for (value, prefix, prefix_metas), stacked, (_, element) in zip(scans, loop[len(starts) + len(padding):],
                                                                   elements):
        set_type_from_meta(stacked, t.meta.empty([t.meta.unknown_number(int), *element.shape], element.dtype),
                           t.meta.dim_names)
        stacked.name = t.unique(f"{_name(node)}_{value.debugName()}_scanned".replace(".", "_"))
        t.set(value, scan_lists.ScanList(tuple(prefix), tuple(prefix_metas), stacked, element), SequenceMeta(element))
    for target, value, meta, start in zip(targets, loop, metas, starts):
        if isinstance(start.type, ir.SequenceType):
            value.type = start.type if start.type.elem_type is not None else value.type
        _bind_result(t, target, value, meta)


def translate(t: Translator, node: torch._C.Node) -> None:
    if node.kind() == "prim::If":
        _if(t, node)
    else:
        _loop(t, node)
