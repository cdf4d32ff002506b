"""Python mappings for torch's symmetric eigendecomposition and SVD (opspecs/linalg.yaml).

Both are cyclic Jacobi iterations in one ONNX Loop on the whole batch (linalg_core.py): an
iteration is one plane rotation J in the (p, q) plane, p < q running over the pairs row by row,
with (p, q) read from the iteration number (pairs with p >= q rotate by nothing, so the size may
be dynamic). The loop stops when every matrix of the batch has converged (off-diagonal mass below
the dtype's epsilon times the matrix's) or after _MOST_SWEEPS sweeps.

- eigh: two-sided Jacobi, A <- J^T A J, V <- V J; the eigenvalues are A's diagonal at the end.
- svd: one-sided Jacobi (Hestenes) on the columns of A (of A^T when A is wide): X <- X J, V <- V J
  until the columns are orthogonal; singular values are their norms, U the normalized columns.
  It keeps the accuracy of the columns themselves (no A^T A, whose condition number is squared).

Eigenvectors and singular vectors are unique up to sign (torch says so too): the signs are the
rotations', not LAPACK's. Eigenvalues come out ascending, singular values descending, as torch's.
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c
from aten2onnx.exporter.emit.lib import linalg_core as k

_MOST_SWEEPS = 15  # Jacobi converges quadratically: 6-10 sweeps for the sizes tested, at either dtype
_EPSILON = {torch.float64: 2.2e-16, torch.float32: 1.2e-7, torch.float16: 9.8e-4, torch.bfloat16: 7.8e-3}


def _rotation(b: Any, app: ir.Value, aqq: ir.Value, apq: ir.Value, skip: ir.Value, like: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(cos, sin) of the Jacobi rotation that zeroes apq between the diagonal entries app and aqq
    (Golub and Van Loan 8.5.2, the smaller of the two angles); (1, 0) where apq is 0 or `skip`."""
    one, zero = k.scalar(b, 1.0, like), k.scalar(b, 0.0, like)
    idle = b.op("Or", skip, b.op("Equal", apq, zero))
    theta = b.op("Div", b.op("Sub", aqq, app), b.op("Mul", k.scalar(b, 2.0, like), b.op("Where", idle, one, apq)))
    sign = b.op("Where", b.op("Less", theta, zero), k.scalar(b, -1.0, like), one)
    t = b.op("Div", sign, b.op("Add", b.op("Abs", theta), b.op("Sqrt", b.op("Add", b.op("Mul", theta, theta), one))))
    t = b.op("Where", idle, zero, t)
    cos = b.op("Div", one, b.op("Sqrt", b.op("Add", b.op("Mul", t, t), one)))
    return cos, b.op("Mul", t, cos)


def _rotation_matrix(b: Any, p: ir.Value, q: ir.Value, cos: ir.Value, sin: ir.Value, n: k.Size,
                     identity: ir.Value) -> ir.Value:
    """J (*, n, n): the identity but J[p, p] = J[q, q] = cos, J[p, q] = sin, J[q, p] = -sin."""
    rows, cols = k.column_of(b, k.iota(b, n)), k.iota(b, n)
    row_p, row_q = b.op("Equal", rows, p), b.op("Equal", rows, q)
    col_p, col_q = b.op("Equal", cols, p), b.op("Equal", cols, q)
    on_diagonal = b.op("Or", b.op("And", row_p, col_p), b.op("And", row_q, col_q))
    out = b.op("Where", b.op("And", row_q, col_p), b.op("Neg", sin), identity)
    out = b.op("Where", b.op("And", row_p, col_q), sin, out)
    return b.op("Where", on_diagonal, cos, out)


def _pair(b: Any, i: ir.Value, n: k.Size) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value, ir.Value]:
    """Iteration i's pair: (p, q, p as a 1-element index, q as one, p >= q: nothing to rotate)."""
    size = k.as_value(b, n)
    step = b.op("Mod", i, b.op("Mul", size, size))
    p, q = b.op("Div", step, size), b.op("Mod", step, size)
    return p, q, k.one(b, p), k.one(b, q), b.op("Not", b.op("Less", p, q))


def _entry(b: Any, x: ir.Value, i1: ir.Value, j1: ir.Value) -> ir.Value:
    """x[..., i, j] as (*, 1, 1)."""
    r = b.rank(x)
    return k.pick(b, k.pick(b, x, i1, r - 2), j1, r - 1)


