"""The `ort-kernel-gaps` pass: rewrite the nodes ONNX Runtime has no CPU kernel for.

Runs after translation, on the whole model (If/Loop bodies too), when the export targets
ONNX Runtime (`target_runtime="onnxruntime"`, the default); `target_runtime=None` leaves the
standard ONNX the specs emit. The differential tests run it exactly as export does
(tests/op_runner.py calls `aten2onnx.exporter.rewrite.passes.legalize`). What it rewrites is data:
exporter/rewrite/ort_kernel_gaps.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from aten2onnx.exporter.dtypes import to_torch_dtype
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.rewrite import ort_kernel_gaps as gaps
from aten2onnx.exporter.rewrite.node_rewrite import Build, Rule

NAME = "ort-kernel-gaps"


def _single_output(node: ir.Node) -> bool:
    return len(node.outputs) == 1


def _dtypes(node: ir.Node) -> list[ir.DataType | None]:
    return [v.dtype if v is not None else None for v in node.inputs]


# Inputs that select rather than carry data keep their dtype: Where's bool condition stays bool
# when its bool values are computed in uint8.
_FIRST_DATA_INPUT = {"Where": 1}


def exact_forms(version: str | None) -> Rule:
    def rule(node: ir.Node, opset: int) -> Build | None:
        if node.op_type not in _FORM_OPS or not _single_output(node):
            return None
        form = gaps.exact_form(node.op_type, node.domain, opset, _dtypes(node), version)
        if form is None:
            return None
        return lambda g: [form(g, *node.inputs, **gaps.attribute_values(node))]
    return rule


def node_forms(version: str | None) -> Rule:
    def rule(node: ir.Node, opset: int) -> Build | None:
        if node.op_type not in _NODE_FORM_OPS or not _single_output(node):
            return None
        form = gaps.node_form(node, opset, version)
        if form is None:
            return None
        return lambda g: [form(g, *node.inputs, **gaps.attribute_values(node))]
    return rule


def wider_dtypes(version: str | None) -> Rule:
    def rule(node: ir.Node, opset: int) -> Build | None:
        if node.op_type not in _GAP_OPS:
            return None
        reduction = node.attributes.get("reduction")
        first = _FIRST_DATA_INPUT.get(node.op_type, 0)
        found = gaps.compute_dtype(node.op_type, node.domain, opset, _dtypes(node)[first:],
                                   reduction.as_string() if reduction is not None else None, version)
        if found is None:
            return None
        missing, compute = found

        def build(g: GraphBuilder) -> Sequence[ir.Value]:
            inputs = [g.cast(v, to_torch_dtype(compute)) if i >= first and v is not None and v.dtype == missing else v
                      for i, v in enumerate(node.inputs)]
            results = []
            # every output (LayerNormalization's Mean and InvStdDev too): one of the missing dtype is
            # computed in the wider one and cast back, the others keep the node's own dtype
            for old, new in zip(node.outputs, g.copy_node(node, inputs)):
                if old.dtype == missing:
                    new.dtype = compute
                    new = g.cast(new, to_torch_dtype(missing))
                elif old.dtype is not None:
                    new.dtype = old.dtype
                results.append(new)
            return results
        return build
    return rule


_FORM_OPS = frozenset(form.op_type for form in gaps.FORMS)
_GAP_OPS = frozenset(gap.op_type for gap in gaps.GAPS)
_NODE_FORM_OPS = frozenset(form.op_type for form in gaps.NODE_FORMS)


def rules(version: str | None = None) -> list[tuple[str, Rule]]:
    """The pass's rules for onnxruntime `version` (None: every gap known for any version)."""
    return [(NAME, exact_forms(version)), (NAME, node_forms(version)), (NAME, wider_dtypes(version))]
