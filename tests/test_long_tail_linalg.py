"""Linear algebra end to end: torch.linalg calls as users write them, through aten2onnx.export.

The user-level functions reach the mapped ATen ops through torch's decompositions (linalg.inv ->
linalg_inv_ex and a checked `info`, linalg.eigvalsh -> _linalg_eigh, matrix_rank -> _linalg_svd),
so this proves the capture path as well as the specs (tests/test_ops.py proves each op alone).
"""

from __future__ import annotations

import onnx
import pytest
import torch
from torch import nn
from torch.export import Dim

import aten2onnx


class Solver(nn.Module):
    """A few solves and factorizations of a batch of SPD matrices."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        chol = torch.linalg.cholesky(a)
        return (torch.linalg.det(a), torch.logdet(a), torch.linalg.inv(a), torch.linalg.solve(a, b),
                torch.cholesky_solve(b, chol), torch.linalg.matrix_exp(0.1 * a))


class Spectral(nn.Module):
    """Eigenvalues, singular values, pseudo-inverse, rank and QR."""

    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.linalg.eigvalsh(a), torch.linalg.svdvals(a), torch.linalg.pinv(a),
                torch.linalg.matrix_rank(a), *torch.linalg.qr(a))


def _spd(batch: int, n: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(batch, n, n, generator=gen, dtype=torch.float64))[0]
    values = 1 + 4 * torch.rand(batch, n, generator=gen, dtype=torch.float64)
    return (q @ torch.diag_embed(values) @ q.mT).to(dtype)


def _compare(program: aten2onnx.ONNXProgram, model: nn.Module, args: tuple[torch.Tensor, ...], tol: float) -> None:
    expected = model(*args)
    actual = program(*args)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.shape == want.shape and got.dtype == want.dtype
        torch.testing.assert_close(got, want, atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_solver_matches_eager(dtype: torch.dtype) -> None:
    a, b = _spd(2, 4, dtype, 0), torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(1)).to(dtype)
    program = aten2onnx.export(Solver(), (a, b), opset_version=20)
    onnx.checker.check_model(program.model_proto, full_check=True)
    _compare(program, Solver(), (a, b), 1e-4 if dtype == torch.float32 else 1e-9)


def test_solver_with_dynamic_sizes() -> None:
    """The factorizations loop over a matrix size known only at run time."""
    a, b = _spd(2, 3, torch.float64, 2), torch.randn(2, 3, 2, dtype=torch.float64)
    n = Dim("n", min=2, max=8)
    program = aten2onnx.export(Solver(), (a, b), opset_version=18, dynamic_shapes=({1: n, 2: n}, {1: n}))
    for size in (3, 5):
        args = (_spd(2, size, torch.float64, size), torch.randn(2, size, 2, dtype=torch.float64))
        _compare(program, Solver(), args, 1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spectral_matches_eager(dtype: torch.dtype) -> None:
    a = _spd(3, 4, dtype, 3)
    a[1, :, 3] = a[1, :, 2]  # a rank-3 matrix: rank and pseudo-inverse see the zero singular value
    program = aten2onnx.export(Spectral(), (a,), opset_version=20)
    onnx.checker.check_model(program.model_proto, full_check=True)
    _compare(program, Spectral(), (a,), 1e-4 if dtype == torch.float32 else 1e-9)
