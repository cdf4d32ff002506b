"""Custom operators: classic symbolic functions, g.op's conventions, and user specs loaded at run time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import onnx
import onnx_ir as ir
import pytest
import torch
from torch import nn

import aten2onnx
from aten2onnx.exporter.emit.graph_builder import GraphBuilder


@torch.library.custom_op("a2o_custom::scaled_sin", mutates_args=())
def _scaled_sin(x: torch.Tensor, scale: float = 2.0, mode: str = "fast", axes: list[int] | None = None) -> torch.Tensor:
    return torch.sin(x) * scale


@_scaled_sin.register_fake
def _(x: torch.Tensor, scale: float = 2.0, mode: str = "fast", axes: list[int] | None = None) -> torch.Tensor:
    return torch.empty_like(x)


class SinModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.a2o_custom.scaled_sin(self.fc(x), 3.0, axes=[0, 1]) + 1


@pytest.fixture
def clean_registry() -> Iterator[None]:
    yield
    for opset in (9, 13, 15):
        aten2onnx.unregister_custom_op_symbolic("a2o_custom::scaled_sin", opset)
        aten2onnx.unregister_custom_op_symbolic("aten::relu", opset)
    aten2onnx.unload_opspecs()


def _eager(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


# -- classic symbolic functions ---------------------------------------------------------------------------
def test_symbolic_to_standard_onnx_ops_matches_eager(clean_registry: None) -> None:
    calls = []

    def symbolic(g: object, x: object, scale: float, mode: str, axes: list[int]) -> object:
        calls.append((scale, mode, axes))
        return g.op("Mul", g.op("Sin", x), g.op("Constant", value_t=torch.tensor(scale)))

    aten2onnx.register_custom_op_symbolic("a2o_custom::scaled_sin", symbolic, 9)
    model, x = SinModel().eval(), torch.randn(3, 4)
    program = aten2onnx.export(model, (x,), opset_version=9)
    assert calls == [(3.0, "fast", [0, 1])]  # positional, the schema default filled in
    assert [n.op_type for n in program.model.graph][:4] == ["Gemm", "Sin", "Constant", "Mul"]
    torch.testing.assert_close(program(x)[0], _eager(model, x), atol=1e-5, rtol=1e-4)


def test_symbolic_to_a_custom_domain_with_typed_attributes(clean_registry: None) -> None:
    def symbolic(g: object, x: object, scale: float, mode: str, axes: list[int]) -> object:
        return g.op("com.example::ScaledSin", x, scale_f=scale, mode_s=mode, axes_i=axes, bias_t=torch.ones(2),
                    count_i=2, plain=1.5)

    aten2onnx.register_custom_op_symbolic("a2o_custom::scaled_sin", symbolic, 9)
    program = aten2onnx.export(SinModel().eval(), (torch.randn(3, 4),), custom_opsets={"com.example": 2})
    (node,) = [n for n in program.model.graph if n.op_type == "ScaledSin"]
    assert node.domain == "com.example"
    attributes = {name: (attr.type, attr.value) for name, attr in node.attributes.items()}
    assert attributes["scale"] == (ir.AttributeType.FLOAT, 3.0)
    assert attributes["mode"] == (ir.AttributeType.STRING, "fast")
    assert attributes["axes"] == (ir.AttributeType.INTS, (0, 1))
    assert attributes["count"] == (ir.AttributeType.INT, 2)
    assert attributes["plain"] == (ir.AttributeType.FLOAT, 1.5)
    assert attributes["bias"][0] == ir.AttributeType.TENSOR and attributes["bias"][1].numpy().tolist() == [1, 1]
    # the node's output has torch's type and shape
    assert node.outputs[0].dtype == ir.DataType.FLOAT and list(node.outputs[0].shape) == [3, 4]
    assert program.model.opset_imports == {"": aten2onnx.DEFAULT_OPSET, "com.example": 2}
    onnx.checker.check_model(program.model_proto)


def test_custom_domain_defaults_to_version_one(clean_registry: None) -> None:
    aten2onnx.register_custom_op_symbolic(
        "a2o_custom::scaled_sin", lambda g, x, *rest: g.op("my.ops::Foo", x), 9)
    program = aten2onnx.export(SinModel().eval(), (torch.randn(3, 4),))
    assert program.model.opset_imports["my.ops"] == 1


def test_registration_applies_from_its_opset_and_unregisters(clean_registry: None) -> None:
    aten2onnx.register_custom_op_symbolic("a2o_custom::scaled_sin", lambda g, x, *rest: g.op("Sin", x), 15)
    x = torch.randn(3, 4)
    with pytest.raises(aten2onnx.UnsupportedOpsError, match="(?s)opset 13.*a2o_custom::scaled_sin.default.*"
                                                           "mapped from opset 15"):
        aten2onnx.export(SinModel().eval(), (x,), opset_version=13)
    assert "Sin" in [n.op_type for n in aten2onnx.export(SinModel().eval(), (x,), opset_version=15).model.graph]
    aten2onnx.unregister_custom_op_symbolic("a2o_custom::scaled_sin", 15)
    with pytest.raises(aten2onnx.UnsupportedOpsError, match="register_custom_op_symbolic"):
        aten2onnx.export(SinModel().eval(), (x,), opset_version=15)


def test_symbolic_overrides_an_aten_spec(clean_registry: None) -> None:
    model, x = nn.Sequential(nn.Linear(4, 4), nn.ReLU()).eval(), torch.randn(3, 4)
    assert "Relu" in [n.op_type for n in aten2onnx.export(model, (x,)).model.graph]
    aten2onnx.register_custom_op_symbolic("aten::relu", lambda g, x: g.op("Max", x, g.op("Sub", x, x)), 9)
    program = aten2onnx.export(model, (x,))
    assert [n.op_type for n in program.model.graph] == ["Gemm", "Sub", "Max"]
    torch.testing.assert_close(program(x)[0], _eager(model, x))


def test_symbolic_failure_names_op_place_and_registration(clean_registry: None) -> None:
    def broken(g: object, x: object, *rest: object) -> object:
        raise KeyError("oops")

    aten2onnx.register_custom_op_symbolic("a2o_custom::scaled_sin", broken, 9)
    with pytest.raises(aten2onnx.TranslationError) as info:
        aten2onnx.export(SinModel().eval(), (torch.randn(3, 4),))
    message = str(info.value)
    assert "a2o_custom::scaled_sin.default" in message and "test_custom_ops.py:" in message
    assert "KeyError" in message and "register_custom_op_symbolic('a2o_custom::scaled_sin'" in message


@pytest.mark.parametrize(("args", "message"), [
    (("scaled_sin", lambda g: g, 9), "must look like 'namespace::op'"),
    (("a2o_custom::scaled_sin", "not callable", 9), "must be callable"),
    (("a2o_custom::scaled_sin", lambda g: g, 40), "between 1 and 26"),
])
def test_registration_errors(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(aten2onnx.ExportArgumentError, match=message):
        aten2onnx.register_custom_op_symbolic(*args)


# -- g.op conventions ---------------------------------------------------------------------------------------
def _builder() -> tuple[GraphBuilder, ir.Value]:
    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([2, 3]))
    return GraphBuilder(18), x


def test_g_op_suffixes_domains_and_outputs() -> None:
    g, x = _builder()
    leaky = g.op("LeakyRelu", x, alpha_f=0.2)
    assert leaky.producer().attributes["alpha"].value == pytest.approx(0.2)
    plain = g.op("LeakyRelu", x, alpha=0.3)  # generated code passes plain schema names
    assert plain.producer().attributes["alpha"].value == pytest.approx(0.3)
    cast = g.op("Cast", x, to_i=7)  # a suffix on a standard op is read as the attribute's type
    assert cast.producer().attributes["to"].value == 7 and cast.dtype == ir.DataType.INT64
    const = g.op("onnx::Constant", value_t=torch.tensor([1.0, 2.0]))
    node = const.producer()
    assert node.domain == "" and node.attributes["value"].type == ir.AttributeType.TENSOR
    assert const.dtype == ir.DataType.FLOAT
    first, second = g.op("TopK", x, g.constant([1], torch.int64), outputs=2, axis_i=1)
    assert second.dtype == ir.DataType.INT64 and first.producer().attributes["axis"].value == 1
    custom = g.op("org.example::Thing", x, ratios_f=[0.5, 1.5], names_s=["a", "b"], n_i=3, sizes_is=[4])
    attributes = custom.producer().attributes
    assert custom.producer().domain == "org.example" and g.domains == {"org.example"}
    assert attributes["ratios"].type == ir.AttributeType.FLOATS and list(attributes["ratios"].value) == [0.5, 1.5]
    assert attributes["names"].type == ir.AttributeType.STRINGS
    assert attributes["n"].type == ir.AttributeType.INT and list(attributes["sizes"].value) == [4]


def test_g_op_keeps_a_standard_attribute_whose_name_looks_suffixed(monkeypatch: pytest.MonkeyPatch) -> None:
    # No ONNX attribute ends in _f/_i/... today; if one did, generated code's plain name must win.
    from aten2onnx.exporter.emit import graph_builder

    real = graph_builder.schema_at

    class FakeAttr:
        type = graph_builder.AttrType.INT

    class FakeSchema:
        attributes = {"ratio_i": FakeAttr()}

    monkeypatch.setattr(graph_builder, "schema_at", lambda op, opset, domain="": FakeSchema() if op == "Fake"
                        else real(op, opset, domain))
    g, x = _builder()
    node = g.op("Fake", x, ratio_i=2).producer()
    assert list(node.attributes) == ["ratio_i"]
    other = g.op("vendor::Fake", x, ratio_i=2).producer()  # custom domain: the suffix is always a type
    assert list(other.attributes) == ["ratio"]


# -- user specs loaded at run time ----------------------------------------------------------------------------
def test_load_opspecs_emit_maps_to_onnx_ops(tmp_path: Path, clean_registry: None) -> None:
    spec = tmp_path / "my_ops.yaml"
    spec.write_text("# my library's ops\n- aten: a2o_custom::scaled_sin\n  emit: Mul(Sin(x), like(scale, x))\n")
    assert aten2onnx.load_opspecs(spec) == ["a2o_custom::scaled_sin.default"]
    model, x = SinModel().eval(), torch.randn(3, 4)
    for opset in (9, 18):
        program = aten2onnx.export(model, (x,), opset_version=opset)
        assert "Sin" in [n.op_type for n in program.model.graph]
        torch.testing.assert_close(program(x)[0], _eager(model, x), atol=1e-5, rtol=1e-4)
    assert "a2o_custom::scaled_sin.default" in aten2onnx.supported_ops(9)
    aten2onnx.unload_opspecs(spec)
    assert "a2o_custom::scaled_sin.default" not in aten2onnx.supported_ops(9)


@pytest.mark.parametrize("text", [
    "- aten: a2o_custom::scaled_sin\n  onnx: com.example::ScaledSin\n",
    "- aten: a2o_custom::scaled_sin\n  emit: ScaledSin(x, _domain='com.example', scale=scale, mode=mode, axes=axes)\n",
])
def test_load_opspecs_maps_to_a_custom_domain(text: str, tmp_path: Path, clean_registry: None) -> None:
    (tmp_path / "ops.yaml").write_text(text)
    aten2onnx.load_opspecs(tmp_path)  # a folder of spec files
    program = aten2onnx.export(SinModel().eval(), (torch.randn(3, 4),), custom_opsets={"com.example": 4})
    (node,) = [n for n in program.model.graph if n.op_type == "ScaledSin"]
    assert node.domain == "com.example"
    assert {k: a.value for k, a in node.attributes.items()} == {"scale": 3.0, "mode": "fast", "axes": (0, 1)}
    assert program.model.opset_imports["com.example"] == 4
    onnx.checker.check_model(program.model_proto)


def test_load_opspecs_reports_every_problem_with_file_and_line(tmp_path: Path, clean_registry: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(
        "- aten: a2o_custom::scaled_sin\n"
        "  emit: Sinn(x)\n"
        "- aten: a2o_custom::nope\n"
        "  onnx: Relu\n"
        "- aten: a2o_custom::scaled_sin\n"
        "  emit: LeakyRelu(x, alpha=unknown)\n"
    )
    with pytest.raises(aten2onnx.OpspecError) as info:
        aten2onnx.load_opspecs("bad.yaml")
    problems = info.value.problems
    assert any(p.startswith("bad.yaml:1:") and "'Sinn' is not an ONNX operator" in p for p in problems)
    assert any(p.startswith("bad.yaml:3:") and "unknown ATen overload 'a2o_custom::nope.default'" in p
               and "defined (torch.library)" in p for p in problems)
    assert any(p.startswith("bad.yaml:5:") and "already specified at bad.yaml:1" in p for p in problems)
    assert "a2o_custom::scaled_sin.default" not in aten2onnx.supported_ops(20)  # nothing was loaded
    with pytest.raises(aten2onnx.OpspecError, match="no such file or folder"):
        aten2onnx.load_opspecs("missing.yaml")
