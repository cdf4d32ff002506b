"""Python mappings for torch's LU, triangular and Cholesky linear algebra (opspecs/linalg.yaml).

Each factorization is one ONNX Loop over the columns, on the whole batch at once
(exporter/emit/lib/linalg_core.py has the machinery):

- LU with partial pivoting (LAPACK getrf): at column j the row with the largest |A[i, j]|
  (i >= j, the first on ties, as idamax) is swapped in, the multipliers below the pivot are
  stored, the trailing matrix is updated. `pivots` are LAPACK's (1-based, sequential swaps);
  `info` is the first zero pivot (1-based), 0 when there is none. A zero pivot leaves its
  column's multipliers 0 and the factorization goes on, as LAPACK's does.
- Triangular solves: forward or back substitution, one row of X per iteration.
- Cholesky: one column of L per iteration; `info` is the first column whose pivot is not
  positive (a matrix that is not positive definite); from there on L holds NaN where LAPACK
  leaves a partial factorization: torch documents neither.

det, slogdet, inv, solve, lu_solve and cholesky_solve are these steps combined. matrix_exp is
scaling and squaring of a degree-18 Taylor polynomial (Paterson-Stockmeyer: 7 products).
"""

from __future__ import annotations

import math
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c
from aten2onnx.exporter.emit.lib import linalg_core as k

# -- LU with partial pivoting ------------------------------------------------------------------------


