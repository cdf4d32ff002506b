"""The aten2onnx command line: export, ops, matrix, check, show, demo; exit codes and error paragraphs."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import onnx
import onnxruntime
import pytest
import torch

from aten2onnx.exporter.tools import cli
from aten2onnx.exporter.tools.cli import main

FACTORY = textwrap.dedent('''
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.relu(self.conv(x))

    class Chooses(torch.nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    def make():
        return Net().eval()

    def make_with_args():
        return Net().eval(), (torch.randn(2, 3, 8, 8),)

    def data_dependent():
        return Chooses(), (torch.randn(3),)

    def broken():
        raise ValueError("no weights here")
''')


@pytest.fixture
def factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "factory.py"
    path.write_text(FACTORY)
    return path


def _one_paragraph(text: str) -> None:
    assert "Traceback" not in text and "\n\n" not in text.strip()


def test_export_with_inputs_dynamic_verify_and_report(factory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "factory.py:make", "--input", "2x3x16x16:float32", "-o", "m.onnx", "--opset", "18",
                 "--dynamic", "0=batch", "--verify", "--report"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "wrote m.onnx (opset 18" in captured.out
    assert "capturing Net with torch.export ..." in captured.err  # progress lines
    assert "verified relu float32[2, 4, 14, 14]: max abs error" in captured.err
    model = onnx.load("m.onnx")
    assert model.opset_import[0].version == 18
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 16, 16]
    assert len(list(Path(".").glob("aten2onnx_report_Net_*_ok.md"))) == 1
    session = onnxruntime.InferenceSession("m.onnx")
    x = torch.randn(5, 3, 16, 16)  # another batch size
    import importlib.util

    spec = importlib.util.spec_from_file_location("factory_for_test", factory)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.no_grad():
        want = module.make()(x)
    (got,) = session.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-4, rtol=1e-4)


def test_export_with_args_from_the_factory(factory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "factory.py:make_with_args", "-o", "m.onnx", "--input-names", "image",
                 "--output-names", "features"]) == 0
    model = onnx.load("m.onnx")
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["features"]


@pytest.mark.parametrize(("argv", "message"), [
    (["export", "missing.py:make"], "'missing.py': no such file"),
    (["export", "factory.py"], "give the model as path/to/file.py:factory"),
    (["export", "factory.py:nothere"], "has no function 'nothere'; its functions: broken, data_dependent, make"),
    (["export", "factory.py:make"], "returned no example inputs: pass --input SHAPE:DTYPE"),
    (["export", "factory.py:make_with_args", "-o", "nodir/m.onnx"], "folder 'nodir' does not exist"),
    (["export", "factory.py:make_with_args", "--dynamic", "7:0=batch"], "--dynamic names input '7'"),
    (["show", "missing.onnx"], "'missing.onnx': no such file"),
    (["check", "no_such_op"], "no spec maps 'no_such_op'"),
])
def test_usage_errors_exit_2(argv: list[str], message: str, factory: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "usage error" in err
    _one_paragraph(err)
    assert not list(Path(".").glob("*.onnx"))


@pytest.mark.parametrize("argv", [
    ["export", "factory.py:make", "--input", "2xax8"],
    ["export", "factory.py:make", "--input", "2x3:float99"],
    ["export", "factory.py:make", "--dynamic", "batch"],
    ["ops", "--opset", "3"],
])
def test_bad_option_values_exit_2(argv: list[str], factory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error: argument" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["export", "factory.py:data_dependent", "-o", "m.onnx"], "torch.export could not capture Chooses"),
    (["export", "factory.py:make", "--input", "2x5x8x8", "-o", "m.onnx"], "shapes do not fit"),
    (["export", "factory.py:broken", "-o", "m.onnx"], "make() raised ValueError: no weights here"),
])
def test_export_errors_exit_1_in_one_paragraph_and_leave_no_file(
        argv: list[str], message: str, factory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message.replace("make()", "broken()") in err
    error_part = err[err.index("aten2onnx export: error"):]
    _one_paragraph(error_part)
    assert not Path("m.onnx").exists()


def test_failed_export_names_its_report(factory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "factory.py:data_dependent", "-o", "m.onnx", "--report"]) == 1
    err = capsys.readouterr().err
    (report,) = Path(".").glob("aten2onnx_report_Chooses_*_failed.md")
    assert f"The report is in {report.name}" in err or str(report.name) in err


CUSTOM_FACTORY = textwrap.dedent('''
    import torch

    @torch.library.custom_op("a2o_cli::cube", mutates_args=())
    def cube(x: torch.Tensor) -> torch.Tensor:
        return x * x * x

    @cube.register_fake
    def _(x):
        return torch.empty_like(x)

    class Cubes(torch.nn.Module):
        def forward(self, x):
            return torch.ops.a2o_cli.cube(x) + 1

    def make():
        return Cubes(), (torch.randn(2, 3),)
''')


def test_export_with_user_opspecs(factory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import aten2onnx

    Path("cubes.py").write_text(CUSTOM_FACTORY)
    Path("bad.yaml").write_text("- aten: a2o_cli::cube\n  emit: Cube(x)\n")
    Path("good.yaml").write_text("- aten: a2o_cli::cube\n  emit: Mul(Mul(x, x), x)\n")
    try:
        assert main(["export", "cubes.py:make", "--opspecs", "bad.yaml", "-o", "m.onnx"]) == 1
        err = capsys.readouterr().err
        assert "bad.yaml:1: a2o_cli::cube.default: 'Cube' is not an ONNX operator" in err
        _one_paragraph(err[err.index("aten2onnx export: error"):])
        assert not Path("m.onnx").exists()
        assert main(["export", "cubes.py:make", "--opspecs", "good.yaml", "-o", "m.onnx", "--verify"]) == 0
        assert [n.op_type for n in onnx.load("m.onnx").graph.node][:2] == ["Mul", "Mul"]
    finally:
        aten2onnx.unload_opspecs()


def test_show_prints_the_verbose_graph_of_any_onnx_file(factory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "factory.py:make_with_args", "-o", "m.onnx"]) == 0
    capsys.readouterr()
    assert main(["show", "m.onnx"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ir_version ")
    assert "graph(%x : Float(2, 3, 8, 8)," in out
    assert "%conv2d : Float(2, 4, 6, 6) = onnx::Conv[" in out and "scope: Net/Conv2d[conv]  # " in out
    # a file made elsewhere, without aten2onnx's metadata
    node = onnx.helper.make_node("Add", ["a", "b"], ["c"])
    graph = onnx.helper.make_graph(
        [node], "g", [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.INT64, ["n"]) for n in "ab"],
        [onnx.helper.make_tensor_value_info("c", onnx.TensorProto.INT64, ["n"])])
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), "other.onnx")
    assert main(["show", "other.onnx"]) == 0
    assert "  %c : Long(n) = onnx::Add(%a, %b)\n  return (%c)\n}" in capsys.readouterr().out
    Path("junk.onnx").write_text("not a model")
    assert main(["show", "junk.onnx"]) == 1
    assert "cannot read 'junk.onnx' as an ONNX model" in capsys.readouterr().err


def test_ops_lists_supported_with_constraints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops", "elu", "--opset", "9"]) == 0
    captured = capsys.readouterr()
    assert "aten::elu.default" in captured.out and "aten::relu.default" in captured.out
    assert "    constraint: elu with scale or input_scale other than 1" in captured.out
    assert "supported at opset 9 matching 'elu'" in captured.err


def test_aliases_share_their_entrys_constraints() -> None:
    constraints = cli._spec_constraints()
    assert "aten::_adaptive_avg_pool2d.default" in constraints  # an alias (opspecs/nn.yaml)
    assert constraints["aten::_adaptive_avg_pool2d.default"] == constraints["aten::adaptive_avg_pool2d.default"]


def test_matrix_prints_or_writes_the_support_matrix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = cli.SUPPORT_MATRIX.read_text(encoding="utf-8")
    assert main(["matrix"]) == 0
    assert capsys.readouterr().out == expected
    assert main(["matrix", "-o", str(tmp_path / "SUPPORT.md")]) == 0
    assert (tmp_path / "SUPPORT.md").read_text(encoding="utf-8") == expected


@pytest.mark.parametrize(("op", "key", "selected", "not_selected", "pytest_code", "exit_code"), [
    ("relu", "aten::relu.", "aten::relu.default@9", "aten::leaky_relu.default@9", 0, 0),
    ("add", "aten::add.", "aten::add.Tensor@9", "aten::addmm.default@9", 1, 1),  # a failing test: exit 1
    ("aten::add.Tensor", "aten::add.Tensor", "aten::add.Tensor@26", "aten::add.Scalar@26", 5, 2),
])
def test_check_runs_the_op_tests(op: str, key: str, selected: str, not_selected: str, pytest_code: int,
                                 exit_code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from _pytest.mark.expression import Expression

    ran = []

    def fake_call(command: list[str], **kwargs: object) -> int:
        ran.append(command)
        return pytest_code

    monkeypatch.setattr(subprocess, "call", fake_call)
    assert main(["check", op]) == exit_code
    (command,) = ran
    assert command[-2:] == ["-k", key] and command[-3].endswith("tests/test_ops.py")
    # `-k key` is a valid pytest expression that picks this op's cases and no other op's
    expression = Expression.compile(key)
    assert expression.evaluate(lambda part: part in f"test_matches_torch[{selected}]")
    assert not expression.evaluate(lambda part: part in f"test_matches_torch[{not_selected}]")


def test_demo_exports_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "demo.onnx"
    assert main(["demo", "-o", str(target), "--opset", "17"]) == 0
    out = capsys.readouterr().out
    assert "max abs error" in out and "opset          17" in out
    model = onnx.load(str(target))
    assert model.opset_import[0].version == 17
    assert {n.op_type for n in model.graph.node} >= {"Conv", "Relu", "MaxPool"}


def test_export_fallback_and_torchscript_say_which_capture(factory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.warns(torch.jit.TracerWarning, match=r"factory\.py:\d+: a tensor was read as a Python bool"):
        assert main(["export", "factory.py:data_dependent", "-o", "m.onnx", "--fallback"]) == 0
    out, err = capsys.readouterr()
    assert "torch.export failed (fallback=True): capturing Chooses with torch.jit.trace" in err
    assert "captured with torch.jit.trace" in out and Path("m.onnx").is_file()
    assert main(["export", "factory.py:make_with_args", "-o", "t.onnx", "--torchscript", "--verify"]) == 0
    out, err = capsys.readouterr()
    assert "capturing Net with torch.jit.trace" in err and "captured with torch.jit.trace" in out
    assert "verified" in err
