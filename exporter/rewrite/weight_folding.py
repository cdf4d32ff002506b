"""Constant folding of nodes that compute on weights: recorded, not evaluated.

onnxscript's folder evaluates a node whose inputs are all constants and stores the result. For a
node that reads weights that would bake today's values in (and is impossible when the weights
are fake), so those nodes are left to this pass (passes.fold_constants hides weights from
onnxscript): each becomes an initializer holding a DerivedTensor, the node and its inputs,
computed when the model is written, from the weights it holds then. The rules are onnxscript's:
inputs of at most 8192 elements, an output of at most 512x512, deterministic ONNX ops without
subgraphs, except two: a weight is never widened by a folded Cast (the model keeps the weight's
dtype; the runtime casts at load), and a large weight is never folded through a Transpose. The graph then uses
the weight as stored (ONNX Runtime folds the Transpose when it loads the model), so saving can
point at the checkpoint's bytes instead of writing a transposed copy. (Linear layers have no
Transpose to begin with: opspecs/nn.yaml's linear emits them as Gemm(transB=1), which ONNX Runtime
also loads faster.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx_ir as ir
from onnxscript.optimizer._constant_folding import (
    DEFAULT_CONSTANT_FOLD_BLACKLIST,
    DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT,
    DEFAULT_CONSTANT_FOLD_OUTPUT_SIZE_LIMIT,
)

from aten2onnx.exporter.emit.graph_builder import is_generated_name
from aten2onnx.exporter.names import unique_name
from aten2onnx.exporter.write.weight_sources import (
    DerivedTensor,
    NodeRecipe,
    SourceTensor,
    evaluate,
    is_weight,
    sources_of,
)

# Input positions whose values decide the output's shape: a weight there cannot be folded without
# its values (fake mode has none), so such nodes stay in the graph.
_SHAPE_INPUTS: dict[str, set[int]] = {
    "Reshape": {1}, "Expand": {1}, "Tile": {1}, "Slice": {1, 2, 3, 4}, "Pad": {1, 3}, "Unsqueeze": {1},
    "Squeeze": {1}, "Split": {1}, "Resize": {1, 2, 3}, "Upsample": {1}, "TopK": {1}, "OneHot": {1},
    "CenterCropPad": {1, 2}, "Col2Im": {1, 2}, "STFT": {1, 3}, "DFT": {1, 2},
    **{reduce: {1} for reduce in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                                  "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")},
}
# Ops whose output shape depends on the data itself, and ops onnxscript never folds.
_NEVER = {"NonZero", "Unique", "Compress", "Range", "NonMaxSuppression", "RandomNormal", "RandomUniform",
          "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", *DEFAULT_CONSTANT_FOLD_BLACKLIST}
_SUBGRAPH_ATTRIBUTES = (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS)


def _constant(value: ir.Value) -> Any:
    """The tensor a value always holds (an initializer, a Constant node's output), else None."""
    if value.is_graph_input():
        return None  # a weight fed at run time (keep_initializers_as_inputs): not a constant
    return ir.convenience.get_const_tensor(value)


def _stand_in(tensor: Any) -> np.ndarray:
    """`tensor`'s values, or ones of its type and shape when it has none (a fake weight): enough to
    learn the output's type and shape, which the checks above make independent of those values."""
    if isinstance(tensor, SourceTensor) and not tensor.has_data or isinstance(tensor, DerivedTensor) and any(
            not s.has_data for s in sources_of(tensor)):
        return np.ones(tensor.shape.numpy(), dtype=tensor.dtype.numpy())
    return tensor.numpy()


def _widens_a_weight(node: ir.Node, operands: list[Any]) -> bool:
    """A Cast of a weight to a wider dtype (bfloat16 -> float32 where ONNX Runtime lacks the kernel):
    folded, the model would store a wider copy of the weight instead of the dtype it has."""
    if node.op_type != "Cast" or not operands or not is_weight(operands[0]):
        return False
    to = node.attributes.get("to")
    return to is not None and ir.DataType(to.as_int()).itemsize > operands[0].dtype.itemsize


def _foldable(node: ir.Node, operands: list[Any]) -> bool:
    if node.op_type in _NEVER or len(node.outputs) != 1 or node.outputs[0].is_graph_output():
        return False
    if _widens_a_weight(node, operands):
        return False
    if any(attr.type in _SUBGRAPH_ATTRIBUTES for attr in node.attributes.values()):
        return False
    shape_inputs = _SHAPE_INPUTS.get(node.op_type, set())
    if any(is_weight(t) and i in shape_inputs for i, t in enumerate(operands)):
        return False
    return all(t is None or t.size <= DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT for t in operands)


def fold_weight_nodes(model: ir.Model) -> int:
    """Replace each foldable main-graph node that reads weights by a DerivedTensor initializer, in
    graph order (so chains fold); the nodes removed are left for RemoveUnusedNodesPass. Returns how
    many were folded."""
    graph = model.graph
    taken = {v.name for v in graph.inputs if v.name} | set(graph.initializers) | {
        o.name for n in graph for o in n.outputs if o.name}
    folded = 0
    for node in list(graph):
        if node.op_type == "Constant" or node.domain not in ("", "ai.onnx"):
            continue
        operands = [None if v is None else _constant(v) for v in node.inputs]
        if any(t is None and v is not None for t, v in zip(operands, node.inputs)):
            continue
        if not any(is_weight(t) for t in operands) or not _foldable(node, operands):
            continue
        recipe = NodeRecipe("", node.op_type, model.opset_imports.get("", 1),
                            tuple((name, attr) for name, attr in node.attributes.items()), tuple(operands))
        try:
            example = evaluate(recipe, [None if t is None else _stand_in(t) for t in operands])
        except Exception:  # the reference implementation cannot compute it: ONNX Runtime will, at load
            continue
        if example.size > DEFAULT_CONSTANT_FOLD_OUTPUT_SIZE_LIMIT:
            continue
        # named as onnxscript names what it folds: after the value it replaces, or the weight it reads
        output = node.outputs[0].name
        source = next((s.key for t in operands for s in sources_of(t)), "weight")
        name = output if output and not is_generated_name(output) else unique_name(f"{source}_folded", taken)
        dtype = ir.DataType.from_numpy(example.dtype)
        value = ir.Value(name=name, type=ir.TensorType(dtype), shape=ir.Shape(example.shape),
                         const_value=DerivedTensor(recipe, dtype, ir.Shape(example.shape), name=name))
        graph.register_initializer(value)
        node.outputs[0].replace_all_uses_with(value)
        folded += 1
    return folded
