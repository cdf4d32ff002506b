"""Special functions whose evaluation is a loop over data: ONNX `Loop`s (opspecs/special.yaml).

Everything is computed in float64 (the spec casts in and out), the way torch computes the same
recurrences: the orthogonal polynomials of a degree given per element (a Loop over the largest
degree, each element keeping its own result), and the direct sum of the Hurwitz zeta function,
whose length depends on q (at least 9 terms, more for negative q).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder

F64 = torch.float64
UNROLLED_DEGREE = 64  # a Python-number degree up to this is unrolled; a larger one runs in a Loop


def _f(g: GraphBuilder, value: float) -> ir.Value:
    return g.constant(float(value), F64)


def _where(g: GraphBuilder, condition: ir.Value, then: ir.Value, otherwise: ir.Value) -> ir.Value:
    return g.op("Where", condition, then, otherwise)


def _equal(g: GraphBuilder, x: ir.Value, value: ir.Value) -> ir.Value:
    """x == value for floats without Equal (ONNX Runtime has no float Equal before opset 11)."""
    return g.op("Not", g.op("Or", g.op("Or", g.op("Less", x, value), g.op("Greater", x, value)), g.op("IsNaN", x)))


def masked_loop(g: GraphBuilder, trips: ir.Value, carried: Sequence[ir.Value],
                step: Callable[[Any, ir.Value, list[ir.Value]], list[ir.Value]]) -> list[ir.Value]:
    """Run `step(body, iteration, values) -> values` `trips` times (an int64 0-d value) in an ONNX
    Loop; each step masks its own updates, so elements that are done keep their values."""
    body = g.subgraph()
    iteration = g.graph_input(torch.int64, [])
    condition = g.graph_input(torch.bool, [])
    inputs = [g.graph_input(g.known_dtype(v)) for v in carried]
    updated = step(body, iteration, inputs)
    outputs = [body.op("Identity", condition), *(body.op("Identity", v) if v in inputs else v for v in updated)]
    graph = ir.Graph([iteration, condition, *inputs], outputs, nodes=body.nodes, name=f"{g.overload}_loop")
    result = g.op("Loop", trips, g.constant(True), *carried, body=graph, _outputs=len(carried))
    return list(result) if isinstance(result, tuple) else [result]


def _trip_count(g: GraphBuilder, counts: ir.Value, least: float = 0.0) -> ir.Value:
    """max(least, max(counts)) as an int64 0-d value (least for an empty tensor)."""
    most = g.op("ReduceMax", g.op("Reshape", counts, g.constant([-1], torch.int64)), keepdims=0)
    most = g.op("Max", most, _f(g, least))  # an empty tensor reduces to the lowest float
    return g.cast(most, torch.int64)


# -- Hurwitz zeta: the direct sum ------------------------------------------------------------------
ZETA_EPS = 1.11022302462515654042e-16


def zeta_direct_sum(g: GraphBuilder, x: ir.Value, q: ir.Value, q_far: ir.Value) -> list[ir.Value]:
    """torch's (Cephes') first phase of zeta(x, q): s = q^-x + (q + 1)^-x + ..., 9 terms after the
    first and on while q + i <= 9, an element stopping early where a term falls below eps * s.
    `q_far` is q where the sum may be long (negative non-integer q with integer x), 1 elsewhere:
    it sets the trip count. Returns (s, last a, last term b, stopped early) for the tail."""
    shape = g.op("Shape", g.op("Add", x, q))
    a = g.op("Expand", q, shape)
    s = g.op("Pow", a, g.op("Neg", x))
    b = g.op("Expand", _f(g, 0.0), shape)
    done = g.op("Expand", g.constant(False), shape)
    least = g.op("ReduceMin", g.op("Reshape", q_far, g.constant([-1], torch.int64)), keepdims=0)
    trips = _trip_count(g, g.op("Add", g.op("Floor", g.op("Sub", _f(g, 9.0), least)), _f(g, 1.0)), 9.0)

    def step(body: Any, i: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        a, s, b, done = values
        more = body.op("Or", body.op("Less", body.cast(i, F64), _f(body, 9.0)),
                       body.op("Not", body.op("Greater", a, _f(body, 9.0))))
        active = body.op("And", body.op("Not", done), more)
        a_next = body.op("Add", a, _f(body, 1.0))
        b_next = body.op("Pow", a_next, body.op("Neg", x))
        s_next = body.op("Add", s, b_next)
        tiny = body.op("Mul", s_next, _f(body, ZETA_EPS))
        small = body.op("And", body.op("Less", body.op("Neg", tiny), b_next), body.op("Less", b_next, tiny))
        return [_where(body, active, a_next, a), _where(body, active, s_next, s), _where(body, active, b_next, b),
                body.op("Or", done, body.op("And", active, small))]

    return masked_loop(g, trips, [a, s, b, done], step)


# -- orthogonal polynomials by their three-term recurrences ----------------------------------------
# family -> (first degree-1 value from x, recurrence r_k(x, p_{k-2}, p_{k-1}, k) for k >= 2)

def _first(g: GraphBuilder, family: str, x: ir.Value) -> ir.Value:
    two_x = g.op("Add", x, x)
    return {"t": x, "u": two_x, "v": g.op("Sub", two_x, _f(g, 1.0)), "w": g.op("Add", two_x, _f(g, 1.0)),
            "h": two_x, "he": x, "l": g.op("Sub", _f(g, 1.0), x), "p": x}[family]


def _next(g: GraphBuilder, family: str, x: ir.Value, p: ir.Value, q: ir.Value, k: ir.Value) -> ir.Value:
    """p_k from p = p_{k-2}, q = p_{k-1} at degree k (a float64 value), in torch's operation order."""
    if family in ("t", "u", "v", "w"):
        return g.op("Sub", g.op("Mul", g.op("Add", x, x), q), p)
    if family == "h":  # H_k = 2x H_{k-1} - 2(k-1) H_{k-2}
        return g.op("Sub", g.op("Mul", g.op("Add", x, x), q),
                    g.op("Mul", g.op("Mul", g.op("Sub", k, _f(g, 1.0)), _f(g, 2.0)), p))
    if family == "he":  # He_k = x He_{k-1} - (k-1) He_{k-2}
        return g.op("Sub", g.op("Mul", x, q), g.op("Mul", g.op("Sub", k, _f(g, 1.0)), p))
    j = g.op("Sub", k, _f(g, 1.0))
    if family == "l":  # L_k = ((2j + 1 - x) L_j - j L_{j-1}) / (j + 1), j = k - 1
        factor = g.op("Add", g.op("Add", j, j), g.op("Sub", _f(g, 1.0), x))
    else:  # Legendre: P_k = ((2j + 1) x P_j - j P_{j-1}) / (j + 1)
        factor = g.op("Mul", g.op("Add", g.op("Add", j, j), _f(g, 1.0)), x)
    return g.op("Div", g.op("Sub", g.op("Mul", factor, q), g.op("Mul", j, p)), g.op("Add", j, _f(g, 1.0)))


