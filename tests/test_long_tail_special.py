"""End-to-end: torch.special functions (opspecs/special.yaml) through aten2onnx.export().

A small module mixes the error, gamma, Bessel and polynomial families as a user would call them;
ONNX Runtime must match eager PyTorch over a wide range of inputs, in float32 and float64.
"""

from __future__ import annotations

import onnx
import pytest
import torch
from torch import nn

import aten2onnx


class SpecialMix(nn.Module):
    """Special functions of x (the whole line) and u (in (0, 1)), a Chebyshev polynomial of degree n."""

    def forward(self, x: torch.Tensor, u: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (
            torch.special.erfcx(x) + torch.erfc(x),
            torch.erfinv(2 * u - 1) + torch.special.ndtri(u),
            torch.lgamma(x) + torch.special.log_ndtr(x),
            torch.special.i0e(x) * torch.special.bessel_j0(x),
            torch.special.chebyshev_polynomial_t(torch.tanh(x), n),
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [9, 20])
def test_special_functions_match_eager(dtype: torch.dtype, opset: int) -> None:
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 7, generator=generator, dtype=torch.float64) * 40 - 20).to(dtype)
    u = torch.rand(3, 7, generator=generator, dtype=torch.float64).to(dtype)  # the domain of ndtri
    n = torch.randint(0, 12, (3, 7), generator=generator)
    model = SpecialMix()
    program = aten2onnx.export(model, (x, u, n), opset_version=opset)
    onnx.checker.check_model(program.model_proto, full_check=True)
    expected = model(x, u, n)
    actual = program(x, u, n)
    assert len(actual) == len(expected) == 5
    for got, want in zip(actual, expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


class GammaPoles(nn.Module):
    """digamma and polygamma(n) for n = 0, 2, 3, 4 (trigamma: see the test)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.digamma(x), *(torch.polygamma(n, x) for n in (0, 2, 3, 4)), torch.polygamma(1, torch.where(x < 0, -x, x)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_digamma_and_polygamma_at_their_poles_match_eager(dtype: torch.dtype) -> None:
    """At +-0 and the negative integers torch gives digamma -inf at +0, +inf at -0 and NaN below;
    polygamma(n >= 2) alternates +-inf. The export gives the same values bit for bit (the sign of
    zero picks the infinity). polygamma(1, x) is compared at +-0 and x > 0 only: at a negative integer torch's
    trigamma returns the float rounding of pi^2 / sin^2(pi x) (1.29e15 at -1 in float32, 6.6e32 in
    float64) while the mapping returns the pole's +inf (the note in opspecs/special.yaml)."""
    x = torch.tensor([0.0, -0.0, -1.0, -2.0, -3.0, -7.0, -50.0, 1.0, -2.5], dtype=dtype)
    model = GammaPoles()
    program = aten2onnx.export(model, (x,), opset_version=20)
    expected = model(x)
    for index, (got, want) in enumerate(zip(program(x), expected)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4, equal_nan=True, msg=lambda m, i=index: f"{i}: {m}")
        assert torch.equal(torch.isinf(got), torch.isinf(want)) and torch.equal(torch.isnan(got), torch.isnan(want))
        assert torch.equal(got[torch.isinf(want)], want[torch.isinf(want)])  # the same infinities, sign included
