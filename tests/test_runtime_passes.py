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


def _graph_model(g: GraphBuilder, inputs: list[ir.Value], outputs: list[ir.Value], opset: int) -> ir.Model:
    for index, value in enumerate(outputs):
        value.name = f"y{index}"
    return ir.Model(ir.Graph(inputs, outputs, nodes=g.nodes, opset_imports={"": opset}, name="graph"),
                    ir_version=10 if opset >= 23 else 8)


def _run_all(model: ir.Model, feeds: dict[str, object]) -> list[torch.Tensor]:
    proto = ir.serde.serialize_model(model)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return [torch.from_numpy(out) for out in session.run(None, feeds)]


def test_layer_norm_with_statistics_is_widened_with_every_output() -> None:
    """bfloat16 LayerNormalization (no kernel up to 1.29) with its Mean and InvStdDev outputs: Y is
    computed in float32 and cast back, the float32 statistics stay as they are."""
    g = GraphBuilder(17)
    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.BFLOAT16), shape=ir.Shape((2, 3)))
    scale = g.constant(torch.ones(3, dtype=torch.bfloat16))
    y, mean, invstd = g.op("LayerNormalization", x, scale, axis=1, epsilon=1e-5, _outputs=3)
    mean.dtype = invstd.dtype = ir.DataType.FLOAT  # stash_type's float32, as native_layer_norm's spec reads them
    model = _graph_model(g, [x], [g.cast(y, torch.float32), mean, invstd], 17)
    assert passes.legalize(model, "onnxruntime", "1.32") == []
    assert passes.legalize(model, "onnxruntime", "1.29") == ["ort-kernel-gaps: LayerNormalization(BFLOAT16, BFLOAT16)"]
    norm = next(node for node in model.graph if node.op_type == "LayerNormalization")
    assert [v.dtype for v in norm.outputs] == [ir.DataType.FLOAT] * 3
    assert [v.dtype for v in model.graph.outputs] == [ir.DataType.FLOAT] * 3
    data = torch.tensor([[1.0, 2.0, 4.0], [-3.0, 0.5, 0.25]])
    feed = onnxruntime.OrtValue.ortvalue_from_numpy_with_onnx_type(data.to(torch.bfloat16).view(torch.int16).numpy()
                                                                    .view("uint16"), onnx.TensorProto.BFLOAT16)
    got_y, got_mean, got_invstd = _run_all(model, {"x": feed})
    want_y, want_mean, want_invstd = torch.native_layer_norm(data.to(torch.bfloat16), [3], None, None, 1e-5)
    torch.testing.assert_close(got_y, want_y.float(), atol=2e-2, rtol=1e-2)
    torch.testing.assert_close(got_mean.reshape(2), want_mean.float().reshape(2), atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(got_invstd.reshape(2), want_invstd.float().reshape(2), atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("opset", [23, 26])
def test_causal_attention_gets_a_top_left_mask_where_releases_align_it_otherwise(opset: int) -> None:
    """onnxruntime 1.26 and 1.27 let a single causal query see every key; the explicit mask
    keeps it to the first, as torch does."""
    g = GraphBuilder(opset)
    q, k, v = (ir.Value(name=n, type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape(s))
               for n, s in (("q", (1, 2, 1, 4)), ("k", (1, 2, 3, 4)), ("v", (1, 2, 3, 4))))
    model = _graph_model(g, [q, k, v], [g.op("Attention", q, k, v, is_causal=1)], opset)
    assert passes.legalize(model, "onnxruntime", "1.28") == []
    assert passes.legalize(model, "onnxruntime", "1.27") == ["ort-kernel-gaps: Attention(FLOAT, FLOAT, FLOAT)"]
    (attention,) = [node for node in model.graph if node.op_type == "Attention"]
    assert attention.attributes["is_causal"].as_int() == 0 and attention.inputs[3] is not None
    query, key, value = torch.randn(1, 2, 1, 4), torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
    (got,) = _run_all(model, {"q": query.numpy(), "k": key.numpy(), "v": value.numpy()})
    want = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got, value[:, :, :1], atol=1e-6, rtol=0)  # the first key's value alone


@pytest.mark.parametrize(("a", "b", "rewritten"), [
    ((1, 2), (0, 2, 3), True), ((3,), (0, 3, 2), True), ((0, 2, 3), (3,), True), ((1, 0, 2, 3), (2, 1, 3, 2), True),
    ((2, 1, 2, 3), (1, 0, 3, 2), True), ((0, 2, 3), (3, 2), False), ((4, 2, 3), (4, 3, 2), False),
    ((2, 3), (3, 4), False), ((2, 1, 2, 3), (1, 5, 3, 2), False),
])
def test_matmul_expands_batches_that_may_broadcast_against_an_empty_one(a: tuple[int, ...], b: tuple[int, ...],
                                                                        rewritten: bool) -> None:
    """Up to onnxruntime 1.31 MatMul refuses (1, k) @ (0, k, n) and the like; with both batches
    expanded first it gives torch's (empty) product. Batches that cannot meet a 0 are left alone."""
    for opset in (9, 18):
        g = GraphBuilder(opset)
        x, w = (ir.Value(name=n, type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape(s)) for n, s in (("a", a), ("b", b)))
        model = _graph_model(g, [x, w], [g.op("MatMul", x, w)], opset)
        applied = passes.legalize(model, "onnxruntime", "1.31")
        assert applied == (["ort-kernel-gaps: MatMul(FLOAT, FLOAT)"] if rewritten else [])
        assert passes.legalize(model, "onnxruntime", "1.32") == []
        left, right = torch.randn(a), torch.randn(b)
        (got,) = _run_all(model, {"a": left.numpy(), "b": right.numpy()})
        torch.testing.assert_close(got, left @ right)


_BF16 = torch.tensor([-2.5, -1.0, -0.0, 0.0, 0.375, 1.0, 3.0, 7.5]).to(torch.bfloat16)
_BF16_POSITIVE = torch.tensor([0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 9.0, 100.0]).to(torch.bfloat16)
# (comparisons compare half floats in float32 already: GraphBuilder.promote's ALWAYS_BOOL)
_BF16_CASES = [
    ("aten::add.Tensor", {"self": _BF16, "other": _BF16.flip(0)}),
    ("aten::sub.Tensor", {"self": _BF16, "other": _BF16.flip(0), "alpha": 2}),
    ("aten::mul.Tensor", {"self": _BF16, "other": _BF16.flip(0)}),
    ("aten::div.Tensor", {"self": _BF16, "other": _BF16_POSITIVE + 1}),
    ("aten::pow.Tensor_Tensor", {"self": _BF16_POSITIVE, "exponent": _BF16.abs()}),
    ("aten::pow.Tensor_Scalar", {"self": _BF16, "exponent": 2}),
    ("aten::relu.default", {"self": _BF16}),
    ("aten::neg.default", {"self": _BF16}),
    ("aten::abs.default", {"self": _BF16}),
    ("aten::exp.default", {"self": _BF16}),
    ("aten::sqrt.default", {"self": _BF16_POSITIVE}),
    ("aten::sum.default", {"self": _BF16}),
    ("aten::argmax.default", {"self": _BF16}),
    ("aten::mm.default", {"self": _BF16.reshape(2, 4), "mat2": _BF16.reshape(4, 2)}),
]


@pytest.mark.parametrize("opset", [13, 14, 20, 26])
@pytest.mark.parametrize(("overload", "arguments"), _BF16_CASES, ids=[case[0] for case in _BF16_CASES])
def test_bfloat16_ops_load_and_match_torch(overload: str, arguments: dict[str, object], opset: int) -> None:
    """ONNX Runtime's CPU provider (1.26 to 1.32) has bfloat16 kernels for data movement only: the
    kernel-gap pass computes every other op in float32 and rounds once, as torch's CPU kernels do."""
    from op_runner import assert_same, build_one_op_model, flatten_outputs, run_eager, run_onnx

    from aten2onnx.codegen.shared.torch_schema import schema_of

    schema = schema_of(overload)
    assert schema is not None
    full = {a.name: arguments.get(a.name, a.default) for a in schema.arguments}
    expected = flatten_outputs(run_eager(overload, schema, dict(full)))
    standard = build_one_op_model(overload, schema, full, opset, expected, target_runtime=None).model
    assert any(line.startswith("ort-kernel-gaps") for line in passes.legalize(standard, "onnxruntime", installed_version()))
    model = build_one_op_model(overload, schema, full, opset, expected)
    assert_same(run_onnx(model), expected, 0.0, 0.0)
