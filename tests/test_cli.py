"""The aten2onnx command line: demo and ops."""

from __future__ import annotations

import onnx
import pytest

from exporter.cli import main


def test_demo_exports_and_verifies(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "demo.onnx"
    assert main(["demo", "-o", str(target), "--opset", "17"]) == 0
    out = capsys.readouterr().out
    assert "max abs error" in out and "opset          17" in out
    model = onnx.load(str(target))
    assert model.opset_import[0].version == 17
    assert {n.op_type for n in model.graph.node} >= {"Conv", "Relu", "MaxPool"}


def test_ops_lists_supported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops", "relu", "--opset", "9"]) == 0
    assert "aten::relu.default" in capsys.readouterr().out


def test_bad_opset_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main(["ops", "--opset", "3"])
    assert info.value.code == 2
