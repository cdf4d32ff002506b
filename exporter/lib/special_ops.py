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

F64 = torch.float64
UNROLLED_DEGREE = 64  # a Python-number degree up to this is unrolled; a larger one runs in a Loop


def _f(g: Any, value: float) -> ir.Value:
    return g.constant(float(value), F64)


def _where(g: Any, condition: ir.Value, then: ir.Value, otherwise: ir.Value) -> ir.Value:
    return g.op("Where", condition, then, otherwise)


def _equal(g: Any, x: ir.Value, value: ir.Value) -> ir.Value:
    """x == value for floats without Equal (ONNX Runtime has no float Equal before opset 11)."""
    return g.op("Not", g.op("Or", g.op("Or", g.op("Less", x, value), g.op("Greater", x, value)), g.op("IsNaN", x)))


def masked_loop(g: Any, trips: ir.Value, carried: Sequence[ir.Value],
                step: Callable[[Any, ir.Value, list[ir.Value]], list[ir.Value]]) -> list[ir.Value]:
    """Run `step(body, iteration, values) -> values` `trips` times (an int64 0-d value) in an ONNX
    Loop; each step masks its own updates, so elements that are done keep their values."""
    body = g.subgraph()
    iteration = g.graph_input(torch.int64, [])
    condition = g.graph_input(torch.bool, [])
    inputs = [g.graph_input(g.dtype(v)) for v in carried]
    updated = step(body, iteration, inputs)
    outputs = [body.op("Identity", condition), *(body.op("Identity", v) if v in inputs else v for v in updated)]
    graph = ir.Graph([iteration, condition, *inputs], outputs, nodes=body.nodes, name=f"{g.overload}_loop")
    result = g.op("Loop", trips, g.constant(True), *carried, body=graph, _outputs=len(carried))
    return list(result) if isinstance(result, tuple) else [result]


def _trip_count(g: Any, counts: ir.Value, least: float = 0.0) -> ir.Value:
    """max(least, max(counts)) as an int64 0-d value (least for an empty tensor)."""
    most = g.op("ReduceMax", g.op("Reshape", counts, g.constant([-1], torch.int64)), keepdims=0)
    most = g.op("Max", most, _f(g, least))  # an empty tensor reduces to the lowest float
    return g.cast(most, torch.int64)


# -- Hurwitz zeta: the direct sum ------------------------------------------------------------------
ZETA_EPS = 1.11022302462515654042e-16


def zeta_direct_sum(g: Any, x: ir.Value, q: ir.Value, q_far: ir.Value) -> list[ir.Value]:
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

def _first(g: Any, family: str, x: ir.Value) -> ir.Value:
    two_x = g.op("Add", x, x)
    return {"t": x, "u": two_x, "v": g.op("Sub", two_x, _f(g, 1.0)), "w": g.op("Add", two_x, _f(g, 1.0)),
            "h": two_x, "he": x, "l": g.op("Sub", _f(g, 1.0), x), "p": x}[family]


def _next(g: Any, family: str, x: ir.Value, p: ir.Value, q: ir.Value, k: ir.Value) -> ir.Value:
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


def _recurrence(g: Any, family: str, x: ir.Value, degree: ir.Value | int, needed: ir.Value | None) -> ir.Value:
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


def _acos(g: Any, x: ir.Value) -> ir.Value:
    """acos(x) on [-1, 1] from Asin (ONNX Runtime computes float64 Asin exactly, Acos in float32):
    2 asin(sqrt((1 - |x|) / 2)), reflected to pi - that for x < 0."""
    half = g.op("Sqrt", g.op("Mul", g.op("Sub", _f(g, 1.0), g.op("Abs", x)), _f(g, 0.5)))
    angle = g.op("Mul", g.op("Asin", half), _f(g, 2.0))
    return _where(g, g.op("Less", x, _f(g, 0.0)), g.op("Sub", _f(g, torch.pi), angle), angle)


def _parity(g: Any, n: ir.Value, even: ir.Value, odd: ir.Value) -> ir.Value:
    """`even` where the integer n is even, else `odd`."""
    half = g.op("Mul", n, _f(g, 0.5))
    return _where(g, _equal(g, g.op("Floor", half), half), even, odd)


def orthogonal_polynomial(g: Any, x: ir.Value, n: Any, family: str, shifted: bool = False) -> ir.Value:
    """torch.special's orthogonal polynomials: Chebyshev T/U/V/W (`shifted`: of 2x - 1), Hermite
    H/He, Laguerre L and Legendre P of degree n (a tensor or a Python number), in torch's cases:
    0 for n < 0, its special values at x = +-1 (shifted: x = 1, 0) and, where torch does, the
    trigonometric form inside (-1, 1) for large n; otherwise the recurrence up to n."""
    dtype = g.dtype(x)
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


def _trunc(g: Any, x: ir.Value) -> ir.Value:
    return _where(g, g.op("Less", x, _f(g, 0.0)), g.op("Ceil", x), g.op("Floor", x))


def _polynomial(g: Any, x: ir.Value, n: ir.Value, static: int | None, family: str, shifted: bool,
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


def _trigonometric(g: Any, s: ir.Value, n: ir.Value, family: str, shifted: bool) -> tuple[ir.Value, ir.Value]:
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


def _edges(g: Any, x: ir.Value, n: ir.Value, family: str, shifted: bool, y: ir.Value) -> ir.Value:
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
