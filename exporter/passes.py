"""Graph passes after translation: constant folding (do_constant_folding) and optimize.

Folding runs onnxscript's folder: nodes whose inputs are all constants (Constant nodes and
initializers that are not graph inputs) are computed once at export time, within its size
limits, and dead nodes are removed. Weights exposed as graph inputs are never folded, so
feeding or overriding them at run time still works.
"""

from __future__ import annotations

import onnx_ir as ir


def _name_folded(model: ir.Model) -> None:
    """A folded weight is named after what it came from (`fc.weight_folded`), not `val_12`."""
    from onnxscript.optimizer import FOLDED_FROM_KEY

    graph = model.graph
    for value in list(graph.initializers.values()):
        if not (value.name or "").startswith("val_"):
            continue
        sources = sorted(n for n in value.meta.get(FOLDED_FROM_KEY, ()) if not n.startswith("val_"))
        if not sources:
            continue
        base, count, name = f"{sources[0]}_folded", 0, f"{sources[0]}_folded"
        while name in graph.initializers:
            count += 1
            name = f"{base}_{count}"
        value.name = name


def fold_constants(model: ir.Model) -> None:
    import onnxscript.optimizer

    onnxscript.optimizer.fold_constants(model)
    ir.passes.common.RemoveUnusedNodesPass()(model)
    _name_folded(model)


def optimize(model: ir.Model) -> None:
    """onnxscript's optimizer (folding, redundant-op elimination), in place."""
    import onnxscript.optimizer

    onnxscript.optimizer.optimize(model)
    _name_folded(model)
