"""The passes after translation (aten2onnx.exporter.rewrite.passes.legalize): one place rewrites what a spec emits.

GraphBuilder appends exactly the ONNX a mapping asks for; `onnx-type-legalization` then makes the
model valid at its opset (always), and `ort-kernel-gaps` rewrites the nodes ONNX Runtime has no
CPU kernel for, only when the export targets ONNX Runtime (the default).
"""

from __future__ import annotations

import onnx
import onnx_ir as ir
import onnxruntime
import pytest
import torch

import aten2onnx
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.rewrite import passes
from aten2onnx.exporter.rewrite.ort_kernel_gaps import GAPS, VersionRange, compute_dtype, parse_version
from aten2onnx.exporter.rewrite.runtime_versions import NEWEST_TESTED, installed_version


def _model(op_type: str, dtype: ir.DataType, opset: int, shape: tuple[int, ...] = (5,)) -> ir.Model:
    g = GraphBuilder(opset)
    x = ir.Value(name="x", type=ir.TensorType(dtype), shape=ir.Shape(shape))
    y = g.op(op_type, x)
    y.name = "y"
    return ir.Model(ir.Graph([x], [y], nodes=g.nodes, opset_imports={"": opset}, name="one_op"), ir_version=8)


def _ops(model: ir.Model) -> list[str]:
    return [node.op_type for node in ir.traversal.RecursiveGraphIterator(model.graph)]


def _run(model: ir.Model, x: torch.Tensor) -> torch.Tensor:
    proto = ir.serde.serialize_model(model)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"x": x.numpy()})[0])


def test_graph_builder_emits_what_it_is_told() -> None:
    model = _model("Tan", ir.DataType.DOUBLE, 18)
    assert _ops(model) == ["Tan"]  # no runtime knowledge while translating


def test_ort_pass_rewrites_a_gap_and_keeps_the_output() -> None:
    model = _model("Tan", ir.DataType.DOUBLE, 18)
    applied = passes.legalize(model, "onnxruntime", installed_version())
    # up to onnxruntime 1.28 the form's Cos is rewritten in turn (no double kernel either)
    assert applied in (["ort-kernel-gaps: Tan(DOUBLE)"], ["ort-kernel-gaps: Tan(DOUBLE)", "ort-kernel-gaps: Cos(DOUBLE)"])
    assert "Tan" not in _ops(model) and {"Sin", "Div"} <= set(_ops(model))
    assert [v.name for v in model.graph.outputs] == ["y"] and model.graph.outputs[0].dtype == ir.DataType.DOUBLE
    onnx.checker.check_model(ir.serde.serialize_model(model), full_check=True)
    x = torch.linspace(-1.4, 1.4, 5, dtype=torch.float64)
    torch.testing.assert_close(_run(model, x), torch.tan(x), atol=1e-15, rtol=4e-15)


def test_no_target_runtime_keeps_standard_onnx() -> None:
    model = _model("Tan", ir.DataType.DOUBLE, 18)
    assert passes.legalize(model, None) == []
    assert _ops(model) == ["Tan"]


def test_type_legalization_runs_for_every_target() -> None:
    """ONNX Neg never takes uint8: valid ONNX needs int32 and casts, whatever the runtime."""
    for target in ("onnxruntime", None):
        model = _model("Neg", ir.DataType.UINT8, 13)
        assert passes.legalize(model, target) == ["onnx-type-legalization: Neg(UINT8)"]
        assert _ops(model) == ["Cast", "Neg", "Cast"]
        x = torch.tensor([0, 1, 127, 200, 255], dtype=torch.uint8)
        torch.testing.assert_close(_run(model, x), -x)


def test_rewritten_nodes_keep_unique_value_names() -> None:
    model = _model("Erf", ir.DataType.DOUBLE, 18)
    model.graph.outputs[0].producer().inputs[0].name = "x"
    passes.legalize(model)
    names = [v.name for node in model.graph for v in node.outputs]
    assert len(names) == len(set(names)) and "y" in names