def _recurrence(g: GraphBuilder, family: str, x: ir.Value, degree: ir.Value | int, needed: ir.Value | None) -> ir.Value:
    """p_n(x) for n >= 2 by the recurrence: unrolled for a Python-number degree up to
    UNROLLED_DEGREE, else an ONNX Loop over the largest degree among the `needed` elements."""
    one = g.op("Expand", _f(g, 1.0), g.op("Shape", x))
    first = _first(g, family, x)
    if isinstance(degree, int) and degree <= UNROLLED_DEGREE:
        p, q = one, first
        for k in range(2, degree + 1):
            p, q = q, _next(g, family, x, p, q, _f(g, k))
        return q
    n = _f(g, degree) if isinstance(degree, int) else degree
    counts = n if needed is None else _where(g, needed, n, _f(g, 0.0))
    trips = _trip_count(g, g.op("Sub", counts, _f(g, 1.0)))  # steps k = 2..n

    def step(body: Any, i: ir.Value, values: list[ir.Value]) -> list[ir.Value]:
        p, q = values
        k = body.op("Add", body.cast(i, F64), _f(body, 2.0))
        r = _next(body, family, x, p, q, k)
        active = body.op("Not", body.op("Greater", k, n))
        return [_where(body, active, q, p), _where(body, active, r, q)]

    return masked_loop(g, trips, [one, g.op("Expand", first, g.op("Shape", x))], step)[1]