def lu_factorize(g: GraphBuilder, a: ir.Value, pivot: bool = True) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(LU, pivots, info) of a (*, m, n) stack as LAPACK's getrf: pivots (*, min(m, n)) and info
    (*) are int64 here (torch's are int32: the mappings cast). Without `pivot`, no rows move and
    pivots are 1, 2, ..."""
    r = g.rank(a)
    m, n = k.size(g, a, -2), k.size(g, a, -1)
    steps = k.smaller(g, m, n)
    rows, cols, order = k.column_of(g, k.iota(g, m)), k.iota(g, n), k.iota(g, steps)
    shape_a = g.op("Shape", a)
    batch = k.batch_shape(g, a)
    one = g.constant(1, torch.int64)
    info = g.op("Expand", g.constant(0, torch.int64), g.op("Concat", batch, g.constant([1, 1], torch.int64), axis=0))
    trivial = g.op("Reshape", g.op("Add", order, one), g.constant([1] * (r - 1) + [-1], torch.int64))
    pivots = g.op("Expand", trivial, g.op("Concat", batch, g.constant([1, 1], torch.int64), axis=0))
    k.shaped(info, [*list(g.dims(a))[:-2], 1, 1], ir.DataType.INT64)
    k.shaped(pivots, [*list(g.dims(a))[:-2], 1, steps if isinstance(steps, int) else None], ir.DataType.INT64)
    zero, minus_one = k.scalar(g, 0.0, a), k.scalar(g, -1.0, a)

    def step(b: Any, j: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        x, piv, bad = values
        j1 = k.one(b, j)
        if pivot:
            column = k.pick(b, x, j1, r - 1)
            size = b.op("Where", b.op("Less", rows, j), minus_one, b.op("Abs", column))
            p = b.op("ArgMax", size, axis=r - 2, keepdims=1)
            swap = b.op("Where", b.op("Equal", rows, j), p, b.op("Where", b.op("Equal", rows, p), j, rows))
            x = b.op("GatherElements", x, b.op("Expand", swap, shape_a), axis=r - 2)
        else:
            p = j
        row, column = k.pick(b, x, j1, r - 2), k.pick(b, x, j1, r - 1)
        d = k.pick(b, row, j1, r - 1)
        singular = b.op("Equal", d, zero)
        below = b.op("Greater", rows, j)
        multipliers = b.op("Where", below, b.op("Div", column, b.op("Where", singular, k.scalar(b, 1.0, a), d)), zero)
        right = b.op("Where", b.op("Greater", cols, j), row, zero)
        x = b.op("Sub", x, b.op("Mul", multipliers, right))
        x = b.op("Where", b.op("And", below, b.op("Equal", cols, j)), multipliers, x)
        piv = b.op("Where", b.op("Equal", order, j), b.op("Add", p, one), piv)
        first = b.op("And", b.op("Equal", bad, g.constant(0, torch.int64)), singular)
        bad = b.op("Where", first, b.op("Add", j, one), bad)
        return [x, piv, bad]

    lu, pivots, info = k.fixed_loop(g, steps, [a, pivots, info], step)
    batch_dims = list(g.dims(a))[:-2]
    return (lu, k.shaped(c.squeeze(g, pivots, [r - 2]), [*batch_dims, list(g.dims(pivots))[-1]], ir.DataType.INT64),
            k.shaped(c.squeeze(g, info, [r - 2, r - 1]), batch_dims, ir.DataType.INT64))


def permutation(g: GraphBuilder, pivots: ir.Value, m: k.Size) -> ir.Value:
    """LAPACK pivots (*, steps), 1-based sequential row swaps, as a permutation (*, m) of the rows:
    A = P L U means P^T A = A[perm]."""
    pivots = g.cast(pivots, torch.int64)
    r = g.rank(pivots)
    index = k.iota(g, m)
    start = g.op("Expand", index, g.op("Concat", g.op("Slice", g.op("Shape", pivots), g.constant([0], torch.int64),
                                                    g.constant([r - 1], torch.int64)),
                                       g.constant([1], torch.int64), axis=0))
    k.shaped(start, [*list(g.dims(pivots))[:-1], m if isinstance(m, int) else None], ir.DataType.INT64)
    targets = g.op("Sub", pivots, g.constant(1, torch.int64))

    def step(b: Any, i: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        (perm,) = values
        i1 = k.one(b, i)
        t = k.pick(b, targets, i1, r - 1)
        here, there = k.pick(b, perm, i1, r - 1), b.op("GatherElements", perm, t, axis=r - 1)
        return [b.op("Where", b.op("Equal", index, i), there, b.op("Where", b.op("Equal", index, t), here, perm))]

    return k.fixed_loop(g, k.size(g, pivots, -1), [start], step)[0]


def permute_rows(g: GraphBuilder, x: ir.Value, perm: ir.Value) -> ir.Value:
    """x[..., perm, :] with perm (*p, m) broadcast against x's batch: exact (no products)."""
    column = c.unsqueeze(g, perm, [g.rank(perm)])
    k.shaped(column, [*list(g.dims(perm)), 1], ir.DataType.INT64)
    wide = k.expand_batch(g, x, column)
    dims = [*k.broadcast_dims(list(g.dims(x))[:-2], list(g.dims(perm))[:-1]), *list(g.dims(x))[-2:]]
    index = g.op("Expand", column, g.op("Shape", wide))
    return k.shaped(g.op("GatherElements", wide, index, axis=len(dims) - 2), dims, x.dtype)


def inverse_permutation(g: GraphBuilder, perm: ir.Value) -> ir.Value:
    """inv with inv[perm[i]] = i."""
    r = g.rank(perm)
    positions = g.op("Expand", k.iota(g, k.size(g, perm, -1)), g.op("Shape", perm))
    return k.shaped(g.op("ScatterElements", perm, perm, positions, axis=r - 1), perm.shape, perm.dtype)


# -- triangular solves -------------------------------------------------------------------------------


def substitute(g: GraphBuilder, t: ir.Value, b: ir.Value, lower: bool, unit: bool) -> ir.Value:
    """X with T X = B, T (*, n, n) triangular (only its `lower` or upper triangle and, unless
    `unit`, its diagonal are read), B (*, n, k); batches broadcast."""
    n = k.size(g, t, -1)
    rows, cols = k.column_of(g, k.iota(g, n)), k.iota(g, n)
    start = g.op("Expand", k.zeros(g, g.op("Shape", b), b), g.op("Concat", k.batch_shape(g, t),
                                                              g.constant([1, 1], torch.int64), axis=0))
    dims = [*k.broadcast_dims(list(g.dims(t))[:-2], list(g.dims(b))[:-2]), *list(g.dims(b))[-2:]]
    k.shaped(start, dims, b.dtype)
    zero = k.scalar(g, 0.0, b)
    last = g.op("Sub", k.as_value(g, n), g.constant(1, torch.int64))

    rt, rb = g.rank(t), g.rank(b)

    def step(s: Any, it: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        (x,) = values
        i = it if lower else s.op("Sub", last, it)
        i1 = k.one(s, i)
        row = k.pick(s, t, i1, rt - 2)
        known = s.op("Where", s.op("Less", cols, i) if lower else s.op("Greater", cols, i), row, zero)
        rest = s.op("Sub", k.pick(s, b, i1, rb - 2), s.op("MatMul", known, x))
        value = rest if unit else s.op("Div", rest, k.pick(s, row, i1, rt - 1))
        return [s.op("Where", s.op("Equal", rows, i), value, x)]

    return k.fixed_loop(g, n, [start], step)[0]


def _vector_rhs(g: GraphBuilder, a: ir.Value, b: ir.Value) -> bool:
    """torch's rule: B is a vector (or a batch of them) when it is 1-D or has A's shape without its
    last dim."""
    return g.rank(b) == 1 or (g.rank(b) == g.rank(a) - 1 and list(g.dims(b)) == list(g.dims(a))[:-1])


def solve_triangular(g: GraphBuilder, self: ir.Value, B: ir.Value, upper: bool, left: bool = True,
                     unitriangular: bool = False) -> ir.Value:
    """linalg_solve_triangular: A X = B (left) or X A = B, A being `self`."""
    if left:
        return substitute(g, self, B, lower=not upper, unit=unitriangular)
    x = substitute(g, k.transpose(g, self), k.transpose(g, B), lower=upper, unit=unitriangular)
    return k.transpose(g, x)


def triangular_solve(g: GraphBuilder, self: ir.Value, A: ir.Value, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False) -> tuple[ir.Value, ir.Value]:
    """triangular_solve (the deprecated torch.triangular_solve): (X with op(A) X = B, a copy of A
    broadcast to the batch)."""
    t = k.transpose(g, A) if transpose else A
    x = substitute(g, t, self, lower=upper == transpose, unit=unitriangular)
    clone = k.expand_batch(g, A, self) if g.rank(self) > 2 else g.op("Identity", A)
    return x, clone


# -- LU-based solves ---------------------------------------------------------------------------------


def lu_solve_left(g: GraphBuilder, lu: ir.Value, pivots: ir.Value, b: ir.Value, adjoint: bool) -> ir.Value:
    """A X = B (or A^T X = B) for A = P L U given as LAPACK's (LU, pivots)."""
    n = k.size(g, lu, -1)
    perm = permutation(g, pivots, n)
    if not adjoint:  # L U X = P^T B
        y = substitute(g, lu, permute_rows(g, b, perm), lower=True, unit=True)
        return substitute(g, lu, y, lower=False, unit=False)
    lu_t = k.transpose(g, lu)  # U^T L^T (P^T X) = B
    z = substitute(g, lu_t, b, lower=True, unit=False)
    w = substitute(g, lu_t, z, lower=False, unit=True)
    return permute_rows(g, w, inverse_permutation(g, perm))


def lu_solve(g: GraphBuilder, LU: ir.Value, pivots: ir.Value, B: ir.Value, left: bool = True,
             adjoint: bool = False) -> ir.Value:
    """linalg_lu_solve: A X = B, A^T X = B (adjoint), X A = B or X A^T = B (left=False)."""
    if left:
        return lu_solve_left(g, LU, pivots, B, adjoint)
    return k.transpose(g, lu_solve_left(g, LU, pivots, k.transpose(g, B), not adjoint))


def lu_factor_ex(g: GraphBuilder, A: ir.Value, pivot: bool = True) -> tuple[ir.Value, ir.Value, ir.Value]:
    """linalg_lu_factor_ex (LU, pivots, info), int32 as torch's."""
    lu, pivots, info = lu_factorize(g, A, pivot)
    return lu, g.cast(pivots, torch.int32), g.cast(info, torch.int32)


def linalg_lu(g: GraphBuilder, A: ir.Value, pivot: bool = True) -> tuple[ir.Value, ir.Value, ir.Value]:
    """linalg_lu: (P, L, U) with A = P L U."""
    lu, pivots, _ = lu_factorize(g, A, pivot)
    return unpack(g, lu, pivots, k.size(g, A, -2), k.size(g, A, -1), True, True)


def lu_unpack(g: GraphBuilder, LU_data: ir.Value, LU_pivots: ir.Value, unpack_data: bool = True,
              unpack_pivots: bool = True) -> tuple[ir.Value, ir.Value, ir.Value]:
    """lu_unpack: (P, L, U) from LAPACK's (LU, pivots); the parts not asked for are empty."""
    return unpack(g, LU_data, LU_pivots, k.size(g, LU_data, -2), k.size(g, LU_data, -1), unpack_data,
                  unpack_pivots)


def unpack(g: GraphBuilder, lu: ir.Value, pivots: ir.Value, m: k.Size, n: k.Size, data: bool,
           rows: bool) -> tuple[ir.Value, ir.Value, ir.Value]:
    dtype = g.known_dtype(lu)
    steps = k.smaller(g, m, n)
    if rows:
        perm = permutation(g, pivots, m)  # P[i, j] = (i == perm[j])
        p = g.cast(g.op("Equal", k.column_of(g, k.iota(g, m)), c.unsqueeze(g, perm, [g.rank(perm) - 1])), dtype)
    else:
        p = k.empty(g, dtype)
    if not data:
        return p, k.empty(g, dtype), k.empty(g, dtype)
    lower = g.op("Add", k.tril(g, k.slice_last(g, lu, -1, steps), m, steps, -1), k.eye(g, m, steps, dtype))
    upper = k.triu(g, k.slice_last(g, lu, -2, steps), steps, n)
    return p, lower, upper


# -- det, slogdet, inv, solve ------------------------------------------------------------------------


def _diagonal(g: GraphBuilder, x: ir.Value, n: k.Size) -> ir.Value:
    """The diagonal (*, n) of a square stack, exactly (a sum of the entry and zeros)."""
    on = g.op("Equal", k.column_of(g, k.iota(g, n)), k.iota(g, n))
    return c.reduce(g, "ReduceSum", g.op("Where", on, x, k.scalar(g, 0.0, x)), [g.rank(x) - 1], False)


def _permutation_sign(g: GraphBuilder, pivots: ir.Value, like: ir.Value) -> ir.Value:
    """(-1) ** (number of real swaps), (*), in like's dtype."""
    steps = k.size(g, pivots, -1)
    moved = g.op("Not", g.op("Equal", pivots, g.op("Add", k.iota(g, steps), g.constant(1, torch.int64))))
    count = c.reduce(g, "ReduceSum", g.cast(moved, torch.int64), [g.rank(pivots) - 1], False)
    odd = g.op("Mod", count, g.constant(2, torch.int64))
    return g.cast(g.op("Sub", g.constant(1, torch.int64), g.op("Mul", odd, g.constant(2, torch.int64))), g.known_dtype(like))


def linalg_det(g: GraphBuilder, A: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """_linalg_det (det, LU, pivots): torch factors A^T (A contiguous, as every exported input is):
    the same determinant, and the same LU and pivots as torch's."""
    n = k.size(g, A, -1)
    lu, pivots, _ = lu_factorize(g, k.transpose(g, A))
    det = g.op("Mul", c.reduce(g, "ReduceProd", _diagonal(g, lu, n), [g.rank(A) - 2], False),
               _permutation_sign(g, pivots, A))
    return det, lu, g.cast(pivots, torch.int32)


def linalg_slogdet(g: GraphBuilder, A: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value]:
    """_linalg_slogdet (sign, logabsdet, LU, pivots): sign 0 and logabsdet -inf for a singular A
    (an exactly zero pivot)."""
    n = k.size(g, A, -1)
    lu, pivots, _ = lu_factorize(g, k.transpose(g, A))
    diagonal = _diagonal(g, lu, n)
    last = g.rank(A) - 2
    sign = g.op("Mul", c.reduce(g, "ReduceProd", g.op("Sign", diagonal), [last], False),
                _permutation_sign(g, pivots, A))
    logabsdet = c.reduce(g, "ReduceSum", g.op("Log", g.op("Abs", diagonal)), [last], False)
    return sign, logabsdet, lu, g.cast(pivots, torch.int32)


def inv_ex(g: GraphBuilder, A: ir.Value) -> tuple[ir.Value, ir.Value]:
    """linalg_inv_ex (inverse, info): the LU solve of A X = I. A singular A (info > 0) gives inf/NaN
    entries, as torch's."""
    n = k.size(g, A, -1)
    if isinstance(n, int) and n == 0:  # 0x0 matrices are their own inverses; no Loop over no columns
        return g.op("Identity", A), g.cast(k.zeros(g, k.batch_shape(g, A), A), torch.int32)
    lu, pivots, info = lu_factorize(g, A)
    inverse = lu_solve_left(g, lu, pivots, k.eye(g, n, n, g.known_dtype(A)), adjoint=False)
    return inverse, g.cast(info, torch.int32)


def solve_ex(g: GraphBuilder, A: ir.Value, B: ir.Value, left: bool = True) -> tuple[ir.Value, ...]:
    """_linalg_solve_ex (result, LU, pivots, info): LU of A, then lu_solve; B may be a (batch of)
    vector(s), by torch's rule."""
    lu, pivots, info = lu_factorize(g, A)
    vector = _vector_rhs(g, A, B)
    rhs = c.unsqueeze(g, B, [g.rank(B)]) if vector else k.shaped(g.op("Identity", B), B.shape, B.dtype)
    if vector:
        k.shaped(rhs, [*list(g.dims(B)), 1], B.dtype)
    x = lu_solve(g, lu, pivots, rhs, left, adjoint=False)
    if vector:
        x = c.squeeze(g, x, [max(g.rank(A), g.rank(B) + 1) - 1])
    return x, lu, g.cast(pivots, torch.int32), g.cast(info, torch.int32)


# -- Cholesky ----------------------------------------------------------------------------------------


def cholesky_factorize(g: GraphBuilder, a: ir.Value, upper: bool) -> tuple[ir.Value, ir.Value]:
    """(L, info) with A = L L^T, reading A's lower triangle (upper: U with A = U^T U from its upper
    triangle); info (*) int64 is the first column whose pivot is not positive."""
    r = g.rank(a)
    x = k.transpose(g, a) if upper else a
    n = k.size(g, a, -1)
    rows, cols = k.column_of(g, k.iota(g, n)), k.iota(g, n)
    start = k.zeros(g, g.op("Shape", a), a)
    k.shaped(start, a.shape, a.dtype)
    info = g.op("Expand", g.constant(0, torch.int64),
                g.op("Concat", k.batch_shape(g, a), g.constant([1, 1], torch.int64), axis=0))
    k.shaped(info, [*list(g.dims(a))[:-2], 1, 1], ir.DataType.INT64)
    zero = k.scalar(g, 0.0, a)
    one = g.constant(1, torch.int64)

    def step(b: Any, j: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        lower, bad = values
        j1 = k.one(b, j)
        done = k.pick(b, lower, j1, r - 2)  # row j of L: its columns < j are known, the rest 0
        rest = b.op("Sub", k.pick(b, x, j1, r - 1), b.op("MatMul", lower, _row_t(b, done, r)))
        d2 = k.pick(b, rest, j1, r - 2)
        d = b.op("Sqrt", d2)
        column = b.op("Where", b.op("Greater", rows, j), b.op("Div", rest, d),
                      b.op("Where", b.op("Equal", rows, j), d, zero))
        lower = b.op("Where", b.op("Equal", cols, j), column, lower)
        failed = b.op("Not", b.op("Greater", d2, zero))
        first = b.op("And", b.op("Equal", bad, g.constant(0, torch.int64)), failed)
        return [lower, b.op("Where", first, b.op("Add", j, one), bad)]

    lower, info = k.fixed_loop(g, n, [start, info], step)
    info = k.shaped(c.squeeze(g, info, [r - 2, r - 1]), list(g.dims(a))[:-2], ir.DataType.INT64)
    return (k.transpose(g, lower) if upper else lower), info


def _row_t(g: GraphBuilder, row: ir.Value, r: int) -> ir.Value:
    """A (*, 1, n) row as a (*, n, 1) column."""
    return g.op("Transpose", row, perm=[*range(r - 2), r - 1, r - 2])


def cholesky_ex(g: GraphBuilder, self: ir.Value, upper: bool = False, with_info: bool = True) -> Any:
    """linalg_cholesky_ex (L, info), linalg_cholesky and cholesky (L)."""
    factor, info = cholesky_factorize(g, self, upper)
    return (factor, g.cast(info, torch.int32)) if with_info else factor


def cholesky_solve(g: GraphBuilder, self: ir.Value, input2: ir.Value, upper: bool = False) -> ir.Value:
    """cholesky_solve: X with A X = B for A = L L^T (or U^T U); B is `self`, the factor `input2`."""
    if upper:
        y = substitute(g, k.transpose(g, input2), self, lower=True, unit=False)
        return substitute(g, input2, y, lower=False, unit=False)
    y = substitute(g, input2, self, lower=True, unit=False)
    return substitute(g, k.transpose(g, input2), y, lower=False, unit=False)


def cholesky_inverse(g: GraphBuilder, self: ir.Value, upper: bool = False) -> ir.Value:
    """cholesky_inverse: (L L^T)^-1 = L^-T L^-1 (or (U^T U)^-1 = U^-1 U^-T) from the factor's
    triangular inverse."""
    n = k.size(g, self, -1)
    inverse = substitute(g, self, k.eye(g, n, n, g.known_dtype(self)), lower=not upper, unit=False)
    if upper:
        return g.op("MatMul", inverse, k.transpose(g, inverse))
    return g.op("MatMul", k.transpose(g, inverse), inverse)


# -- matrix exponential ------------------------------------------------------------------------------

_TAYLOR_DEGREE = 18
# ||A||_1 up to which the degree-18 Taylor polynomial is exact to the dtype's precision: the
# remainder is below theta**19 / 19!, 6e-13 at 2 (float32 rounds at 6e-8), 8e-18 at 1 (float64).
_TAYLOR_REACH = {torch.float64: 1.0}
_TAYLOR_REACH_DEFAULT = 2.0


def matrix_exp(g: GraphBuilder, self: ir.Value) -> ir.Value:
    """linalg_matrix_exp: exp(A / 2^s)^(2^s) with s the smallest power that brings ||A||_1 within
    the Taylor polynomial's reach (each matrix of the batch its own s)."""
    r = g.rank(self)
    n = k.size(g, self, -1)
    dtype = g.known_dtype(self)
    reach = _TAYLOR_REACH.get(dtype, _TAYLOR_REACH_DEFAULT)
    column_sums = c.reduce(g, "ReduceSum", g.op("Abs", self), [r - 2], True)
    norm = c.reduce(g, "ReduceMax", column_sums, [r - 1], True)
    halvings = g.op("Ceil", g.op("Div", g.op("Log", g.op("Div", norm, k.scalar(g, reach, self))),
                                 k.scalar(g, math.log(2.0), self)))
    halvings = g.op("Where", g.op("Greater", halvings, k.scalar(g, 0.0, self)), halvings, k.scalar(g, 0.0, self))
    halvings = g.op("Where", g.op("Less", halvings, k.scalar(g, 1024.0, self)), halvings, k.scalar(g, 1024.0, self))
    x = g.op("Div", self, g.op("Pow", k.scalar(g, 2.0, self), halvings))
    result = _taylor(g, x, k.eye(g, n, n, dtype))
    squarings = g.cast(halvings, torch.int64)
    flat = g.op("Reshape", squarings, g.constant([-1], torch.int64))
    most = c.reduce(g, "ReduceMax", g.op("Concat", flat, g.constant([0], torch.int64), axis=0), [0], False)
    k.shaped(result, self.shape, self.dtype)

    def step(b: Any, i: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        (y,) = values
        return [b.op("Where", b.op("Less", i, squarings), b.op("MatMul", y, y), y)]

    return k.fixed_loop(g, most, [result], step)[0]


def _taylor(g: GraphBuilder, x: ir.Value, identity: ir.Value) -> ir.Value:
    """sum_{j <= 18} x^j / j! by Paterson-Stockmeyer in blocks of 4 (x^2, x^3, x^4, then Horner in x^4)."""
    powers = [identity, x, g.op("MatMul", x, x)]
    powers.append(g.op("MatMul", powers[2], x))
    x4 = g.op("MatMul", powers[2], powers[2])
    coefficients = [1.0 / math.factorial(j) for j in range(_TAYLOR_DEGREE + 1)]
    blocks = [coefficients[s:s + 4] for s in range(0, len(coefficients), 4)]

    def block(terms: list[float]) -> ir.Value:
        total = g.op("Mul", powers[0], k.scalar(g, terms[0], x))
        for power, coefficient in zip(powers[1:], terms[1:]):
            total = g.op("Add", total, g.op("Mul", power, k.scalar(g, coefficient, x)))
        return total

    result = block(blocks[-1])
    for terms in reversed(blocks[:-1]):
        result = g.op("Add", g.op("MatMul", result, x4), block(terms))
    return result