def test_unknown_target_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="target_runtime='tensorrt'"):
        passes.legalize(_model("Tan", ir.DataType.DOUBLE, 18), "tensorrt")


def test_version_ranges() -> None:
    assert "1.31.1" in VersionRange("1.31", "1.32")
    assert "1.33.0" not in VersionRange(None, "1.32")
    assert "1.30" not in VersionRange("1.31")
    assert None in VersionRange("1.31", "1.31")  # an unknown version gets every known gap
    # a gap later releases closed names the last release that has it, older than the newest tested
    newest = parse_version(NEWEST_TESTED)
    assert all(gap.versions.last is None or parse_version(gap.versions.last) < newest for gap in GAPS)
    assert all(gap.versions.first is None for gap in GAPS)  # none is new in a later release
    assert compute_dtype("Conv", "", 18, [ir.DataType.DOUBLE], None, "1.32") == (ir.DataType.DOUBLE, ir.DataType.FLOAT)
    assert compute_dtype("GridSample", "", 20, [ir.DataType.DOUBLE], None) is None  # opset 20 has a double kernel


class _Tan(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tan(x) + 1


def test_export_option_switches_the_pass_off() -> None:
    x = torch.linspace(-1.4, 1.4, 7, dtype=torch.float64)
    default = aten2onnx.export(_Tan(), (x,), opset_version=18)
    assert "ort-kernel-gaps: Tan(DOUBLE)" in default.rewrites
    torch.testing.assert_close(default(x)[0], _Tan()(x))
    plain = aten2onnx.export(_Tan(), (x,), opset_version=18, target_runtime=None)
    assert plain.rewrites == [] and "Tan" in _ops(plain.model)
    onnx.checker.check_model(plain.model_proto, full_check=True)  # valid ONNX, for another runtime
    with pytest.raises(ExportArgumentError, match="target_runtime='tvm' is not known"):
        aten2onnx.export(_Tan(), (x,), target_runtime="tvm")


class _CondTan(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.sum() > 0, lambda t: torch.tan(t), lambda t: torch.asin(t / 2), (x,))


def test_pass_rewrites_inside_if_branches() -> None:
    for x in (torch.linspace(0.1, 1.2, 6, dtype=torch.float64), -torch.linspace(0.1, 1.2, 6, dtype=torch.float64)):
        program = aten2onnx.export(_CondTan(), (x,), opset_version=18)
        assert {"ort-kernel-gaps: Tan(DOUBLE)", "ort-kernel-gaps: Asin(DOUBLE)"} <= set(program.rewrites)
        torch.testing.assert_close(program(x)[0], _CondTan()(x), atol=1e-15, rtol=4e-15)


@pytest.mark.parametrize("opset", [9, 16])
def test_where_of_bools_selects_in_uint8_and_keeps_its_condition(opset: int) -> None:
    """ONNX Runtime has no bool Where (1.26 to 1.32): the values are selected as uint8, the
    condition stays bool."""
    g = GraphBuilder(opset)
    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.BOOL), shape=ir.Shape((5,)))
    y = g.op("Where", x, g.op("Not", x), x)
    y.name = "y"
    model = ir.Model(ir.Graph([x], [y], nodes=g.nodes, opset_imports={"": opset}, name="one_op"), ir_version=8)
    assert passes.legalize(model, "onnxruntime", installed_version()) == ["ort-kernel-gaps: Where(BOOL, BOOL, BOOL)"]
    where = next(node for node in model.graph if node.op_type == "Where")
    assert [v.dtype for v in where.inputs] == [ir.DataType.BOOL, ir.DataType.UINT8, ir.DataType.UINT8]
    assert model.graph.outputs[0].dtype == ir.DataType.BOOL
    x_value = torch.tensor([True, False, True, False, False])
    assert torch.equal(_run(model, x_value), torch.where(x_value, ~x_value, x_value))