def _unconverged(b: Any, gram: ir.Value, tolerance: ir.Value, n: k.Size, r: int) -> ir.Value:
    """A 0-d bool: some matrix of the batch still has off-diagonal mass in `gram` (a symmetric stack
    of rank r) above its `tolerance` (*, 1, 1), both as squares."""
    # summed directly: the whole norm minus the diagonal's would cancel to rounding noise
    outside = b.op("Where", b.op("Equal", k.column_of(b, k.iota(b, n)), k.iota(b, n)), k.scalar(b, 0.0, gram), gram)
    off = c.reduce(b, "ReduceSum", k.square(b, outside), [r - 2, r - 1], True)
    return k.any_true(b, b.op("Greater", off, tolerance))


def _most_iterations(g: GraphBuilder, n: k.Size) -> k.Size:
    if isinstance(n, int):
        return _MOST_SWEEPS * n * n
    return g.op("Mul", g.constant(_MOST_SWEEPS, torch.int64), g.op("Mul", n, n))


def _squared_tolerance(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """(epsilon * ||x||_F)^2 per matrix, (*, 1, 1)."""
    r = g.rank(x)
    epsilon = _EPSILON.get(g.known_dtype(x), 2.2e-16)
    return g.op("Mul", c.reduce(g, "ReduceSum", k.square(g, x), [r - 2, r - 1], True),
                k.scalar(g, epsilon * epsilon, x))


def _start(g: GraphBuilder, x: ir.Value, n: k.Size) -> tuple[ir.Value, ir.Value]:
    """The identity (n, n) and V's start: it broadcast to x's batch."""
    identity = k.eye(g, n, n, g.known_dtype(x))
    v = k.expand_batch(g, identity, x)
    return identity, k.shaped(v, k.matrix_dims(x, n, n), x.dtype)


def jacobi_eigh(g: GraphBuilder, a: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(diagonal (*, n) in no particular order, V (*, n, n)) with a = V diag V^T, a symmetric."""
    r = g.rank(a)
    n = k.size(g, a, -1)
    identity, v = _start(g, a, n)
    tolerance = _squared_tolerance(g, a)

    def step(b: Any, i: ir.Value, values: list[ir.Value]) -> tuple[ir.Value, list[ir.Value]]:
        x, vectors = values
        p, q, p1, q1, skip = _pair(b, i, n)
        cos, sin = _rotation(b, _entry(b, x, p1, p1), _entry(b, x, q1, q1), _entry(b, x, p1, q1), skip, a)
        rotation = _rotation_matrix(b, p, q, cos, sin, n, identity)
        x = b.op("MatMul", k.transpose(b, rotation, r), b.op("MatMul", x, rotation))
        return _unconverged(b, x, tolerance, n, r), [x, b.op("MatMul", vectors, rotation)]

    x, v = k.converging_loop(g, _most_iterations(g, n), [a, v], step)
    on = g.op("Equal", k.column_of(g, k.iota(g, n)), k.iota(g, n))
    diagonal = c.reduce(g, "ReduceSum", g.op("Where", on, x, k.scalar(g, 0.0, x)), [r - 1], False)
    return diagonal, v


def _sorted(g: GraphBuilder, values: ir.Value, n: k.Size, descending: bool) -> tuple[ir.Value, ir.Value]:
    """(values sorted along the last axis, the order) with TopK."""
    count = g.op("Reshape", k.as_value(g, n), g.constant([1], torch.int64))
    out, order = g.op("TopK", values, count, axis=-1, largest=int(descending), sorted=1, _outputs=2)
    return out, order


def _columns_in_order(g: GraphBuilder, x: ir.Value, order: ir.Value, r: int) -> ir.Value:
    """x[..., :, order] for a (*, n) order per matrix, x of rank r."""
    index = g.op("Expand", c.unsqueeze(g, order, [r - 2]), g.op("Shape", x))
    return g.op("GatherElements", x, index, axis=r - 1)


def _symmetric(g: GraphBuilder, a: ir.Value, n: k.Size, upper: bool) -> ir.Value:
    """The symmetric matrix of a's lower (or upper) triangle: the other one is not read."""
    strict = k.lower_mask(g, n, n, -1)
    kept = k.transpose(g, a) if upper else a
    out = g.op("Where", strict, kept, g.op("Where", k.lower_mask(g, n, n, 0), kept, k.transpose(g, kept)))
    return k.shaped(out, a.shape, a.dtype)


def linalg_eigh(g: GraphBuilder, A: ir.Value, UPLO: str = "L", compute_v: bool = True) -> tuple[ir.Value, ir.Value]:
    """_linalg_eigh (eigenvalues ascending, eigenvectors as columns; an empty (0,) tensor when not
    compute_v, as torch)."""
    n = k.size(g, A, -1)
    diagonal, v = jacobi_eigh(g, _symmetric(g, A, n, UPLO.upper() == "U"))
    values, order = _sorted(g, diagonal, n, descending=False)
    if not compute_v:
        return values, k.empty(g, g.known_dtype(A))
    return values, _columns_in_order(g, v, order, g.rank(A))


def jacobi_svd(g: GraphBuilder, a: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(X, V) with a V = X and X's columns orthogonal, a (*, m, n) with m >= n."""
    r = g.rank(a)
    n = k.size(g, a, -1)
    _, v = _start(g, a, n)
    identity = k.eye(g, n, n, g.known_dtype(a))
    tolerance = g.op("Mul", _squared_tolerance(g, a), _squared_tolerance(g, a))  # ||A^T A||_F <= ||A||_F^2

    def step(b: Any, i: ir.Value, values: list[ir.Value]) -> tuple[ir.Value, list[ir.Value]]:
        x, vectors = values
        p, q, p1, q1, skip = _pair(b, i, n)
        column_p, column_q = k.pick(b, x, p1, r - 1), k.pick(b, x, q1, r - 1)
        alpha = k.sum_over(b, k.square(b, column_p), r - 2)
        beta = k.sum_over(b, k.square(b, column_q), r - 2)
        gamma = k.sum_over(b, b.op("Mul", column_p, column_q), r - 2)
        cos, sin = _rotation(b, alpha, beta, gamma, skip, a)
        rotation = _rotation_matrix(b, p, q, cos, sin, n, identity)
        x = b.op("MatMul", x, rotation)
        gram = b.op("MatMul", k.transpose(b, x, r), x)
        return _unconverged(b, gram, tolerance, n, r), [x, b.op("MatMul", vectors, rotation)]

    return tuple(k.converging_loop(g, _most_iterations(g, n), [a, v], step))  # type: ignore[return-value]


def linalg_svd(g: GraphBuilder, A: ir.Value, full_matrices: bool = False, compute_uv: bool = True,
               driver: str | None = None) -> tuple[ir.Value, ir.Value, ir.Value]:
    """_linalg_svd (U, S descending, Vh); U and Vh empty (0,) tensors when not compute_uv. A wide A
    is decomposed as A^T. full_matrices only differs for a non-square A, refused by the spec."""
    r = g.rank(A)
    m, n = k.size(g, A, -2), k.size(g, A, -1)
    if not (isinstance(m, int) and isinstance(n, int)):
        raise g.refuse("dynamic_matrix_size", detail=f"A's shape {list(g.dims(A))}")
    wide = m < n
    x, v = jacobi_svd(g, k.transpose(g, A) if wide else A)
    small = n if not wide else m
    norms = g.op("Sqrt", c.reduce(g, "ReduceSum", k.square(g, x), [r - 2], False))
    values, order = _sorted(g, norms, small, descending=True)
    if not compute_uv:
        return k.empty(g, g.known_dtype(A)), values, k.empty(g, g.known_dtype(A))
    x, v = _columns_in_order(g, x, order, r), _columns_in_order(g, v, order, r)
    zero = k.scalar(g, 0.0, A)
    safe = g.op("Where", g.op("Equal", values, zero), k.scalar(g, 1.0, A), values)
    u = g.op("Div", x, c.unsqueeze(g, safe, [r - 2]))  # a zero singular value leaves a zero column
    return (v, values, k.transpose(g, u, r)) if wide else (u, values, k.transpose(g, v, r))


def linalg_pinv(g: GraphBuilder, self: ir.Value, atol: ir.Value | None = None, rtol: ir.Value | None = None,
                hermitian: bool = False) -> ir.Value:
    """linalg_pinv.atol_rtol_tensor, as torch computes it: singular values (|eigenvalues| when
    hermitian) at or below max(atol, rtol * the largest) count as 0; rtol defaults to
    eps * max(m, n) when neither tolerance is given, to 0 when only atol is."""
    r = g.rank(self)
    m, n = k.size(g, self, -2), k.size(g, self, -1)
    if not (isinstance(m, int) and isinstance(n, int)):
        raise g.refuse("dynamic_matrix_size", detail=f"the input's shape {list(g.dims(self))}")
    if hermitian:
        values, vectors = linalg_eigh(g, self)
        left, right, size = vectors, k.transpose(g, vectors, r), g.op("Abs", values)
    else:
        u, values, vh = linalg_svd(g, self)
        left, right, size = k.transpose(g, vh, r), k.transpose(g, u, r), values
    largest = c.reduce(g, "ReduceMax", size, [r - 2], True)
    if rtol is None:
        epsilon = _EPSILON.get(g.known_dtype(self), 2.2e-16)
        rtol = k.scalar(g, 0.0 if atol is not None else epsilon * max(m, n), self)
    else:
        rtol = c.unsqueeze(g, g.cast(rtol, g.known_dtype(self)), [g.rank(rtol)])
    threshold = g.op("Mul", rtol, largest)
    if atol is not None:
        threshold = g.op("Max", threshold, c.unsqueeze(g, g.cast(atol, g.known_dtype(self)), [g.rank(atol)]))
    _, inverse = _kept_inverses(g, values, g.op("Greater", size, threshold))
    return g.op("MatMul", g.op("Mul", left, c.unsqueeze(g, inverse, [r - 2])), right)


def _kept_inverses(g: GraphBuilder, values: ir.Value, kept: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(kept, 1 / value where kept else 0): the pseudo-inverse's singular values (lstsq's too)."""
    one, zero = k.scalar(g, 1.0, values), k.scalar(g, 0.0, values)
    return kept, g.op("Where", kept, g.op("Div", one, g.op("Where", kept, values, one)), zero)


# LAPACK drivers torch.linalg.lstsq takes; None is the CPU default, gelsy
_LSTSQ_RANK_DRIVERS = ("gelsy", "gelsd", "gelss")  # compute the rank (gels assumes a full one)
_LSTSQ_SVD_DRIVERS = ("gelsd", "gelss")             # return the singular values and, when m > n, residuals


def linalg_lstsq(g: GraphBuilder, self: ir.Value, b: ir.Value, rcond: float | None = None,
                 driver: str | None = None) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value]:
    """torch.linalg.lstsq (solution, residuals, rank, singular_values) from the Jacobi SVD: the
    minimum-norm least-squares solution V diag(1/s) U^T B over the singular values above
    rcond * the largest (rcond None: eps * max(m, n)), which is every driver's solution for an A of
    full rank. The other outputs are shaped as torch's driver gives them: rank (A's batch, int64)
    but for gels; singular values for gelsd/gelss; residuals (|A X - B|^2 per column) for gels,
    gelsd and gelss when m > n. A vector b (one dim fewer than A) is one column."""
    driver = driver or "gelsy"
    r = g.rank(self)
    m, n = k.size(g, self, -2), k.size(g, self, -1)
    if not (isinstance(m, int) and isinstance(n, int)):
        raise g.refuse("dynamic_matrix_size", detail=f"A's shape {list(g.dims(self))}")
    dtype = g.known_dtype(self)
    vector = g.rank(b) == r - 1
    rhs = c.unsqueeze(g, b, [r - 1]) if vector else b
    if min(m, n) == 0:  # no singular values (and no Jacobi loop over 0 columns): the solution is 0
        values = c.reduce(g, "ReduceSum", self, [r - 1 if m == 0 else r - 2], False)  # (*batch, 0)
        kept = g.op("Greater", values, values)
        solution = g.op("MatMul", k.transpose(g, self, r), rhs)  # a sum over m = 0 terms, or (n = 0) empty
    else:
        u, values, vh = linalg_svd(g, self)
        cutoff = _EPSILON.get(dtype, 2.2e-16) * max(m, n) if rcond is None else rcond
        largest = c.reduce(g, "ReduceMax", values, [r - 2], True)
        kept, inverse = _kept_inverses(g, values, g.op("Greater", values, g.op("Mul", k.scalar(g, cutoff, self), largest)))
        projected = g.op("Mul", g.op("MatMul", k.transpose(g, u, r), rhs), c.unsqueeze(g, inverse, [r - 1]))
        solution = g.op("MatMul", k.transpose(g, vh, r), projected)
    if driver in _LSTSQ_RANK_DRIVERS:
        rank = c.reduce(g, "ReduceSum", g.cast(kept, torch.int64), [r - 2], False)
    else:
        rank = k.empty(g, torch.int64)
    if m > n and driver != "gelsy":
        error = g.op("Sub", g.op("MatMul", self, solution), rhs)
        if n == 0 and driver == "gels":  # LAPACK's gels zeroes B when A has no columns
            error = g.cast(g.op("Greater", rhs, rhs), dtype)
        residuals = c.reduce(g, "ReduceSum", k.square(g, error), [r - 2], False)
    else:
        residuals = k.empty(g, dtype)
    singular_values = values if driver in _LSTSQ_SVD_DRIVERS else k.empty(g, dtype)
    if vector:
        solution = c.squeeze(g, solution, [r - 1])
    return solution, residuals, rank, singular_values
