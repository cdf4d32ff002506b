"""End-to-end: the seed documents' models through aten2onnx.export(), run in ONNX Runtime."""

from __future__ import annotations

import onnx
import pytest
import torch
from models.seed_examples import ConvReLU, ElementwiseOps, MLPModel, ShapeOps
from onnx_ir.tensor_adapters import TorchTensor

import aten2onnx
from aten2onnx.exporter.tools.models import AlexNet

OPSETS = [9, 13, 17, 18, 26]


def _model_cases() -> list[object]:
    torch.manual_seed(0)
    cases = {
        "mlp": (MLPModel(), (torch.rand(97, 8),)),
        "conv_relu": (ConvReLU(), (torch.rand(2, 1, 16, 16),)),
        "alexnet": (AlexNet(num_classes=10, width=0.125), (torch.randn(2, 3, 224, 224),)),
        "elementwise": (ElementwiseOps(), (torch.randn(3, 4), torch.randn(4))),
        "shape_ops": (ShapeOps(), (torch.randn(4, 5), torch.randint(0, 5, (4, 2)))),
    }
    return [pytest.param(model.eval(), args, opset, id=f"{name}@{opset}")
            for name, (model, args) in cases.items() for opset in OPSETS]


@pytest.mark.parametrize(("model", "args", "opset"), _model_cases())
def test_model_matches_eager(model: torch.nn.Module, args: tuple[torch.Tensor, ...], opset: int) -> None:
    program = aten2onnx.export(model, args, opset_version=opset)
    onnx.checker.check_model(program.model_proto, full_check=True)
    assert program.model.opset_imports[""] == opset
    with torch.no_grad():
        expected = model(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    actual = program(*args)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_names_locations_and_weights(tmp_path: object) -> None:
    model, args = AlexNet(num_classes=10, width=0.125).eval(), (torch.randn(1, 3, 224, 224),)
    program = aten2onnx.export(model, args, input_names=["image"], output_names=["logits"])
    graph = program.model.graph
    assert [v.name for v in graph.inputs] == ["image"]
    assert [v.name for v in graph.outputs] == ["logits"]
    assert list(graph.outputs[0].shape) == [1, 10]
    names = [node.name for node in graph]
    assert any(name.startswith("features.0/") for name in names), names
    assert any(name.startswith("classifier.1/") for name in names), names
    # weights keep state_dict names and are wrapped torch tensors, not copies
    assert set(graph.initializers) == set(model.state_dict())
    weight = graph.initializers["features.0.weight"].const_value
    assert isinstance(weight, TorchTensor)
    assert weight.raw.data_ptr() == model.features[0].weight.data_ptr()


def test_save_and_external_data(tmp_path: object) -> None:
    model, args = MLPModel().eval(), (torch.rand(3, 8),)
    target = tmp_path / "mlp.onnx"
    program = aten2onnx.export(model, args, target)
    assert target.exists() and not (tmp_path / "mlp.onnx.data").exists()
    program.save(tmp_path / "ext.onnx", external_data=True)
    assert (tmp_path / "ext.onnx.data").stat().st_size > 0
    loaded = onnx.load(str(tmp_path / "ext.onnx"))
    onnx.checker.check_model(loaded)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        program.save(tmp_path / "missing" / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ext.onnx", "ext.onnx.data", "mlp.onnx"]


def test_optimize_keeps_results() -> None:
    model, args = ElementwiseOps().eval(), (torch.randn(3, 4), torch.randn(4))
    program = aten2onnx.export(model, args)
    before = program(*args)
    program.optimize()
    for got, want in zip(program(*args), before):
        torch.testing.assert_close(got, want)


class _Unsupported(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.nn.Sequential(torch.nn.Linear(4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        counts = torch.bincount((y.abs() * 3).long().flatten())
        return y + counts.sum() + torch.triu_indices(2, 4).sum() + torch.bincount(x.abs().long().flatten()).sum()


def test_every_unsupported_op_reported_at_once() -> None:
    with pytest.raises(aten2onnx.UnsupportedOpsError) as info:
        aten2onnx.export(_Unsupported(), (torch.randn(2, 4),), opset_version=18)
    message = str(info.value)
    assert "aten::bincount.default" in message and "aten::triu_indices.default" in message
    assert "opset 18" in message and "opspecs/" in message and "make codegen" in message
    assert "test_export.py:" in message  # the user's source line
    assert {u.overload for u in info.value.uses} == {"aten::bincount.default", "aten::triu_indices.default"}


class _ScaledElu(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.act = torch.nn.Sequential(torch.nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten.elu(self.act(x), 1.0, 2.0)


def test_constraint_violation_names_op_spec_and_location() -> None:
    with pytest.raises(aten2onnx.ConstraintError) as info:
        aten2onnx.export(_ScaledElu(), (torch.randn(3),))
    message = str(info.value)
    assert "aten::elu.default" in message and "scale" in message
    assert "opspecs/activation.yaml:" in message and "test_export.py:" in message


class _DataDependent(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x


def test_capture_failure_is_explained() -> None:
    with pytest.raises(aten2onnx.CaptureError, match="torch.export could not capture _DataDependent") as info:
        aten2onnx.export(_DataDependent(), (torch.randn(3),))
    assert "torch.cond" in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("opset", [8, 27, "18", True])
def test_opset_out_of_range(opset: object) -> None:
    with pytest.raises(aten2onnx.ExportArgumentError, match="from 9 to 26"):
        aten2onnx.export(MLPModel(), (torch.rand(1, 8),), opset_version=opset)


def test_wrong_model_and_args() -> None:
    with pytest.raises(aten2onnx.ExportArgumentError, match="torch.nn.Module"):
        aten2onnx.export(lambda x: x, (torch.rand(1),))
    with pytest.raises(aten2onnx.ExportArgumentError, match="tuple of example inputs"):
        aten2onnx.export(MLPModel(), {"x": 1})


def test_supported_ops_is_the_registry() -> None:
    at_20 = aten2onnx.supported_ops(20)
    assert "aten::relu.default" in at_20 and "aten::add.Tensor" in at_20
    assert at_20 == sorted(at_20)
    assert len(aten2onnx.supported_ops(26)) >= 60
    with pytest.raises(aten2onnx.ExportArgumentError):
        aten2onnx.supported_ops(30)


class _AddRelu(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) + y


@pytest.mark.parametrize("by_name", [False, True])
def test_dynamic_dims_keep_user_names_and_run_at_other_sizes(by_name: bool) -> None:
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    shapes = {0: batch, 1: seq}
    dynamic = {"x": shapes, "y": shapes} if by_name else (shapes, shapes)
    args = (torch.randn(2, 3), torch.randn(2, 3))
    program = aten2onnx.export(_AddRelu(), args, dynamic_shapes=dynamic)
    graph = program.model.graph
    assert [str(d) for d in graph.inputs[0].shape] == ["batch", "seq"]
    assert [str(d) for d in graph.outputs[0].shape] == ["batch", "seq"]
    for size in [(1, 1), (5, 7)]:
        x, y = torch.randn(*size), torch.randn(*size)
        (got,) = program(x, y)
        torch.testing.assert_close(got, torch.relu(x) + y)


# -- performance paths: direct translation of the captured graph, streamed save ----------------------
def _forbid_run_decompositions(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("run_decompositions was called; the captured graph should translate directly")

    monkeypatch.setattr(torch.export.ExportedProgram, "run_decompositions", refuse)


def _count_run_decompositions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = torch.export.ExportedProgram.run_decompositions

    def counted(self: torch.export.ExportedProgram, *args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.export.ExportedProgram, "run_decompositions", counted)
    return calls


class _ConvBnReluInPlace(torch.nn.Module):
    """ResNet's block shape: ReLU(inplace=True) writes into the batch norm's fresh output."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.relu = torch.nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x))).mul_(2).add_(1)


class _Squared(torch.nn.Module):
    """torch.square: aten.square has no mapping, its decomposition (pow) has."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, torch.square(x), -x)


def _assert_matches(program: aten2onnx.ONNXProgram, model: torch.nn.Module, *args: torch.Tensor) -> None:
    onnx.checker.check_model(program.model_proto, full_check=True)
    with torch.no_grad():
        want = model(*[a.clone() for a in args])
    (got,) = program(*args)
    assert got.dtype == want.dtype and got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_fresh_in_place_ops_translate_without_run_decompositions(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_run_decompositions(monkeypatch)
    model, x = _ConvBnReluInPlace().eval(), torch.randn(2, 3, 8, 8)
    program = aten2onnx.export(model, (x,))
    assert {n.op_type for n in program.model.graph} >= {"Conv", "Relu", "Mul", "Add"}
    _assert_matches(program, model, x)


def test_op_without_mapping_is_decomposed_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_run_decompositions(monkeypatch)
    program = aten2onnx.export(_Squared(), (torch.randn(3, 4),))
    assert "Pow" in {n.op_type for n in program.model.graph}
    _assert_matches(program, _Squared(), torch.randn(3, 4) * 2)


def test_op_without_mapping_is_decomposed_alone_with_dynamic_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_run_decompositions(monkeypatch)
    rows = torch.export.Dim("rows")
    program = aten2onnx.export(_Squared(), (torch.randn(3, 4),), dynamic_shapes=({0: rows},))
    assert str(program.model.graph.inputs[0].shape[0]) == "rows"
    _assert_matches(program, _Squared(), torch.randn(7, 4) * 2)


class _WritesView(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 1
        y[:, 0].relu_()  # a write through a view: the base must see it
        return y


class _WritesInput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.mul_(2)
        return x + 1


class _ReadAfterWrite(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 1
        view = y.t()
        y.relu_()  # the earlier view must see the write
        return view + 0


class _PromotingInPlace(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = x * 1
        return h.add_(y)  # in place keeps float16; a functional add would give float32


@pytest.mark.parametrize("model_type", [_WritesView, _WritesInput, _ReadAfterWrite, _PromotingInPlace])
def test_unsafe_in_place_ops_go_through_run_decompositions(model_type: type[torch.nn.Module],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_run_decompositions(monkeypatch)
    args = ((torch.randn(3, 4).half(), torch.randn(3, 4)) if model_type is _PromotingInPlace
            else (torch.randn(3, 4),))
    program = aten2onnx.export(model_type(), args)
    assert calls == [1]
    _assert_matches(program, model_type(), *args)


def test_users_exported_program_is_not_edited(monkeypatch: pytest.MonkeyPatch) -> None:
    model, x = _ConvBnReluInPlace().eval(), torch.randn(2, 3, 8, 8)
    captured = torch.export.export(model, (x,), strict=False)
    before = [str(n.target) for n in captured.graph.nodes]
    program = aten2onnx.export(captured, (x,))
    assert [str(n.target) for n in captured.graph.nodes] == before
    _assert_matches(program, model, x)


class _MixedWeights(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("scale", torch.randn(3).to(torch.bfloat16))
        self.register_buffer("empty", torch.zeros(0, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folded = self.linear.weight.t().contiguous() * 2  # folded at export: computed from the weight on save
        return torch.where(self.mask, x @ folded, self.scale.float()) + self.empty.sum()


def test_streamed_save_is_the_serialized_model(tmp_path: object) -> None:
    import io

    import onnx_ir as ir

    model, x = _MixedWeights().eval(), torch.randn(2, 4)
    program = aten2onnx.export(model, (x,), tmp_path / "m.onnx")
    expected = ir.serde.serialize_model(program.model)
    assert onnx.load(str(tmp_path / "m.onnx")) == expected
    buffer = io.BytesIO()
    program.save(buffer)
    assert onnx.ModelProto.FromString(buffer.getvalue()) == expected
    kinds = {type(v.const_value).__name__ for v in program.model.graph.initializers.values()}
    assert {"SourceTensor", "DerivedTensor"} <= kinds, kinds  # a model tensor and one computed from it, streamed
    _assert_matches(program, model, x)


class _MaskAssign(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        y[y > 0] = 0.0  # index_put with a bool mask: its Shape of a static value is folded
        return y


@pytest.mark.parametrize("opset", [9, 11])
@pytest.mark.parametrize("optimize", [False, True])
def test_folded_shape_is_a_valid_constant_below_opset_12(opset: int, optimize: bool) -> None:
    x = torch.randn(3, 4)
    program = aten2onnx.export(_MaskAssign(), (x,), opset_version=opset, optimize=optimize)
    for node in program.model.graph:
        if node.op_type == "Constant":
            assert set(node.attributes) == {"value"}, node  # value_ints exists from opset 12
    _assert_matches(program, _MaskAssign(), x)


def test_single_file_over_the_protobuf_limit_is_refused(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import aten2onnx.exporter.write.serialize

    program = aten2onnx.export(MLPModel().eval(), (torch.rand(3, 8),))
    limit = aten2onnx.exporter.write.serialize.weights_bytes(program.model)  # stands for 2 GiB: the MLP's weights reach it
    monkeypatch.setattr(aten2onnx.exporter.write.serialize, "PROTOBUF_LIMIT", limit)
    with pytest.raises(ValueError, match="external_data=True"):
        program.save(tmp_path / "one.onnx", external_data=False)
    assert not (tmp_path / "one.onnx").exists()
    program.save(tmp_path / "auto.onnx")  # left to choose, it puts the weights beside the model
    assert (tmp_path / "auto.onnx.data").exists()
    onnx.checker.check_model(onnx.load(str(tmp_path / "auto.onnx")))


class _NoGradRegion(torch.nn.Module):
    """A rotary-embedding-like table computed under torch.no_grad(): a wrap_with_set_grad_enabled region."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("inv_freq", torch.rand(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            angles = torch.arange(x.shape[0], dtype=torch.float32)[:, None] * self.inv_freq
            cos, sin = angles.cos(), angles.sin()
        return x * cos + x.flip(-1) * sin


def test_no_grad_region_is_inlined_without_run_decompositions(monkeypatch: pytest.MonkeyPatch) -> None:
    captured = torch.export.export(_NoGradRegion(), (torch.randn(3, 4),), strict=False)
    assert any("wrap_with_set_grad_enabled" in str(n.target) for n in captured.graph.nodes)
    _forbid_run_decompositions(monkeypatch)
    model, x = _NoGradRegion(), torch.randn(3, 4)
    program = aten2onnx.export(model, (x,))
    _assert_matches(program, model, x)


class _StridedOverView(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.t().as_strided((2, 3), (1, 2), 1)


class _StridedOverFresh(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 2).as_strided((2, 3), (1, 2), 1)


def test_as_strided_reads_a_dense_input_and_refuses_a_view() -> None:
    """as_strided addresses storage: over a fresh tensor the ONNX graph's dense value is that storage;
    over a transposed view it is not, and the export says so instead of returning other numbers."""
    x = torch.arange(12.0).reshape(3, 4)
    program = aten2onnx.export(_StridedOverFresh(), (x,))
    torch.testing.assert_close(program(x)[0], _StridedOverFresh()(x))
    with pytest.raises(aten2onnx.ConstraintError, match=r"itself a strided view in torch .*\(stride \[1, 4\], storage "
                                                       r"offset 0\) \(constraint in opspecs/shape.yaml:\d+\)"):
        aten2onnx.export(_StridedOverView(), (x,))