def _acos(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """acos(x) on [-1, 1] from Asin (ONNX Runtime computes float64 Asin exactly, Acos in float32):
    2 asin(sqrt((1 - |x|) / 2)), reflected to pi - that for x < 0."""
    half = g.op("Sqrt", g.op("Mul", g.op("Sub", _f(g, 1.0), g.op("Abs", x)), _f(g, 0.5)))
    angle = g.op("Mul", g.op("Asin", half), _f(g, 2.0))
    return _where(g, g.op("Less", x, _f(g, 0.0)), g.op("Sub", _f(g, torch.pi), angle), angle)


def _parity(g: GraphBuilder, n: ir.Value, even: ir.Value, odd: ir.Value) -> ir.Value:
    """`even` where the integer n is even, else `odd`."""
    half = g.op("Mul", n, _f(g, 0.5))
    return _where(g, _equal(g, g.op("Floor", half), half), even, odd)


def orthogonal_polynomial(g: GraphBuilder, x: ir.Value, n: Any, family: str, shifted: bool = False) -> ir.Value:
    """torch.special's orthogonal polynomials: Chebyshev T/U/V/W (`shifted`: of 2x - 1), Hermite
    H/He, Laguerre L and Legendre P of degree n (a tensor or a Python number), in torch's cases:
    0 for n < 0, its special values at x = +-1 (shifted: x = 1, 0) and, where torch does, the
    trigonometric form inside (-1, 1) for large n; otherwise the recurrence up to n."""
    dtype = g.known_dtype(x)
    wx = g.cast(x, F64)
    if isinstance(n, ir.Value):
        nf = g.cast(n, F64)
        finite = g.op("Not", g.op("Or", g.op("IsNaN", nf), g.op("IsNaN", g.op("Sub", nf, nf))))
        n_value = _where(g, finite, _trunc(g, nf), _f(g, -1.0))
        shape = g.op("Shape", g.op("Add", wx, n_value))
        wx, n_value = g.op("Expand", wx, shape), g.op("Expand", n_value, shape)
        static = None
    else:
        static = int(n)  # torch truncates a Scalar degree to int64
        n_value = _f(g, static)
    limit = 512.0 if dtype == F64 else 128.0
    y = _polynomial(g, wx, n_value, static, family, shifted, limit)
    return g.cast(y, dtype)


def _trunc(g: GraphBuilder, x: ir.Value) -> ir.Value:
    return _where(g, g.op("Less", x, _f(g, 0.0)), g.op("Ceil", x), g.op("Floor", x))


def _polynomial(g: GraphBuilder, x: ir.Value, n: ir.Value, static: int | None, family: str, shifted: bool,
                limit: float) -> ir.Value:
    one, zero = _f(g, 1.0), _f(g, 0.0)
    chebyshev = family in ("t", "u", "v", "w")
    s = g.op("Sub", g.op("Add", x, x), one) if shifted else x  # the Chebyshev argument
    arg = s if chebyshev else x
    trig = _trigonometric(g, s, n, family, shifted) if chebyshev else None
    needed = None if trig is None else g.op("Not", trig[0])
    if static is not None and static < 2:
        recurrence = one
    else:
        recurrence = _recurrence(g, family, arg, n if static is None else static, needed)
    y = _where(g, g.op("Less", n, _f(g, 2.0)), _where(g, g.op("Less", n, one), one, _first(g, family, arg)), recurrence)
    if trig is not None:
        y = _where(g, trig[0], trig[1], y)
    if family in ("h", "he"):  # torch gives NaN past a degree (128 for float32, 512 for float64)
        y = _where(g, g.op("Greater", n, _f(g, limit)), _f(g, float("nan")), y)
    return _where(g, g.op("Less", n, zero), zero, _edges(g, x, n, family, shifted, y))


def _trigonometric(g: GraphBuilder, s: ir.Value, n: ir.Value, family: str, shifted: bool) -> tuple[ir.Value, ir.Value]:
    """Where torch uses the closed forms of Chebyshev polynomials inside (-1, 1) (n above a
    threshold), and their values: cos(n t), sin((n+1) t) / sin t, cos((n+1/2) t) / cos(t/2),
    sin((n+1/2) t) / sin(t/2) with t = acos(s), and torch's fallbacks where a divisor vanishes."""
    one, zero = _f(g, 1.0), _f(g, 0.0)
    limit = ({"t": 6, "u": 6, "v": 6, "w": 4} if shifted else {"t": 6, "u": 8, "v": 8, "w": 8})[family]
    inside = g.op("And", g.op("Greater", n, _f(g, limit)), g.op("Less", g.op("Abs", s), one))
    theta = _acos(g, g.op("Min", g.op("Max", s, _f(g, -1.0)), one))
    n1 = g.op("Add", n, one)
    n2 = g.op("Add", g.op("Add", n, n), one)
    sign = _parity(g, n, one, g.op("Neg", one))
    half = g.op("Mul", theta, _f(g, 0.5))
    nh = g.op("Add", n, _f(g, 0.5))
    if family == "t":
        form = g.op("Cos", g.op("Mul", n, theta))
    elif family == "u":
        sin_t = g.op("Sin", theta)
        form = _where(g, _equal(g, sin_t, zero), g.op("Div", g.op("Mul", n1, g.op("Cos", g.op("Mul", n1, theta))), s),
                      g.op("Div", g.op("Sin", g.op("Mul", n1, theta)), sin_t))
    elif family == "v":
        form = _where(g, _equal(g, g.op("Sin", half), one), g.op("Mul", sign, n2),
                      g.op("Div", g.op("Cos", g.op("Mul", nh, theta)), g.op("Cos", half)))
    else:
        edge = sign if shifted else _where(g, g.op("Greater", s, zero), n2, sign)
        form = _where(g, _equal(g, g.op("Cos", half), one), edge,
                      g.op("Div", g.op("Sin", g.op("Mul", nh, theta)), g.op("Sin", half)))
    return inside, form


def _edges(g: GraphBuilder, x: ir.Value, n: ir.Value, family: str, shifted: bool, y: ir.Value) -> ir.Value:
    """torch's exact values at the interval's ends (and Laguerre's x = 0), for n >= 0."""
    one, zero = _f(g, 1.0), _f(g, 0.0)
    n1 = g.op("Add", n, one)
    n2 = g.op("Add", g.op("Add", n, n), one)
    sign = _parity(g, n, one, g.op("Neg", one))  # (-1)^n
    if family == "l":
        return _where(g, _equal(g, x, zero), one, y)
    if family == "p":
        return _where(g, _equal(g, g.op("Abs", x), one), _where(g, g.op("Greater", x, zero), one, sign), y)
    if family in ("h", "he"):
        return y
    if shifted:  # x = 1 and x = 0 are the ends of [0, 1]
        at_one = {"t": one, "u": n1, "v": one, "w": n2}[family]
        at_zero = {"t": sign, "u": g.op("Mul", sign, n1), "v": g.op("Mul", sign, n2), "w": sign}[family]
        return _where(g, _equal(g, x, one), at_one, _where(g, _equal(g, x, zero), at_zero, y))
    at_one = {"t": one, "u": n1, "v": one, "w": n2}[family]
    at_minus = {"t": sign, "u": g.op("Mul", sign, n1), "v": g.op("Mul", sign, n2), "w": sign}[family]
    return _where(g, _equal(g, g.op("Abs", x), one), _where(g, g.op("Greater", x, zero), at_one, at_minus), y)


# -- regularized incomplete gamma: torch's (Cephes/SciPy) iterations -------------------------------
IGAMMA_EPS = 1.11022302462515654042e-16  # torch's MACHEP for double
IGAMMA_MAXITER = 2000


def converging_loop(g: GraphBuilder, carried: Sequence[ir.Value],
                    step: Callable[[Any, list[ir.Value]], tuple[list[ir.Value], ir.Value]]) -> list[ir.Value]:
    """Run `step(body, values) -> (values, active)` in an ONNX Loop until no element is active
    (or IGAMMA_MAXITER trips, torch's bound); each step masks its own updates."""
    body = g.subgraph()
    iteration = g.graph_input(torch.int64, [])
    condition = g.graph_input(torch.bool, [])
    inputs = [g.graph_input(g.known_dtype(v)) for v in carried]
    updated, active = step(body, inputs)
    # any element active: the flattened mask with a 0 appended (an empty tensor stops the loop)
    flags = body.op("Reshape", body.cast(active, torch.float32), body.constant([-1], torch.int64))
    flags = body.op("Concat", flags, body.constant([0.0], torch.float32), axis=0)
    going = body.op("Greater", body.op("ReduceMax", flags, keepdims=0), body.constant(0.0, torch.float32))
    outputs = [going, *(body.op("Identity", v) if v in inputs else v for v in updated)]
    graph = ir.Graph([iteration, condition, *inputs], outputs, nodes=body.nodes, name=f"{g.overload}_loop")
    result = g.op("Loop", g.constant(IGAMMA_MAXITER, torch.int64), g.constant(True), *carried, body=graph,
                  _outputs=len(carried))
    return list(result) if isinstance(result, tuple) else [result]


def igam_series(g: GraphBuilder, a: ir.Value, x: ir.Value, active: ir.Value) -> ir.Value:
    """torch's _igam_helper_series sum: 1 + x/(a+1) + x^2/((a+1)(a+2)) + ..., each element until a
    term falls to eps times the sum; `active` marks the elements that need it."""
    one = _f(g, 1.0)
    r = g.op("Expand", a, g.op("Shape", g.op("Add", a, x)))
    c = g.op("Expand", one, g.op("Shape", r))

    def step(body: Any, values: list[ir.Value]) -> tuple[list[ir.Value], ir.Value]:
        r, c, ans, going = values
        r_next = body.op("Add", r, _f(body, 1.0))
        c_next = body.op("Mul", c, body.op("Div", x, r_next))
        ans_next = body.op("Add", ans, c_next)
        done = body.op("Not", body.op("Greater", c_next, body.op("Mul", ans_next, _f(body, IGAMMA_EPS))))
        going_next = body.op("And", going, body.op("Not", done))
        return [_where(body, going, r_next, r), _where(body, going, c_next, c), _where(body, going, ans_next, ans),
                going_next], going_next

    return converging_loop(g, [r, c, c, g.op("Expand", active, g.op("Shape", r))], step)[2]


def igamc_series(g: GraphBuilder, a: ir.Value, x: ir.Value, active: ir.Value) -> ir.Value:
    """torch's _igamc_helper_series sum: sum_{n >= 1} (-x)^n / n! / (a + n), each element until a
    term falls to eps times the sum."""
    shape = g.op("Shape", g.op("Add", a, x))
    zero = g.op("Expand", _f(g, 0.0), shape)

    def step(body: Any, values: list[ir.Value]) -> tuple[list[ir.Value], ir.Value]:
        n, fac, total, going = values
        n_next = body.op("Add", n, _f(body, 1.0))
        fac_next = body.op("Mul", fac, body.op("Div", body.op("Neg", x), n_next))
        term = body.op("Div", fac_next, body.op("Add", a, n_next))
        total_next = body.op("Add", total, term)
        done = body.op("Not", body.op("Greater", body.op("Abs", term),
                                      body.op("Mul", body.op("Abs", total_next), _f(body, IGAMMA_EPS))))
        going_next = body.op("And", going, body.op("Not", done))
        return [_where(body, going, n_next, n), _where(body, going, fac_next, fac),
                _where(body, going, total_next, total), going_next], going_next

    one = g.op("Expand", _f(g, 1.0), shape)
    return converging_loop(g, [zero, one, zero, g.op("Expand", active, shape)], step)[2]


def igamc_continued_fraction(g: GraphBuilder, a: ir.Value, x: ir.Value, active: ir.Value) -> ir.Value:
    """torch's _igamc_helper_continued_fraction before its factor: the continued fraction of
    Gamma(a, x) e^x x^-a, its convergents rescaled past 2^52, until they agree to eps."""
    shape = g.op("Shape", g.op("Add", a, x))
    y = g.op("Expand", g.op("Sub", _f(g, 1.0), a), shape)
    z = g.op("Add", g.op("Add", x, y), _f(g, 1.0))
    pkm2 = g.op("Expand", _f(g, 1.0), shape)
    qkm2 = g.op("Expand", x, shape)
    pkm1 = g.op("Add", qkm2, _f(g, 1.0))
    qkm1 = g.op("Mul", z, x)
    ans = g.op("Div", pkm1, qkm1)
    c = g.op("Expand", _f(g, 0.0), shape)

    def step(body: Any, values: list[ir.Value]) -> tuple[list[ir.Value], ir.Value]:
        c, y, z, pkm2, pkm1, qkm2, qkm1, ans, going = values
        c = body.op("Add", c, _f(body, 1.0))
        y = body.op("Add", y, _f(body, 1.0))
        z = body.op("Add", z, _f(body, 2.0))
        yc = body.op("Mul", y, c)
        pk = body.op("Sub", body.op("Mul", pkm1, z), body.op("Mul", pkm2, yc))
        qk = body.op("Sub", body.op("Mul", qkm1, z), body.op("Mul", qkm2, yc))
        nonzero = body.op("Not", _equal(body, qk, _f(body, 0.0)))
        r = body.op("Div", pk, _where(body, nonzero, qk, _f(body, 1.0)))
        t = _where(body, nonzero, body.op("Abs", body.op("Div", body.op("Sub", ans, r), r)), _f(body, 1.0))
        ans_next = _where(body, nonzero, r, ans)
        big = body.op("Greater", body.op("Abs", pk), _f(body, 4.503599627370496e15))
        scale = _where(body, big, _f(body, 2.22044604925031308085e-16), _f(body, 1.0))
        moved = [c, y, z, body.op("Mul", pkm1, scale), body.op("Mul", pk, scale), body.op("Mul", qkm1, scale),
                 body.op("Mul", qk, scale), ans_next]
        kept = [_where(body, going, new, old) for new, old in zip(moved, values[:8])]
        going_next = body.op("And", going, body.op("Greater", t, _f(body, IGAMMA_EPS)))
        return [*kept, going_next], going_next

    carried = [c, y, z, pkm2, pkm1, qkm2, qkm1, ans, g.op("Expand", active, shape)]
    return converging_loop(g, carried, step)[7]


_IGAM_D = (  # d[k][n]: the coefficients of eta^n in the k-th term (torch, from SciPy igam.h)
    (-3.3333333333333333e-1, 8.3333333333333333e-2, -1.4814814814814815e-2, 1.1574074074074074e-3,
     3.527336860670194e-4, -1.7875514403292181e-4, 3.9192631785224378e-5, -2.1854485106799922e-6,
     -1.85406221071516e-6, 8.296711340953086e-7, -1.7665952736826079e-7, 6.7078535434014986e-9,
     1.0261809784240308e-8, -4.3820360184533532e-9, 9.1476995822367902e-10, -2.551419399494625e-11,
     -5.8307721325504251e-11, 2.4361948020667416e-11, -5.0276692801141756e-12, 1.1004392031956135e-13,
     3.3717632624009854e-13, -1.3923887224181621e-13, 2.8534893807047443e-14, -5.1391118342425726e-16,
     -1.9752288294349443e-15),
    (-1.8518518518518519e-3, -3.4722222222222222e-3, 2.6455026455026455e-3, -9.9022633744855967e-4,
     2.0576131687242798e-4, -4.0187757201646091e-7, -1.8098550334489978e-5, 7.6491609160811101e-6,
     -1.6120900894563446e-6, 4.6471278028074343e-9, 1.378633446915721e-7, -5.752545603517705e-8,
     1.1951628599778147e-8, -1.7543241719747648e-11, -1.0091543710600413e-9, 4.1627929918425826e-10,
     -8.5639070264929806e-11, 6.0672151016047586e-14, 7.1624989648114854e-12, -2.9331866437714371e-12,
     5.9966963656836887e-13, -2.1671786527323314e-16, -4.9783399723692616e-14, 2.0291628823713425e-14,
     -4.13125571381061e-15),
    (4.1335978835978836e-3, -2.6813271604938272e-3, 7.7160493827160494e-4, 2.0093878600823045e-6,
     -1.0736653226365161e-4, 5.2923448829120125e-5, -1.2760635188618728e-5, 3.4235787340961381e-8,
     1.3721957309062933e-6, -6.298992138380055e-7, 1.4280614206064242e-7, -2.0477098421990866e-10,
     -1.4092529910867521e-8, 6.228974084922022e-9, -1.3670488396617113e-9, 9.4283561590146782e-13,
     1.2872252400089318e-10, -5.5645956134363321e-11, 1.1975935546366981e-11, -4.1689782251838635e-15,
     -1.0940640427884594e-12, 4.6622399463901357e-13, -9.905105763906906e-14, 1.8931876768373515e-17,
     8.8592218725911273e-15),
    (6.4943415637860082e-4, 2.2947209362139918e-4, -4.6918949439525571e-4, 2.6772063206283885e-4,
     -7.5618016718839764e-5, -2.3965051138672967e-7, 1.1082654115347302e-5, -5.6749528269915966e-6,
     1.4230900732435884e-6, -2.7861080291528142e-11, -1.6958404091930277e-7, 8.0994649053880824e-8,
     -1.9111168485973654e-8, 2.3928620439808118e-12, 2.0620131815488798e-9, -9.4604966618551322e-10,
     2.1541049775774908e-10, -1.388823336813903e-14, -2.1894761681963939e-11, 9.7909989511716851e-12,
     -2.1782191880180962e-12, 6.2088195734079014e-17, 2.126978363279737e-13, -9.3446887915174333e-14,
     2.0453671226782849e-14),
    (-8.618882909167117e-4, 7.8403922172006663e-4, -2.9907248030319018e-4, -1.4638452578843418e-6,
     6.6414982154651222e-5, -3.9683650471794347e-5, 1.1375726970678419e-5, 2.5074972262375328e-10,
     -1.6954149536558306e-6, 8.9075075322053097e-7, -2.2929348340008049e-7, 2.956794137544049e-11,
     2.8865829742708784e-8, -1.4189739437803219e-8, 3.4463580499464897e-9, -2.3024517174528067e-13,
     -3.9409233028046405e-10, 1.8602338968504502e-10, -4.356323005056618e-11, 1.2786001016296231e-15,
     4.6792750266579195e-12, -2.1492464706134829e-12, 4.9088156148096522e-13, -6.3385914848915603e-18,
     -5.0453320690800944e-14),
    (-3.3679855336635815e-4, -6.9728137583658578e-5, 2.7727532449593921e-4, -1.9932570516188848e-4,
     6.7977804779372078e-5, 1.419062920643967e-7, -1.3594048189768693e-5, 8.0184702563342015e-6,
     -2.2914811765080952e-6, -3.252473551298454e-10, 3.4652846491085265e-7, -1.8447187191171343e-7,
     4.8240967037894181e-8, -1.7989466721743515e-14, -6.3061945000135234e-9, 3.1624176287745679e-9,
     -7.8409242536974293e-10, 5.1926791652540407e-15, 9.3589442423067836e-11, -4.5134262161632782e-11,
     1.0799129993116827e-11, -3.661886712685252e-17, -1.210902069055155e-12, 5.6807435849905643e-13,
     -1.3249659916340829e-13),
    (5.3130793646399222e-4, -5.9216643735369388e-4, 2.7087820967180448e-4, 7.9023532326603279e-7,
     -8.1539693675619688e-5, 5.6116827531062497e-5, -1.8329116582843376e-5, -3.0796134506033048e-9,
     3.4651553688036091e-6, -2.0291327396058604e-6, 5.7887928631490037e-7, 2.338630673826657e-13,
     -8.8286007463304835e-8, 4.7435958880408128e-8, -1.2545415020710382e-8, 8.6496488580102925e-14,
     1.6846058979264063e-9, -8.5754928235775947e-10, 2.1598224929232125e-10, -7.6132305204761539e-16,
     -2.6639822008536144e-11, 1.3065700536611057e-11, -3.1799163902367977e-12, 4.7109761213674315e-18,
     3.6902800842763467e-13),
    (3.4436760689237767e-4, 5.1717909082605922e-5, -3.3493161081142236e-4, 2.812695154763237e-4,
     -1.0976582244684731e-4, -1.2741009095484485e-7, 2.7744451511563644e-5, -1.8263488805711333e-5,
     5.7876949497350524e-6, 4.9387589339362704e-10, -1.0595367014026043e-6, 6.1667143761104075e-7,
     -1.7562973359060462e-7, -1.2974473287015439e-12, 2.695423606288966e-8, -1.4578352908731271e-8,
     3.887645959386175e-9, -3.8810022510194121e-17, -5.3279941738772867e-10, 2.7437977643314845e-10,
     -6.9957960920705679e-11, 2.5899863874868481e-17, 8.8566890996696381e-12, -4.403168815871311e-12,
     1.0865561947091654e-12),
    (-6.5262391859530942e-4, 8.3949872067208728e-4, -4.3829709854172101e-4, -6.969091458420552e-7,
     1.6644846642067548e-4, -1.2783517679769219e-4, 4.6299532636913043e-5, 4.5579098679227077e-9,
     -1.0595271125805195e-5, 6.7833429048651666e-6, -2.1075476666258804e-6, -1.7213731432817145e-11,
     3.7735877416110979e-7, -2.1867506700122867e-7, 6.2202288040189269e-8, 6.5977038267330006e-16,
     -9.5903864974256858e-9, 5.2132144922808078e-9, -1.3991589583935709e-9, 5.382058999060575e-16,
     1.9484714275467745e-10, -1.0127287556389682e-10, 2.6077347197254926e-11, -5.0904186999932993e-18,
     -3.3721464474854592e-12),
    (-5.9676129019274625e-4, -7.2048954160200106e-5, 6.7823088376673284e-4, -6.4014752602627585e-4,
     2.7750107634328704e-4, 1.8197008380465151e-7, -8.4795071170685032e-5, 6.105192082501531e-5,
     -2.1073920183404862e-5, -8.8585890141255994e-10, 4.5284535953805377e-6, -2.8427815022504408e-6,
     8.7082341778646412e-7, 3.6886101871706965e-12, -1.5344695190702061e-7, 8.862466778790695e-8,
     -2.5184812301826817e-8, -1.0225912098215092e-14, 3.8969470758154777e-9, -2.1267304792235635e-9,
     5.7370135528051385e-10, -1.887749850169741e-19, -8.0931538694657866e-11, 4.2382723283449199e-11,
     -1.1002224534207726e-11),
    (1.3324454494800656e-3, -1.9144384985654775e-3, 1.1089369134596637e-3, 9.932404122642299e-7,
     -5.0874501293093199e-4, 4.2735056665392884e-4, -1.6858853767910799e-4, -8.1301893922784998e-9,
     4.5284402370562147e-5, -3.127053674781734e-5, 1.044986828530338e-5, 4.8435226265680926e-11,
     -2.1482565873456258e-6, 1.329369701097492e-6, -4.0295693092101029e-7, -1.7567877666323291e-13,
     7.0145043163668257e-8, -4.040787734999483e-8, 1.1474026743371963e-8, 3.9642746853563325e-18,
     -1.7804938269892714e-9, 9.7480262548731646e-10, -2.6405338676507616e-10, 5.794875163403742e-18,
     3.7647749553543836e-11),
    (1.579727660730835e-3, 1.6251626278391582e-4, -2.0633421035543276e-3, 2.1389686185689098e-3,
     -1.0108559391263003e-3, -3.9912705529919201e-7, 3.6235025084764691e-4, -2.8143901463712154e-4,
     1.0449513336495887e-4, 2.1211418491830297e-9, -2.5779417251947842e-5, 1.7281818956040463e-5,
     -5.6413773872904282e-6, -1.1024320105776174e-11, 1.1223224418895175e-6, -6.8693396379526735e-7,
     2.0653236975414887e-7, 4.6714772409838506e-14, -3.5609886164949055e-8, 2.0470855345905963e-8,
     -5.8091738633283358e-9, -1.332821287582869e-16, 9.0354604391335133e-10, -4.9598782517330834e-10,
     1.3481607129399749e-10),
    (-4.0725121195140166e-3, 6.4033628338080698e-3, -4.0410161081676618e-3, -2.183732802866233e-6,
     2.1740441801254639e-3, -1.9700440518418892e-3, 8.3595469747962458e-4, 1.9445447567109655e-8,
     -2.5779387120421696e-4, 1.9009987368139304e-4, -6.7696499937438965e-5, -1.4440629666426572e-10,
     1.5712512518742269e-5, -1.0304008744776893e-5, 3.304517767401387e-6, 7.9829760242325709e-13,
     -6.4097794149313004e-7, 3.8894624761300056e-7, -1.1618347644948869e-7, -2.816808630596451e-15,
     1.9878012911297093e-8, -1.1407719956357511e-8, 3.2355857064185555e-9, 4.1759468293455945e-20,
     -5.0423112718105824e-10),
    (-5.9475779383993003e-3, -5.4016476789260452e-4, 8.7910413550767898e-3, -9.8576315587856125e-3,
     5.0134695031021538e-3, 1.2807521786221875e-6, -2.0626019342754683e-3, 1.7109128573523058e-3,
     -6.7695312714133799e-4, -6.9011545676562133e-9, 1.8855128143995902e-4, -1.3395215663491969e-4,
     4.6263183033528039e-5, 4.0034230613321351e-11, -1.0255652921494033e-5, 6.612086372797651e-6,
     -2.0913022027253008e-6, -2.0951775649603837e-13, 3.9756029041993247e-7, -2.3956211978815887e-7,
     7.1182883382145864e-8, 8.925574873053455e-16, -1.2101547235064676e-8, 6.9350618248334386e-9,
     -1.9661464453856102e-9),
    (1.7402027787522711e-2, -2.9527880945699121e-2, 2.0045875571402799e-2, 7.0289515966903407e-6,
     -1.2375421071343148e-2, 1.1976293444235254e-2, -5.4156038466518525e-3, -6.3290893396418616e-8,
     1.8855118129005065e-3, -1.473473274825001e-3, 5.5515810097708387e-4, 5.2406834412550662e-10,
     -1.4357913535784836e-4, 9.9181293224943297e-5, -3.3460834749478311e-5, -3.5755837291098993e-12,
     7.1560851960630076e-6, -4.5516802628155526e-6, 1.4236576649271475e-6, 1.8803149082089664e-14,
     -2.6623403898929211e-7, 1.5950642189595716e-7, -4.7187514673841102e-8, -6.5107872958755177e-17,
     7.9795091026746235e-9),
    (3.0249124160905891e-2, 2.4817436002649977e-3, -4.9939134373457022e-2, 5.9915643009307869e-2,
     -3.2483207601623391e-2, -5.7212968652103441e-6, 1.5085251778569354e-2, -1.3261324005088445e-2,
     5.5515262632426148e-3, 3.0263182257030016e-8, -1.7229548406756723e-3, 1.2893570099929637e-3,
     -4.6845138348319876e-4, -1.830259937893045e-10, 1.1449739014822654e-4, -7.7378565221244477e-5,
     2.5625836246985201e-5, 1.0766165333192814e-12, -5.3246809282422621e-6, 3.349634863064464e-6,
     -1.0381253128684018e-6, -5.608909920621128e-15, 1.9150821930676591e-7, -1.1418365800203486e-7,
     3.3654425209171788e-8),
    (-9.9051020880159045e-2, 1.7954011706123486e-1, -1.2989606383463778e-1, -3.1478872752284357e-5,
     9.0510635276848131e-2, -9.2828824411184397e-2, 4.4412112839877808e-2, 2.7779236316835888e-7,
     -1.7229543805449697e-2, 1.4182925050891573e-2, -5.6214161633747336e-3, -2.39598509186381e-9,
     1.6029634366079908e-3, -1.1606784674435773e-3, 4.1001337768153873e-4, 1.8365800754090661e-11,
     -9.5844256563655903e-5, 6.3643062337764708e-5, -2.076250624489065e-5, -1.1806020912804483e-13,
     4.2131808239120649e-6, -2.6262241337012467e-6, 8.0770620494930662e-7, 6.0125912123632725e-16,
     -1.4729737374018841e-7),
    (-1.9994542198219728e-1, -1.5056113040026424e-2, 3.6470239469348489e-1, -4.6435192311733545e-1,
     2.6640934719197893e-1, 3.4038266027147191e-5, -1.3784338709329624e-1, 1.276467178337056e-1,
     -5.6213828755200985e-2, -1.753150885483011e-7, 1.9235592956768113e-2, -1.5088821281095315e-2,
     5.7401854451350123e-3, 1.0622382710310225e-9, -1.5335082692563998e-3, 1.0819320643228214e-3,
     -3.7372510193945659e-4, -6.6170909729031985e-12, 8.4263617380909628e-5, -5.5150706827483479e-5,
     1.7769536448348069e-5, 3.8827923210205533e-14, -3.53513697488768e-6, 2.1865832130045269e-6,
     -6.6812849447625594e-7),
    (7.2438608504029431e-1, -1.3918010932653375, 1.0654143352413968, 1.876173868950258e-4,
     -8.2705501176152696e-1, 8.9352433347828414e-1, -4.4971003995291339e-1, -1.6107401567546652e-6,
     1.9235590165271091e-1, -1.6597702160042609e-1, 6.8882222681814333e-2, 1.3910091724608687e-8,
     -2.146911561508663e-2, 1.6228980898865892e-2, -5.9796016172584256e-3, -1.1287469112826745e-10,
     1.5167451119784857e-3, -1.0478634293553899e-3, 3.5539072889126421e-4, 8.1704322111801517e-13,
     -7.7773013442452395e-5, 5.0291413897007722e-5, -1.6035083867000518e-5, 1.2469354315487605e-14,
     3.1369106244517615e-6),
    (1.6668949727276811, 1.165462765994632e-1, -3.3288393225018906, 4.4692325482864037, -2.6977693045875807,
     -2.600667859891061e-4, 1.5389017615694539, -1.4937962361134612, 6.8881964633233148e-1,
     1.3077482004552385e-6, -2.5762963325596288e-1, 2.1097676102125449e-1, -8.3714408359219882e-2,
     -7.7920428881354753e-9, 2.4267923064833599e-2, -1.7813678334552311e-2, 6.3970330388900056e-3,
     4.9430807090480523e-11, -1.5554602758465635e-3, 1.0561196919903214e-3, -3.5277184460472902e-4,
     9.3002334645022459e-14, 7.5285855026557172e-5, -4.8186515569156351e-5, 1.5227271505597605e-5),
    (-6.6188298861372935, 1.3397985455142589e+1, -1.0789350606845146e+1, -1.4352254537875018e-3,
     9.2333694596189809, -1.0456552819547769e+1, 5.5105526029033471, 1.2024439690716742e-5,
     -2.5762961164755816, 2.3207442745387179, -1.0045728797216284, -1.0207833290021914e-7,
     3.3975092171169466e-1, -2.6720517450757468e-1, 1.0235252851562706e-1, 8.4329730484871625e-10,
     -2.7998284958442595e-2, 2.0066274144976813e-2, -7.0554368915086242e-3, 1.9402238183698188e-12,
     1.6562888105449611e-3, -1.1082898580743683e-3, 3.654545161310169e-4, -5.1290032026971794e-11,
     -7.6340103696869031e-5),
    (-1.7112706061976095e+1, -1.1208044642899116, 3.7131966511885444e+1, -5.2298271025348962e+1,
     3.3058589696624618e+1, 2.4791298976200222e-3, -2.061089403411526e+1, 2.088672775145582e+1,
     -1.0045703956517752e+1, -1.2238783449063012e-5, 4.0770134274221141, -3.473667358470195,
     1.4329352617312006, 7.1359914411879712e-8, -4.4797257159115612e-1, 3.4112666080644461e-1,
     -1.2699786326594923e-1, -2.8953677269081528e-10, 3.3125776278259863e-2, -2.3274087021036101e-2,
     8.0399993503648882e-3, -1.177805216235265e-9, -1.8321624891071668e-3, 1.2108282933588665e-3,
     -3.9479941246822517e-4),
    (7.389033153567425e+1, -1.5680141270402273e+2, 1.322177542759164e+2, 1.3692876877324546e-2,
     -1.2366496885920151e+2, 1.4620689391062729e+2, -8.0365587724865346e+1, -1.1259851148881298e-4,
     4.0770132196179938e+1, -3.8210340013273034e+1, 1.719522294277362e+1, 9.3519707955168356e-7,
     -6.2716159907747034, 5.1168999071852637, -2.0319658112299095, -4.9507215582761543e-9,
     5.9626397294332597e-1, -4.4220765337238094e-1, 1.6079998700166273e-1, -2.4733786203223402e-8,
     -4.0307574759979762e-2, 2.7849050747097869e-2, -9.4751858992054221e-3, 6.419922235909132e-6,
     2.1250180774699461e-3),
    (2.1216837098382522e+2, 1.3107863022633868e+1, -4.9698285932871748e+2, 7.3121595266969204e+2,
     -4.8213821720890847e+2, -2.8817248692894889e-2, 3.2616720302947102e+2, -3.4389340280087117e+2,
     1.7195193870816232e+2, 1.4038077378096158e-4, -7.52594195897599e+1, 6.651969984520934e+1,
     -2.8447519748152462e+1, -7.613702615875391e-7, 9.5402237105304373, -7.5175301113311376,
     2.8943997568871961, -4.6612194999538201e-7, -8.0615149598794088e-1, 5.8483006570631029e-1,
     -2.0845408972964956e-1, 1.4765818959305817e-4, 5.1000433863753019e-2, -3.3066252141883665e-2,
     1.5109265210467774e-2),
    (-9.8959643098322368e+2, 2.1925555360905233e+3, -1.9283586782723356e+3, -1.5925738122215253e-1,
     1.9569985945919857e+3, -2.4072514765081556e+3, 1.3756149959336496e+3, 1.2920735237496668e-3,
     -7.525941715948055e+2, 7.3171668742208716e+2, -3.4137023466220065e+2, -9.9857390260608043e-6,
     1.3356313181291573e+2, -1.1276295161252794e+2, 4.6310396098204458e+1, -7.9237387133614756e-6,
     -1.4510726927018646e+1, 1.1111771248100563e+1, -4.1690817945270892, 3.1008219800117808e-3,
     1.1220095449981468, -7.6052379926149916e-1, 3.6262236505085254e-1, 2.216867741940747e-1,
     4.8683443692930507e-1),
)


def igam_asymptotic_sum(g: GraphBuilder, a: ir.Value, eta: ir.Value) -> ir.Value:
    """torch's _igam_helper_asymptotic_series sum (DLMF 8.12): sum_k c_k(eta) a^-k with c_k the
    polynomials of _IGAM_D, stopping before a term larger than the one before it or after one
    below eps times the sum (unrolled: 25 terms at most)."""
    powers = [_f(g, 1.0), eta]
    for _ in range(2, 25):
        powers.append(g.op("Mul", powers[-1], eta))
    total = g.op("Mul", eta, _f(g, 0.0))
    going = g.op("Not", g.op("IsNaN", total))
    previous, afac = _f(g, float("inf")), _f(g, 1.0)
    for row in _IGAM_D:
        ck = _f(g, row[0])
        for coefficient, power in zip(row[1:], powers[1:]):
            ck = g.op("Add", ck, g.op("Mul", _f(g, coefficient), power))
        term = g.op("Mul", ck, afac)
        magnitude = g.op("Abs", term)
        going = g.op("And", going, g.op("Not", g.op("Greater", magnitude, previous)))
        total = _where(g, going, g.op("Add", total, term), total)
        going = g.op("And", going, g.op("Not", g.op("Less", magnitude,
                                                      g.op("Mul", g.op("Abs", total), _f(g, IGAMMA_EPS)))))
        previous, afac = magnitude, g.op("Div", afac, a)
    return total
