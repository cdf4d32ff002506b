"""Python mappings for torch's LDL factorization and solve (opspecs/linalg.yaml): LAPACK's
Bunch-Kaufman `?sytf2` ('L') and `?sytrs` ('L') step for step, on the Loop machinery of
linalg_core.py.

Factorization: one Loop iteration per column k for the whole batch. Each matrix picks its own
pivot (a Where over the batch): column k alone (1x1), after swapping row/column k with the row of
the largest entry below the diagonal (`imax`), or a 2x2 block of k and k+1 after swapping k+1 with
imax; alpha = (1 + sqrt(17)) / 8 decides as in LAPACK, the first largest entry wins on ties. A 2x2
step finishes column k+1 too, so the matrix carries a "skip" flag that makes the next iteration
leave it alone. Only the lower triangle is read (as LAPACK): each step works on the symmetric
matrix it stands for. The interchanges touch the trailing matrix only (LAPACK leaves the columns
of L already computed in place: `?sytrs` replays the interchanges in between the column steps).
Pivots are LAPACK's: 1-based, kp for a 1x1 step, -kp twice for a 2x2 block. A column that is all
zero (the diagonal and below) is a zero pivot: left as it is, info the first such column, as LAPACK.

Solve: `?sytrs`: forward over the columns (interchange, the column of L, the 1x1 or 2x2 block of
D), then backward (the transposed columns of L, the interchange undone), each matrix following its
own pivots.
"""

from __future__ import annotations

import math
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c
from aten2onnx.exporter.emit.lib import linalg_core as k

_ALPHA = (1.0 + math.sqrt(17.0)) / 8.0  # Bunch-Kaufman's growth bound, LAPACK's ALPHA


def _swap_rows(b: Any, x: ir.Value, rows: ir.Value, first: ir.Value, second: ir.Value, axis: int) -> ir.Value:
    """x with rows `first` and `second` (per-matrix indices, (*, 1, 1)) exchanged along `axis`: exact."""
    order = b.op("Where", b.op("Equal", rows, first), second, b.op("Where", b.op("Equal", rows, second), first, rows))
    return b.op("GatherElements", x, b.op("Expand", order, b.op("Shape", x)), axis=axis)


def _next(b: Any, j: ir.Value, last: ir.Value) -> ir.Value:
    """j + 1, kept within the matrix (int64 Min is opset 12): the second column of a 2x2 block."""
    return b.op("Where", b.op("Less", j, last), b.op("Add", j, b.constant(1, torch.int64)), last)


def _t(b: Any, x: ir.Value, r: int) -> ir.Value:
    return k.transpose(b, x, r)


