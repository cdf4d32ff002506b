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


class LeastSquares(nn.Module):
    """torch.linalg.lstsq with every output, as torch.export cannot trace it (kept whole)."""

    def __init__(self, driver: str | None, rcond: float | None = None) -> None:
        super().__init__()
        self.driver, self.rcond = driver, rcond

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.linalg.lstsq(a, b, rcond=self.rcond, driver=self.driver))


def _with_singular_values(batch: int, m: int, n: int, values: list[float], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    u = torch.linalg.qr(torch.randn(batch, m, m, generator=gen, dtype=torch.float64))[0][..., :len(values)]
    v = torch.linalg.qr(torch.randn(batch, n, n, generator=gen, dtype=torch.float64))[0][..., :len(values)]
    return u @ torch.diag_embed(torch.tensor(values, dtype=torch.float64)).expand(batch, -1, -1) @ v.mT


@pytest.mark.parametrize("driver", [None, "gelsy", "gelsd", "gelss", "gels"])
@pytest.mark.parametrize(("a_shape", "b_shape"), [((2, 5, 3), (2, 5, 2)), ((1, 5, 3), (3, 5, 2)),
                                                  ((2, 3, 4), (2, 3)), ((4, 4), (4, 1))])
def test_lstsq_matches_eager(driver: str | None, a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    """Tall, wide and square A, a vector b, A's batch broadcast against b's; each driver's outputs."""
    gen = torch.Generator().manual_seed(len(a_shape) + len(b_shape))
    a = _with_singular_values(a_shape[0] if len(a_shape) == 3 else 1, *a_shape[-2:],
                              [3.0, 2.0, 1.5, 1.0][:min(a_shape[-2:])], 4).reshape(a_shape).float()
    b = torch.randn(b_shape, generator=gen)
    program = aten2onnx.export(LeastSquares(driver), (a, b), opset_version=20)
    _compare(program, LeastSquares(driver), (a, b), 1e-4)


@pytest.mark.parametrize(("driver", "rcond"), [("gelsd", 1e-6), ("gelsd", 0.3), ("gelsy", 1e-6)])
def test_lstsq_of_a_rank_deficient_matrix(driver: str, rcond: float) -> None:
    """Singular values 4, 2, 1e-9 (float64) and a cut-off of rcond times the largest: the minimum-norm
    solution over the two kept, and rank 2, as torch's. (gelsy estimates the rank from a pivoted QR:
    with rcond=0.3 it finds rank 1 for one of these matrices.)"""
    a = _with_singular_values(2, 6, 3, [4.0, 2.0, 1e-9], 5)
    b = torch.randn(2, 6, 2, dtype=torch.float64)
    model = LeastSquares(driver, rcond)
    outputs = model(a, b)
    assert outputs[2].tolist() == [2, 2]
    got = aten2onnx.export(model, (a, b), opset_version=18)(a, b)
    torch.testing.assert_close(got[0], outputs[0], atol=1e-9, rtol=1e-9)
    assert torch.equal(got[2], outputs[2])


def test_lstsq_cut_off_by_rcond() -> None:
    """gelsd drops the singular value 1 below rcond * 4 = 1.2: a rank-2 solution of a full-rank A (a
    wide one: with m > n, torch's residuals of a rank-deficient A are empty, the export's are not)."""
    a = _with_singular_values(2, 3, 5, [4.0, 2.0, 1.0], 6)
    b = torch.randn(2, 3, 2, dtype=torch.float64)
    model = LeastSquares("gelsd", 0.3)
    assert model(a, b)[2].tolist() == [2, 2]
    _compare(aten2onnx.export(model, (a, b), opset_version=18), model, (a, b), 1e-9)


def test_lstsq_with_a_dynamic_batch_and_traced() -> None:
    """A batch size known only at run time, and the same call through TorchScript (dynamo=False)."""
    a = _with_singular_values(2, 5, 3, [3.0, 2.0, 1.0], 7)
    b = torch.randn(2, 5, 2, dtype=torch.float64)
    batch = Dim("batch", min=1, max=16)
    program = aten2onnx.export(LeastSquares("gelsd"), (a, b), opset_version=20,
                               dynamic_shapes=({0: batch}, {0: batch}))
    for size in (1, 4):
        args = (_with_singular_values(size, 5, 3, [3.0, 2.0, 1.0], size), torch.randn(size, 5, 2, dtype=torch.float64))
        _compare(program, LeastSquares("gelsd"), args, 1e-9)
    traced = aten2onnx.export(LeastSquares(None), (a, b), opset_version=20, dynamo=False)
    _compare(traced, LeastSquares(None), (a, b), 1e-9)


def test_lstsq_of_dynamic_matrix_sizes_is_refused() -> None:
    a, b = torch.randn(5, 3), torch.randn(5, 2)
    with pytest.raises(aten2onnx.ConstraintError, match=r"lstsq needs the matrix sizes.*linalg.yaml"):
        aten2onnx.export(LeastSquares(None), (a, b), opset_version=20, dynamic_shapes=({0: Dim("m", min=4)}, {0: Dim("m", min=4)}))


class SymmetricSolver(nn.Module):
    """LDL^T of symmetric indefinite matrices (Bunch-Kaufman pivoting), then a solve with it."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ld, pivots = torch.linalg.ldl_factor(a)
        _, _, info = torch.linalg.ldl_factor_ex(a, hermitian=True)
        return ld, pivots, info, torch.linalg.ldl_solve(ld, pivots, b)


def _indefinite(batch: int, n: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Well-conditioned symmetric matrices with eigenvalues of both signs and a shrunk diagonal in
    every other one, so that the pivoting takes 2x2 blocks and interchanges."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(batch, n, n, generator=gen, dtype=torch.float64))[0]
    values = (1 + 4 * torch.rand(batch, n, generator=gen, dtype=torch.float64)) * torch.where(
        torch.rand(batch, n, generator=gen) < 0.5, -1.0, 1.0).to(torch.float64)
    a = q @ torch.diag_embed(values) @ q.mT
    a[::2].diagonal(dim1=-2, dim2=-1).mul_(0.05)
    return a.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ldl_with_dynamic_batch(dtype: torch.dtype) -> None:
    """Each matrix of the batch takes its own pivots (1x1, 2x2, interchanges); the pivots must be
    torch's exactly, for batch sizes the export never saw."""
    a, b = _indefinite(2, 5, dtype, 4), torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(5)).to(dtype)
    batch = Dim("batch", min=1, max=64)
    program = aten2onnx.export(SymmetricSolver(), (a, b), opset_version=17, dynamic_shapes=({0: batch}, {0: batch}))
    onnx.checker.check_model(program.model_proto, full_check=True)
    for size in (1, 7, 16):
        args = (_indefinite(size, 5, dtype, size), torch.randn(size, 5, 3, dtype=torch.float64).to(dtype))
        pivots = torch.linalg.ldl_factor(args[0]).pivots
        if size == 16:  # the draw exercises what the pivoting can do
            assert (pivots < 0).any() and ((pivots > 0) & (pivots != torch.arange(1, 6, dtype=torch.int32))).any()
        got = program(*args)
        assert torch.equal(got[1], pivots)
        _compare(program, SymmetricSolver(), args, 1e-4 if dtype == torch.float32 else 1e-9)
