"""Optional inputs (issue 19 item 2): `forward(x, y=None, z=None)` called with some of them None,
given by position or by keyword, and inputs that default to tensors. A None input is a constant
of the export (no ONNX input), as in torch.onnx; the file loads and runs in ONNX Runtime at
other sizes, input_names name the inputs that remain.
"""

from __future__ import annotations

import pytest
import torch
from patterns import assert_matches, export_and_run, input_dims
from torch import nn

import aten2onnx


class Optional3(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        out = x * 2
        if y is not None:
            out = out + y
        if z is not None:
            out = out * z.sigmoid()
        return out


_BATCH = {0: "batch"}


@pytest.mark.parametrize(("example", "kwargs", "names"), [
    pytest.param(lambda n: (torch.randn(n, 3), None, torch.randn(n, 3)), {}, ["x", "z"], id="middle_none_positional"),
    pytest.param(lambda n: (torch.randn(n, 3), torch.randn(n, 3), None), {}, ["x", "y"], id="last_none_positional"),
    pytest.param(lambda n: (torch.randn(n, 3), None, None), {}, ["x"], id="all_none"),
])
def test_none_inputs_are_not_onnx_inputs(example: object, kwargs: dict[str, object], names: list[str]) -> None:
    model = Optional3()
    make = example  # type: ignore[assignment]
    shapes = {name: _BATCH for name in names}
    program = aten2onnx.export(model, make(2), opset_version=18, dynamic_shapes=shapes)  # type: ignore[operator]
    assert [v.name for v in program.model.graph.inputs] == names
    for n in (2, 1, 6):
        args = make(n)  # type: ignore[operator]
        assert_matches(program, model, args)


def test_keyword_inputs_given_and_none_with_input_names() -> None:
    model = Optional3()
    x, z = torch.randn(4, 3), torch.randn(4, 3)
    program = aten2onnx.export(model, (x,), kwargs={"y": None, "z": z}, opset_version=18, input_names=["a", "c"],
                              dynamic_axes={"a": {0: "batch"}, "c": {0: "batch"}})
    assert input_dims(program) == [["batch", "3"], ["batch", "3"]]
    assert [v.name for v in program.model.graph.inputs] == ["a", "c"]
    for n in (4, 1, 9):
        x, z = torch.randn(n, 3), torch.randn(n, 3)
        torch.testing.assert_close(program(x, z)[0], model(x, z=z))


_DEFAULT_BIAS = torch.full((3,), 0.5)


class TensorDefaults(nn.Module):
    """Optional inputs whose defaults are tensors (a bias, a mask), as some checkpoints' code has."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor, bias: torch.Tensor = _DEFAULT_BIAS,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        out = self.fc(x) + bias
        return out if mask is None else out.masked_fill(~mask, 0.0)


def test_defaults_that_are_tensors() -> None:
    torch.manual_seed(0)
    model = TensorDefaults()
    # the default bias is used: a constant of the export; the mask is an input
    mask = lambda n: torch.rand(n, 3) > 0.5  # noqa: E731
    program = export_and_run(model, (torch.randn(2, 3),), opset=18, kwargs={"mask": mask(2)},
                             dynamic_shapes={"x": _BATCH, "mask": _BATCH})
    assert [v.name for v in program.model.graph.inputs] == ["x", "mask"]
    for n in (1, 5):
        x, m = torch.randn(n, 3), mask(n)
        torch.testing.assert_close(program(x, mask=m)[0], model(x, mask=m))
    # the default given explicitly is an input like any other, and None is a constant
    program = export_and_run(model, (torch.randn(2, 3), torch.randn(3), None), [(torch.randn(6, 3), torch.randn(3), None)],
                             dynamic_shapes=(_BATCH, None, None))
    assert [v.name for v in program.model.graph.inputs] == ["x", "bias"]


class OptionalInTuple(nn.Module):
    def forward(self, x: torch.Tensor, extras: tuple[torch.Tensor | None, torch.Tensor]) -> torch.Tensor:
        scale, shift = extras
        return (x if scale is None else x * scale) + shift


def test_none_inside_a_structured_input() -> None:
    model = OptionalInTuple()
    program = export_and_run(model, (torch.randn(3, 2), (None, torch.randn(2))), [(torch.randn(5, 2), (None, torch.randn(2)))],
                             dynamic_shapes={"x": _BATCH, "extras": (None, None)})
    assert [v.name for v in program.model.graph.inputs] == ["x", "extras_1"]
