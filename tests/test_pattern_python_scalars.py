"""Python scalars are constants of the export (issue 19 item 5): bools, ints, floats and strings
in args or kwargs (`flag=False`, `scale=3.0`, transformers' `use_cache=False`) are not ONNX
inputs, as in torch.onnx: torch.export specialized the graph on their values. The report says so.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from patterns import assert_matches, export_and_run, input_dims
from torch import nn

import aten2onnx


class Options(nn.Module):
    def forward(self, x: torch.Tensor, flag: bool = True, scale: float = 1.0, mode: str = "sum",
                repeats: int = 1) -> torch.Tensor:
        y = x * scale
        if flag:
            y = y.relu()
        y = y.repeat(1, repeats)
        return y.sum(-1) if mode == "sum" else y.amax(-1)


@pytest.mark.parametrize(("args", "kwargs"), [
    pytest.param((), {"flag": False, "scale": 3.0, "mode": "max", "repeats": 2}, id="keywords"),
    pytest.param((True, -0.5, "sum", 3), {}, id="positional"),
    pytest.param((False,), {"repeats": 2, "mode": "max"}, id="mixed"),
])
def test_python_values_are_constants_not_inputs(args: tuple[object, ...], kwargs: dict[str, object],
                                                 tmp_path: Path) -> None:
    model = Options()
    x = torch.randn(3, 4)
    program = aten2onnx.export(model, (x, *args), kwargs=kwargs, opset_version=18, dynamic_shapes=None,
                              report=True, artifacts_dir=tmp_path)
    assert [v.name for v in program.model.graph.inputs] == ["x"]
    for sample in (x, torch.randn(3, 4) * 5):
        torch.testing.assert_close(program(sample)[0], model(sample, *args, **kwargs))
    report = program.report_path.read_text()
    assert "constants of the export" in report
    for name, value in {**dict(zip(["flag", "scale", "mode", "repeats"], args)), **kwargs}.items():
        assert f"`{name}={value!r}`" in report


def test_constants_with_dynamic_axes_and_input_names() -> None:
    """input_names and dynamic_axes name the tensor inputs only; the constants take no name."""
    model = Options()
    program = export_and_run(model, (torch.randn(2, 4), False, 2.0), [(torch.randn(7, 4), False, 2.0)],
                             input_names=["features"], dynamic_axes={"features": {0: "batch"}})
    assert input_dims(program) == [["batch", "4"]]


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed")
def test_transformers_model_called_with_use_cache_false() -> None:
    import transformers

    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=8, n_layer=1, n_head=2)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 32, (1, 5))
    kwargs = {"use_cache": False, "output_attentions": False, "return_dict": False}
    program = aten2onnx.export(model, (ids,), kwargs=kwargs, opset_version=18,
                              dynamic_shapes={"input_ids": {0: "batch", 1: "length"}})
    assert [v.name for v in program.model.graph.inputs] == ["input_ids"]
    for shape in ((1, 5), (3, 2), (2, 9)):
        ids = torch.randint(0, 32, shape)
        assert_matches(program, model, (ids,), kwargs, atol=1e-4)
