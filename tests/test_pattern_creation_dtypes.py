"""Creation ops and their dtypes (issue 19 item 6). The declared type of every value must be the
type the graph computes, or ONNX Runtime refuses the model ("Type (tensor(double)) of output arg
... does not match expected type (tensor(float))"). Root cause found: factory ops without a
dtype argument inferred torch's default dtype at translation time, while torch recorded the one
in force when the model ran; they now take torch's recorded dtype, and any mapping whose
computed dtype still disagrees with torch's is cast to it.
"""

from __future__ import annotations

import pytest
import torch
from patterns import Fn, export_and_run
from torch import nn

import aten2onnx


def _creations(dtype: torch.dtype) -> Fn:
    """Every factory op with a dtype argument, sized from a dynamic input."""

    def fn(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = x.shape[0]
        out = [torch.full((n, 2), 3, dtype=dtype), torch.zeros(n, dtype=dtype), torch.ones(2, n, dtype=dtype),
               torch.full_like(x, 1, dtype=dtype), torch.zeros_like(x, dtype=dtype), torch.ones_like(x, dtype=dtype),
               x.new_full((n,), 1, dtype=dtype), x.new_zeros((2, n), dtype=dtype), x.new_ones((n,), dtype=dtype),
               torch.empty(n, 2, dtype=dtype).fill_(1), torch.scalar_tensor(n, dtype=dtype),
               torch.tensor([1, 0], dtype=dtype), torch.eye(n, 3, dtype=dtype), torch.full((2,), n, dtype=dtype)]
        if dtype != torch.bool:
            out += [torch.arange(n, dtype=dtype), torch.arange(1, 2 * n + 1, 2, dtype=dtype)]
        if dtype.is_floating_point:
            out += [torch.full((n,), 2.5, dtype=dtype), torch.linspace(0, 1, 5, dtype=dtype),
                    torch.full((2,), n / 3, dtype=dtype)]
        return tuple(out)

    return Fn(fn)


_DTYPES = [torch.float64, torch.float16, torch.int32, torch.bool, torch.uint8]


@pytest.mark.parametrize(("dtype", "opset"), [
    pytest.param(dtype, opset, id=f"{str(dtype).removeprefix('torch.')}@{opset}",
                 marks=[] if opset == 18 or dtype == torch.float64 else [pytest.mark.slow])
    for dtype in _DTYPES for opset in (11, 13, 18)
])
def test_factory_ops_compute_the_dtype_they_declare(dtype: torch.dtype, opset: int) -> None:
    x = torch.randn(3, 2)
    export_and_run(_creations(dtype), (x,), [(torch.randn(1, 2),), (torch.randn(6, 2),)], opset=opset, atol=1e-3,
                   dynamic_shapes=({0: "n"},))


class DefaultDtypeInForward(nn.Module):
    """Scientific code that switches torch's default dtype while it runs."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            return (torch.full((x.shape[0],), 1.5), torch.arange(0.0, 2.0, 0.25), torch.zeros(2, x.shape[0]),
                    torch.scalar_tensor(3), torch.rand(x.shape[0]) * 0, x.double() + torch.ones(x.shape))
        finally:
            torch.set_default_dtype(previous)


@pytest.mark.parametrize("opset", [9, 18])
def test_dtype_is_the_one_torch_recorded_not_the_default_at_export(opset: int) -> None:
    program = export_and_run(DefaultDtypeInForward(), (torch.randn(3, 2),), [(torch.randn(5, 2),)], opset=opset,
                             dynamic_shapes=({0: "n"},))
    assert all(v.dtype.name == "DOUBLE" for v in program.model.graph.outputs)


@torch.library.custom_op("a2o_pattern::halve", mutates_args=())
def _halve(x: torch.Tensor) -> torch.Tensor:
    return (x / 2).double()


@_halve.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x, dtype=torch.float64)


def test_a_mapping_that_computes_another_dtype_is_cast_to_torchs() -> None:
    """A symbolic that forgets the dtype conversion: the model still loads, in torch's dtype."""
    aten2onnx.register_custom_op_symbolic("a2o_pattern::halve", lambda g, x: g.op("Div", x, g.op(
        "Constant", value_t=torch.tensor(2.0))), 9)
    try:
        model = Fn(lambda x: torch.ops.a2o_pattern.halve(x) + 1)
        program = export_and_run(model, (torch.randn(2, 3),), [(torch.randn(4, 3),)], atol=1e-6,
                                 dynamic_shapes=({0: "n"},))
    finally:
        aten2onnx.unregister_custom_op_symbolic("a2o_pattern::halve", 9)
    assert program.model.graph.outputs[0].dtype.name == "DOUBLE"
