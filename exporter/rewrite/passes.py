"""Graph passes after translation: legalization for the target runtime, constant folding
(do_constant_folding) and optimize.

`legalize` runs right after translation, in export and in the differential tests alike:
`onnx-type-legalization` (always: the model must be valid ONNX at its opset) and
`ort-kernel-gaps` when the target runtime is ONNX Runtime (the default), which rewrites the
nodes ONNX Runtime has no CPU kernel for (exporter/rewrite/ort_kernel_gaps.py).

Folding runs onnxscript's folder: nodes whose inputs are all constants (Constant nodes and
initializers that are not graph inputs) are computed once at export time, within its size
limits, and dead nodes are removed. Weights exposed as graph inputs are never folded, so
feeding or overriding them at run time still works. Nodes that read weights are hidden from
onnxscript and folded by exporter/rewrite/weight_folding.py instead, into initializers computed when
the model is written: the weights may be fake at export and applied later.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np
import onnx_ir as ir

from aten2onnx.exporter.emit.graph_builder import is_generated_name
from aten2onnx.exporter.rewrite import kernel_gap_pass, node_rewrite, ort_kernel_gaps, type_legalization, weight_folding
from aten2onnx.exporter.write import weight_sources

# What export(target_runtime=...) accepts: the runtime the model is rewritten for, or None for
# standard ONNX only (another runtime, which has kernels of its own).
TARGET_RUNTIMES = (ort_kernel_gaps.RUNTIME, None)
DEFAULT_TARGET_RUNTIME = ort_kernel_gaps.RUNTIME

# Constant's value_int(s)/value_float(s) attributes exist from opset 12; below it only `value`.
_SCALAR_ATTRIBUTE_DTYPES = {"value_int": np.int64, "value_ints": np.int64, "value_float": np.float32,
                            "value_floats": np.float32}
_CONSTANT_VALUE_INTS_SINCE = 12


def _name_folded(model: ir.Model) -> None:
    """A folded weight is named after what it came from (`fc.weight_folded`), not `val_12`."""
    from onnxscript.optimizer import FOLDED_FROM_KEY

    graph = model.graph
    for value in list(graph.initializers.values()):
        if not is_generated_name(value.name):
            continue
        sources = sorted(n for n in value.meta.get(FOLDED_FROM_KEY, ()) if not is_generated_name(n))
        if not sources:
            continue
        base, count, name = f"{sources[0]}_folded", 0, f"{sources[0]}_folded"
        while name in graph.initializers:
            count += 1
            name = f"{base}_{count}"
        value.name = name


def _legal_constants(model: ir.Model) -> None:
    """Below opset 12, Constant(value_ints=...) (which onnxscript's folder makes of a static Shape)
    becomes Constant(value=tensor): the checker and runtimes reject the newer attributes there."""
    if model.opset_imports.get("", _CONSTANT_VALUE_INTS_SINCE) >= _CONSTANT_VALUE_INTS_SINCE:
        return
    for node in ir.traversal.RecursiveGraphIterator(model.graph):
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
            continue
        for name, dtype in _SCALAR_ATTRIBUTE_DTYPES.items():
            attribute = node.attributes.pop(name, None)
            if attribute is not None:
                tensor = ir.tensor(np.array(attribute.value, dtype=dtype))
                node.attributes["value"] = ir.Attr("value", ir.AttributeType.TENSOR, tensor)


def legalize(model: ir.Model, target_runtime: str | None = DEFAULT_TARGET_RUNTIME,
             runtime_version: str | None = None) -> list[str]:
    """Make the translated `model` valid at its opset and runnable by `target_runtime`, in place.

    `runtime_version` ('1.31') narrows ONNX Runtime's gaps to those known for that version
    (None: every known gap). Returns one line per rewritten node, `pass: Op(input dtypes)`.
    """
    if target_runtime not in TARGET_RUNTIMES:
        raise ValueError(f"target_runtime={target_runtime!r}: use one of {TARGET_RUNTIMES}")
    # One walk over the nodes: a node is offered to the kernel-gap rules first, and the nodes a
    # rewrite makes are offered to every rule in turn (so a widened op is legalized too).
    type_legalization.refuse_untyped(model, model.opset_imports.get("", 1))
    gaps = kernel_gap_pass.rules(runtime_version) if target_runtime == ort_kernel_gaps.RUNTIME else []
    return node_rewrite.rewrite(model, [*gaps, *type_legalization.rules()])


@contextlib.contextmanager
def _quiet_folder() -> Iterator[None]:
    """onnxscript's folder warns on stderr about nodes it leaves alone (an empty sequence's
    SequenceEmpty, whose value is a list) and values it cannot read (the weights' stand-ins while
    weight_sources.hidden_weights lasts); leaving them is right, so nothing is printed."""
    logger = logging.getLogger("onnxscript.optimizer._constant_folding")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _not_weights(node: ir.Node) -> bool | None:
    """onnxscript's should_fold: never a node that reads a weight (weight_folding records those)."""
    return False if weight_sources.reads_weights(node) else None


def fold_constants(model: ir.Model) -> None:
    import onnxscript.optimizer

    with _quiet_folder(), weight_sources.hidden_weights(model):
        onnxscript.optimizer.fold_constants(model, should_fold=_not_weights)
    weight_folding.fold_weight_nodes(model)
    ir.passes.common.RemoveUnusedNodesPass()(model)
    _name_folded(model)
    _legal_constants(model)


def optimize(model: ir.Model) -> None:
    """onnxscript's optimizer (folding, redundant-op elimination), in place."""
    from onnxscript.optimizer import optimize_ir

    with _quiet_folder(), weight_sources.hidden_weights(model):
        optimize_ir(model, should_fold=_not_weights)
    if weight_folding.fold_weight_nodes(model):
        ir.passes.common.RemoveUnusedNodesPass()(model)
    _name_folded(model)
    _legal_constants(model)
