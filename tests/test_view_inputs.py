"""Example inputs that alias (views such as `x[:, :4]` or `x.t()`, one tensor given twice) export on the
default path as independent ONNX inputs, dynamic axes included.

torch.export records a view input with its base; with a dynamic axis it guards on the base's sizes,
which run_decompositions' retrace (control flow, inputs written in place) cannot check; and one
tensor given twice became one graph input. Capture takes copies (capture.independent_inputs).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aten2onnx


class Branches(nn.Module):
    """torch.cond: run_decompositions retraces the program."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.sum() > 0, lambda a: a * 2, lambda a: a - 1, (x,))


class WritesItsInput(nn.Module):
    """An input written in place, then read: the retrace functionalizes the write."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x.add_(y)
        return x * 2, x.sum(0)


_VIEWS = {
    "slice": lambda rows: torch.randn(rows, 8)[:, 2:6],
    "transpose": lambda rows: torch.randn(4, rows).t(),
    "narrow rows": lambda rows: torch.randn(rows + 3, 4)[3:],
    "expand": lambda rows: torch.randn(1, 4).expand(rows, 4),
}


def _eager(model: nn.Module, *args: torch.Tensor) -> list[torch.Tensor]:
    copies = [a.clone() for a in args]  # the model may write into them
    with torch.no_grad():
        result = model(*copies)
    return list(result) if isinstance(result, tuple) else [result]


def _check(program: aten2onnx.ONNXProgram, model: nn.Module, *args: torch.Tensor) -> None:
    got, want = program(*args), _eager(model, *args)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("view", sorted(_VIEWS))
def test_a_view_with_a_dynamic_axis_exports_through_the_retrace(view: str) -> None:
    x = _VIEWS[view](3)
    assert x._base is not None
    program = aten2onnx.export(Branches(), (x,), input_names=["x"], dynamic_axes={"x": {0: "rows"}})
    assert str(program.model.graph.inputs[0].shape[0]) == "rows"
    for rows in (1, 3, 6):
        _check(program, Branches(), _VIEWS[view](rows))
        _check(program, Branches(), -_VIEWS[view](rows).abs())  # the other branch


def test_a_view_the_model_writes_into() -> None:
    base = torch.randn(3, 8)
    x, y = base[:, 2:6], torch.randn(4)
    before = base.clone()
    program = aten2onnx.export(WritesItsInput(), (x, y), dynamic_shapes={"x": {0: torch.export.Dim.DYNAMIC},
                                                                          "y": None})
    assert torch.equal(base, before)  # exporting wrote nothing into the caller's tensor
    for rows in (2, 3, 5):
        _check(program, WritesItsInput(), torch.randn(rows, 4), torch.randn(4))


@pytest.mark.parametrize("view", [True, False], ids=["view", "tensor"])
def test_one_tensor_given_twice_is_two_independent_inputs(view: bool) -> None:
    class Twice(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.cond(a.sum() > 0, lambda p, q: p * q, lambda p, q: p - q, (a, b))

    x = torch.randn(3, 8)[:, :4] if view else torch.randn(3, 4)
    program = aten2onnx.export(Twice(), (x, x), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},
                                                               {0: torch.export.Dim.DYNAMIC}))
    assert len(program.model.graph.inputs) == 2
    other = torch.randn(5, 4)
    _check(program, Twice(), other, other)
    _check(program, Twice(), other, torch.randn(5, 4))  # separate ONNX inputs: any two tensors