def ldl_factorize(g: GraphBuilder, a: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(LD, pivots, info) of a (*, n, n) stack as LAPACK's ?sytrf ('L'): LD lower triangular, pivots
    (*, n) and info (*) int64 (torch's are int32: the mappings cast)."""
    r = g.rank(a)
    n = k.size(g, a, -1)
    rows, cols = k.column_of(g, k.iota(g, n)), k.iota(g, n)
    lower = g.op("Not", g.op("Greater", cols, rows))  # column <= row
    last = g.op("Sub", k.as_value(g, n), g.constant(1, torch.int64))
    batch = k.batch_shape(g, a)
    row_shape = g.op("Concat", batch, g.constant([1], torch.int64), c.unsqueeze(g, k.as_value(g, n), [0]), axis=0)
    flags_shape = g.op("Concat", batch, g.constant([1, 1], torch.int64), axis=0)
    batch_dims = list(g.dims(a))[:-2]
    pivots = k.shaped(g.op("Expand", g.constant(0, torch.int64), row_shape),
                      [*batch_dims, 1, n if isinstance(n, int) else None], ir.DataType.INT64)
    info = k.shaped(g.op("Expand", g.constant(0, torch.int64), flags_shape), [*batch_dims, 1, 1], ir.DataType.INT64)
    skip = k.shaped(g.op("Expand", g.constant(False), flags_shape), [*batch_dims, 1, 1], ir.DataType.BOOL)
    zero, one, minus_one = k.scalar(g, 0.0, a), k.scalar(g, 1.0, a), k.scalar(g, -1.0, a)
    alpha = k.scalar(g, _ALPHA, a)
    i_one = g.constant(1, torch.int64)

    def step(b: Any, j: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        x, piv, bad, skipped = values
        act = b.op("Not", skipped)
        j1 = k.one(b, j)
        sym = b.op("Where", lower, x, _t(b, x, r))  # the symmetric matrix the lower triangle stands for
        below = b.op("Greater", rows, j)
        column = b.op("Abs", k.pick(b, sym, j1, r - 1))
        absakk = k.pick(b, column, j1, r - 2)
        imax = b.op("ArgMax", b.op("Where", below, column, minus_one), axis=r - 2, keepdims=1)
        colmax = b.op("GatherElements", b.op("Where", below, column, zero), imax, axis=r - 2)
        # the largest off-diagonal |entry| of row imax within the trailing matrix
        row = b.op("GatherElements", sym, b.op("Expand", imax, row_shape), axis=r - 2)
        off = b.op("And", b.op("Not", b.op("Less", cols, j)), b.op("Not", b.op("Equal", cols, imax)))
        rowmax = c.reduce(b, "ReduceMax", b.op("Where", off, b.op("Abs", row), zero), [r - 1], True)
        diagonal_imax = b.op("Abs", b.op("GatherElements", row, imax, axis=r - 1))
        singular = b.op("Not", b.op("Greater", b.op("Max", absakk, colmax), zero))
        big_enough = b.op("Not", b.op("Less", absakk, b.op("Mul", alpha, colmax)))
        big_for_row = b.op("Not", b.op("Less", absakk, b.op("Mul", b.op("Mul", alpha, colmax),
                                                            b.op("Div", colmax, rowmax))))
        stay = b.op("Or", singular, b.op("Or", big_enough, big_for_row))
        swap_one = b.op("Not", b.op("Less", diagonal_imax, b.op("Mul", alpha, rowmax)))
        two = b.op("And", b.op("Not", stay), b.op("Not", swap_one))
        kp = b.op("Where", stay, j, imax)
        kk = b.op("Add", j, b.cast(two, torch.int64))
        # interchange kk and kp in the trailing matrix (rows and columns >= j), as a symmetric permutation
        swapped = _swap_rows(b, _swap_rows(b, sym, rows, kk, kp, r - 2), cols, kk, kp, r - 1)
        trailing = b.op("And", b.op("Not", b.op("Less", rows, j)), b.op("Not", b.op("Less", cols, j)))
        x1 = b.op("Where", trailing, swapped, x)

        # 1x1 pivot: A22 -= x (1/d) x^T (as dsyr: A(i,j) + x(i) * (-d11 x(j))), then the column / d
        col = k.pick(b, x1, j1, r - 1)
        d = k.pick(b, col, j1, r - 2)
        d11 = b.op("Div", one, d)
        v = b.op("Where", below, col, zero)
        inner = b.op("And", below, _t(b, below, 2))
        one_step = b.op("Where", inner, b.op("Add", x1, b.op("Mul", v, _t(b, b.op("Mul", b.op("Neg", d11), v), r))), x1)
        one_step = b.op("Where", b.op("And", below, b.op("Equal", cols, j)), b.op("Mul", v, d11), one_step)

        # 2x2 pivot on columns j, j+1 (dsytf2's wk, wkp1 for the rows below the block)
        j2 = k.one(b, _next(b, j, last))
        col2 = k.pick(b, x1, j2, r - 1)
        d21 = k.pick(b, col, j2, r - 2)
        e11 = b.op("Div", k.pick(b, col2, j2, r - 2), d21)
        e22 = b.op("Div", d, d21)
        scale = b.op("Div", b.op("Div", one, b.op("Sub", b.op("Mul", e11, e22), one)), d21)
        far = b.op("Greater", rows, b.op("Add", j, i_one))
        u, w = b.op("Where", far, col, zero), b.op("Where", far, col2, zero)
        wk = b.op("Mul", scale, b.op("Sub", b.op("Mul", e11, u), w))
        wkp1 = b.op("Mul", scale, b.op("Sub", b.op("Mul", e22, w), u))
        update = b.op("Sub", b.op("Sub", x1, b.op("Mul", u, _t(b, wk, r))), b.op("Mul", w, _t(b, wkp1, r)))
        two_step = b.op("Where", b.op("And", far, _t(b, far, 2)), update, x1)
        two_step = b.op("Where", b.op("And", far, b.op("Equal", cols, j)), wk, two_step)
        two_step = b.op("Where", b.op("And", far, b.op("Equal", cols, b.op("Add", j, i_one))), wkp1, two_step)

        moved = b.op("And", act, b.op("Not", singular))
        x = b.op("Where", b.op("And", act, two), two_step, b.op("Where", moved, one_step, x))
        number = b.op("Add", kp, i_one)
        number = b.op("Where", two, b.op("Neg", number), number)
        piv = b.op("Where", b.op("And", act, b.op("Equal", cols, j)), number, piv)
        piv = b.op("Where", b.op("And", b.op("And", act, two), b.op("Equal", cols, b.op("Add", j, i_one))), number, piv)
        first = b.op("And", b.op("And", act, singular), b.op("Equal", bad, g.constant(0, torch.int64)))
        bad = b.op("Where", first, b.op("Add", j, i_one), bad)
        return [x, piv, bad, b.op("And", act, two)]

    x, pivots, info, _ = k.fixed_loop(g, n, [a, pivots, info, skip], step)
    ld = k.shaped(g.op("Where", lower, x, zero), a.shape, a.dtype)
    return (ld, k.shaped(c.squeeze(g, pivots, [r - 2]), [*batch_dims, n if isinstance(n, int) else None],
                         ir.DataType.INT64),
            k.shaped(c.squeeze(g, info, [r - 2, r - 1]), batch_dims, ir.DataType.INT64))


def ldl_factor_ex(g: GraphBuilder, self: ir.Value, with_info: bool = True) -> tuple[ir.Value, ...]:
    """linalg_ldl_factor_ex (LD, pivots, info) and linalg_ldl_factor (LD, pivots), int32 as torch's.
    `hermitian` is the same factorization for real matrices (complex ones are refused by codegen)."""
    ld, pivots, info = ldl_factorize(g, self)
    if with_info:
        return ld, g.cast(pivots, torch.int32), g.cast(info, torch.int32)
    return ld, g.cast(pivots, torch.int32)


def ldl_solve(g: GraphBuilder, LD: ir.Value, pivots: ir.Value, B: ir.Value) -> ir.Value:
    """linalg_ldl_solve: X with A X = B for A = L D L^T given as LAPACK's (LD, pivots), as ?sytrs
    ('L'); batches broadcast."""
    r = g.rank(LD)
    n = k.size(g, LD, -1)
    rows = k.column_of(g, k.iota(g, n))
    last = g.op("Sub", k.as_value(g, n), g.constant(1, torch.int64))
    piv = g.cast(c.unsqueeze(g, pivots, [r - 2]), torch.int64)  # (*, 1, n): a pick is (*, 1, 1)
    k.shaped(piv, [*list(g.dims(LD))[:-2], 1, n if isinstance(n, int) else None], ir.DataType.INT64)
    start = g.op("Expand", B, g.op("Concat", k.batch_shape(g, LD), g.constant([1, 1], torch.int64), axis=0))
    dims = [*k.broadcast_dims(list(g.dims(LD))[:-2], list(g.dims(B))[:-2]), *list(g.dims(B))[-2:]]
    k.shaped(start, dims, B.dtype)
    rx = len(dims)
    flags = k.shaped(g.op("Expand", g.constant(False), g.op("Concat", k.batch_shape(g, LD),
                                                              g.constant([1, 1], torch.int64), axis=0)),
                     [*list(g.dims(LD))[:-2], 1, 1], ir.DataType.BOOL)
    zero, one = k.scalar(g, 0.0, LD), k.scalar(g, 1.0, LD)
    i_one, i_zero = g.constant(1, torch.int64), g.constant(0, torch.int64)

    def pivot_at(b: Any, i1: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(2x2 block?, 0-based interchange row) at a position, per matrix."""
        p = k.pick(b, piv, i1, r - 1)
        two = b.op("Less", p, i_zero)
        return two, b.op("Sub", b.op("Where", two, b.op("Neg", p), p), i_one)

    def forward(b: Any, j: ir.Value, values: list[ir.Value]) -> list[ir.Value]:  # L D Y = B
        x, skipped = values
        act = b.op("Not", skipped)
        j1 = k.one(b, j)
        two, kp = pivot_at(b, j1)
        j_next = _next(b, j, last)  # a skipped second column reads its block's pivot: stay in range
        x = _swap_rows(b, x, rows, b.op("Where", two, j_next, j), kp, rx - 2)
        lj = k.pick(b, LD, j1, r - 1)
        xj = k.pick(b, x, j1, rx - 2)
        d = k.pick(b, lj, j1, r - 2)
        below = b.op("Greater", rows, j)
        one_step = b.op("Where", below, b.op("Sub", x, b.op("Mul", lj, xj)), x)
        one_step = b.op("Where", b.op("Equal", rows, j), b.op("Mul", xj, b.op("Div", one, d)), one_step)
        j2 = k.one(b, j_next)
        lj2 = k.pick(b, LD, j2, r - 1)
        xj2 = k.pick(b, x, j2, rx - 2)
        far = b.op("Greater", rows, b.op("Add", j, i_one))
        two_step = b.op("Where", far, b.op("Sub", b.op("Sub", x, b.op("Mul", lj, xj)), b.op("Mul", lj2, xj2)), x)
        akm1k = k.pick(b, lj, j2, r - 2)
        akm1 = b.op("Div", d, akm1k)
        ak = b.op("Div", k.pick(b, lj2, j2, r - 2), akm1k)
        denom = b.op("Sub", b.op("Mul", akm1, ak), one)
        bkm1, bk = b.op("Div", xj, akm1k), b.op("Div", xj2, akm1k)
        first = b.op("Div", b.op("Sub", b.op("Mul", ak, bkm1), bk), denom)
        second = b.op("Div", b.op("Sub", b.op("Mul", akm1, bk), bkm1), denom)
        two_step = b.op("Where", b.op("Equal", rows, j), first,
                        b.op("Where", b.op("Equal", rows, j_next), second, two_step))
        new = b.op("Where", two, two_step, one_step)
        return [b.op("Where", act, new, values[0]), b.op("And", act, two)]

    def backward(b: Any, it: ir.Value, values: list[ir.Value]) -> list[ir.Value]:  # L^T X = Y
        x, skipped = values
        act = b.op("Not", skipped)
        j = b.op("Sub", last, it)
        j1 = k.one(b, j)
        two, kp = pivot_at(b, j1)  # a 2x2 block ends at j: rows j - 1 and j
        below = b.op("Greater", rows, j)
        lj = b.op("Where", below, k.pick(b, LD, j1, r - 1), zero)
        x1 = b.op("Where", b.op("Equal", rows, j), b.op("Sub", x, b.op("MatMul", _t(b, lj, r), x)), x)
        j_prev = b.op("Where", b.op("Greater", j, i_zero), b.op("Sub", j, i_one), i_zero)
        lp = b.op("Where", below, k.pick(b, LD, k.one(b, j_prev), r - 1), zero)
        x2 = b.op("Where", b.op("And", two, b.op("Equal", rows, j_prev)),
                  b.op("Sub", x, b.op("MatMul", _t(b, lp, r), x)), x1)
        x2 = _swap_rows(b, x2, rows, j, kp, rx - 2)
        return [b.op("Where", act, x2, x), b.op("And", act, two)]

    y = k.fixed_loop(g, n, [start, flags], forward)[0]
    return k.shaped(k.fixed_loop(g, n, [y, flags], backward)[0], dims, B.dtype)
