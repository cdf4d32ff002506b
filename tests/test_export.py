"""End-to-end: the seed documents' models through exporter.export(), run in ONNX Runtime."""

from __future__ import annotations

import onnx
import pytest
import torch
from models.seed_examples import ConvReLU, ElementwiseOps, MLPModel, ShapeOps
from onnx_ir.tensor_adapters import TorchTensor

import exporter
from exporter.models import AlexNet

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
    program = exporter.export(model, args, opset_version=opset)
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
    program = exporter.export(model, args, input_names=["image"], output_names=["logits"])
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
    program = exporter.export(model, args, target)
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
    program = exporter.export(model, args)
    before = program(*args)
    program.optimize()
    for got, want in zip(program(*args), before):
        torch.testing.assert_close(got, want)


class _Unsupported(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.nn.Sequential(torch.nn.Linear(4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.special.erfinv(self.inner(x).tanh())
        return torch.special.digamma(y.abs() + 1) + torch.special.erfinv(x.tanh())


def test_every_unsupported_op_reported_at_once() -> None:
    with pytest.raises(exporter.UnsupportedOpsError) as info:
        exporter.export(_Unsupported(), (torch.randn(2, 4),), opset_version=18)
    message = str(info.value)
    assert "aten::erfinv.default" in message and "aten::digamma.default" in message
    assert "opset 18" in message and "opspecs/" in message and "make codegen" in message
    assert "test_export.py:" in message  # the user's source line
    assert {u.overload for u in info.value.uses} == {"aten::erfinv.default", "aten::digamma.default"}


class _ScaledElu(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.act = torch.nn.Sequential(torch.nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten.elu(self.act(x), 1.0, 2.0)


def test_constraint_violation_names_op_spec_and_location() -> None:
    with pytest.raises(exporter.ConstraintError) as info:
        exporter.export(_ScaledElu(), (torch.randn(3),))
    message = str(info.value)
    assert "aten::elu.default" in message and "scale" in message
    assert "opspecs/activation.yaml:" in message and "test_export.py:" in message


class _DataDependent(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x


def test_capture_failure_is_explained() -> None:
    with pytest.raises(exporter.CaptureError, match="torch.export could not capture _DataDependent") as info:
        exporter.export(_DataDependent(), (torch.randn(3),))
    assert "torch.cond" in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("opset", [8, 27, "18", True])
def test_opset_out_of_range(opset: object) -> None:
    with pytest.raises(exporter.ExportArgumentError, match="from 9 to 26"):
        exporter.export(MLPModel(), (torch.rand(1, 8),), opset_version=opset)


def test_wrong_model_and_args() -> None:
    with pytest.raises(exporter.ExportArgumentError, match="torch.nn.Module"):
        exporter.export(lambda x: x, (torch.rand(1),))
    with pytest.raises(exporter.ExportArgumentError, match="tuple of example inputs"):
        exporter.export(MLPModel(), {"x": 1})


def test_supported_ops_is_the_registry() -> None:
    at_20 = exporter.supported_ops(20)
    assert "aten::relu.default" in at_20 and "aten::add.Tensor" in at_20
    assert at_20 == sorted(at_20)
    assert len(exporter.supported_ops(26)) >= 60
    with pytest.raises(exporter.ExportArgumentError):
        exporter.supported_ops(30)


class _AddRelu(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) + y


@pytest.mark.parametrize("by_name", [False, True])
def test_dynamic_dims_keep_user_names_and_run_at_other_sizes(by_name: bool) -> None:
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    shapes = {0: batch, 1: seq}
    dynamic = {"x": shapes, "y": shapes} if by_name else (shapes, shapes)
    args = (torch.randn(2, 3), torch.randn(2, 3))
    program = exporter.export(_AddRelu(), args, dynamic_shapes=dynamic)
    graph = program.model.graph
    assert [str(d) for d in graph.inputs[0].shape] == ["batch", "seq"]
    assert [str(d) for d in graph.outputs[0].shape] == ["batch", "seq"]
    for size in [(1, 1), (5, 7)]:
        x, y = torch.randn(*size), torch.randn(*size)
        (got,) = program(x, y)
        torch.testing.assert_close(got, torch.relu(x) + y)
