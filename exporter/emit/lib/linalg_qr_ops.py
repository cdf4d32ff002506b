"""Python mappings for torch's Householder QR family (opspecs/linalg.yaml): geqrf, householder_product,
linalg_qr and ormqr, on the Loop machinery of linalg_core.py.

They follow LAPACK (dgeqr2, dorg2r, dorm2r) step for step, so the packed reflectors, tau, Q and R
are torch's own, signs included: reflector j is H_j = I - tau_j v_j v_j^T with v_j[j] = 1, v_j's
entries below j stored under R's diagonal, and Q = H_0 H_1 ... H_(k-1). dlarfg's choice:
beta = -sign(alpha) * ||x|| (sign(0) = +), tau = (beta - alpha) / beta, and H = I (tau = 0) when
the entries below the diagonal are already 0.
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c
from aten2onnx.exporter.emit.lib import linalg_core as k


def _transpose_batched(g: GraphBuilder, x: ir.Value, r: int) -> ir.Value:
    return g.op("Transpose", x, perm=[*range(r - 2), r - 1, r - 2])


def geqrf_factorize(g: GraphBuilder, a: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(packed R and reflectors (*, m, n), tau (*, min(m, n))) of a (*, m, n) stack."""
    r = g.rank(a)
    m, n = k.size(g, a, -2), k.size(g, a, -1)
    steps = k.smaller(g, m, n)
    rows, cols, order = k.column_of(g, k.iota(g, m)), k.iota(g, n), k.iota(g, steps)
    taus = g.op("Expand", k.scalar(g, 0.0, a), g.op("Concat", k.batch_shape(g, a), g.constant([1], torch.int64),
                                                    c.unsqueeze(g, k.as_value(g, steps), [0]), axis=0))
    k.shaped(taus, [*list(g.dims(a))[:-2], 1, steps if isinstance(steps, int) else None], a.dtype)
    zero, one = k.scalar(g, 0.0, a), k.scalar(g, 1.0, a)

    def step(b: Any, j: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        x, tau_row = values
        j1 = k.one(b, j)
        column = k.pick(b, x, j1, r - 1)                      # (*, m, 1)
        alpha = k.pick(b, column, j1, r - 2)                   # (*, 1, 1)
        below = b.op("Greater", rows, j)
        rest = b.op("Where", below, column, zero)
        rest2 = c.reduce(b, "ReduceSum", b.op("Mul", rest, rest), [r - 2], True)
        trivial = b.op("Equal", rest2, zero)
        norm = b.op("Sqrt", b.op("Add", b.op("Mul", alpha, alpha), rest2))
        beta = b.op("Where", b.op("Less", alpha, zero), norm, b.op("Neg", norm))
        tau = b.op("Where", trivial, zero, b.op("Div", b.op("Sub", beta, alpha), b.op("Where", trivial, one, beta)))
        scale = b.op("Where", trivial, one, b.op("Sub", alpha, beta))
        v = b.op("Where", below, b.op("Div", rest, scale), b.op("Where", b.op("Equal", rows, j), one, zero))
        # H applied to the columns right of j: X - tau v (v^T X)
        update = b.op("Mul", tau, b.op("MatMul", v, b.op("MatMul", _transpose_batched(b, v, r), x)))
        x = b.op("Sub", x, b.op("Where", b.op("Greater", cols, j), update, zero))
        packed = b.op("Where", below, v, b.op("Where", b.op("Equal", rows, j),
                                              b.op("Where", trivial, alpha, beta), column))
        x = b.op("Where", b.op("Equal", cols, j), packed, x)
        return [x, b.op("Where", b.op("Equal", order, j), tau, tau_row)]

    packed, taus = k.fixed_loop(g, steps, [a, taus], step)
    return packed, k.shaped(c.squeeze(g, taus, [r - 2]), [*list(g.dims(a))[:-2], list(g.dims(taus))[-1]], a.dtype)


def geqrf(g: GraphBuilder, self: ir.Value) -> tuple[ir.Value, ir.Value]:
    """geqrf (a, tau): LAPACK's packed QR."""
    return geqrf_factorize(g, self)


def apply_reflectors(g: GraphBuilder, reflectors: ir.Value, tau: ir.Value, target: ir.Value, from_left: bool,
                     ascending: bool) -> ir.Value:
    """H_j applied to `target` for each reflector j of the packed `reflectors` (*, rows, k'), in
    ascending or descending j: from the left, target <- H_j target; from the right, target H_j.
    `tau` (*, k) says how many there are."""
    r = g.rank(reflectors)
    rows = k.size(g, reflectors, -2)
    count = k.size(g, tau, -1)
    index = k.column_of(g, k.iota(g, rows))
    zero, one = k.scalar(g, 0.0, target), k.scalar(g, 1.0, target)
    last = g.op("Sub", k.as_value(g, count), g.constant(1, torch.int64))

    def step(b: Any, it: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        (x,) = values
        j = it if ascending else b.op("Sub", last, it)
        j1 = k.one(b, j)
        column = k.pick(b, reflectors, j1, r - 1)                                  # (*, rows, 1)
        v = b.op("Where", b.op("Greater", index, j), column, b.op("Where", b.op("Equal", index, j), one, zero))
        t = c.unsqueeze(b, k.pick(b, tau, j1, g.rank(tau) - 1), [g.rank(tau)])  # (*, 1, 1)
        vt = _transpose_batched(b, v, r)
        if from_left:
            update = b.op("MatMul", v, b.op("MatMul", vt, x))
        else:
            update = b.op("MatMul", b.op("MatMul", x, v), vt)
        return [b.op("Sub", x, b.op("Mul", t, update))]

    start = k.shaped(g.op("Identity", target), target.shape, target.dtype)  # same batch as the reflectors
    return k.fixed_loop(g, count, [start], step)[0]


def householder_product(g: GraphBuilder, input: ir.Value, tau: ir.Value) -> ir.Value:  # noqa: A002 (torch's name)
    """linalg_householder_product: the first n columns of H_0 ... H_(k-1), (*, m, n)."""
    m, n = k.size(g, input, -2), k.size(g, input, -1)
    start = k.expand_batch(g, k.eye(g, m, n, g.known_dtype(input)), input)
    k.shaped(start, k.matrix_dims(input, m, n), input.dtype)
    return apply_reflectors(g, input, tau, start, from_left=True, ascending=False)


def linalg_qr(g: GraphBuilder, A: ir.Value, mode: str = "reduced") -> tuple[ir.Value, ir.Value]:
    """linalg_qr (Q, R): reduced (m, k) and (k, n); complete (m, m) and (m, n); r: Q empty."""
    m, n = k.size(g, A, -2), k.size(g, A, -1)
    steps = k.smaller(g, m, n)
    packed, tau = geqrf_factorize(g, A)
    rows = m if mode == "complete" else steps
    upper = k.triu(g, k.slice_last(g, packed, -2, rows), rows, n)
    if mode == "r":
        return k.empty(g, g.known_dtype(A)), upper
    start = k.expand_batch(g, k.eye(g, m, rows, g.known_dtype(A)), A)
    k.shaped(start, k.matrix_dims(A, m, rows), A.dtype)
    return apply_reflectors(g, packed, tau, start, from_left=True, ascending=False), upper


def ormqr(g: GraphBuilder, self: ir.Value, input2: ir.Value, input3: ir.Value, left: bool = True,
          transpose: bool = False) -> ir.Value:
    """ormqr: Q C, Q^T C, C Q or C Q^T for Q = H_0 ... H_(k-1) of geqrf's (self, input2), C = input3."""
    ascending = left == transpose  # Q^T C and C Q apply H_0 first
    return apply_reflectors(g, self, input2, input3, from_left=left, ascending=ascending)
