"""Python mappings for bitwise ATen ops on integers (opspecs/bitwise.yaml).

ONNX has BitwiseAnd/Or/Xor only from opset 18 and BitShift for unsigned types only, so these
build the same results from int64 arithmetic that every opset has (Div truncates, Mul wraps):

- and/or/xor before 18: each operand, widened to int64, is split into its 63 low bits and its
  sign. For x < 0 the bits are those of ~x = -1 - x (>= 0) flipped, which is two's complement.
  The bitwise op on 0/1 values is arithmetic (a*b, a+b-ab, a+b-2ab), and the result is
  reassembled as sum(bit_k 2**k), or -1 - sum((1 - bit_k) 2**k) when its sign bit is set.
- shifts: x << s is x * 2**s (wrapping, as torch's shift of the unsigned representation does),
  0 for s < 0 or s >= 64; x >> s is floor(x / 2**s) for 0 <= s <= 62, and the sign fill
  (-1 or 0) otherwise. Narrower dtypes are computed in int64 and cast back: the low bits, which
  are all a cast keeps, are the same.

Every function gets its operands already promoted to torch's result dtype (the spec's `promote`).
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter.lib import common as c

_LOW_BITS = 63
# 2**k for k in 0..63 as int64: 2**63 wraps to -2**63, as 1 << 63 does in torch.
_POWERS = [1 << k for k in range(_LOW_BITS)] + [-(1 << 63)]


def _int64(g: Any, x: ir.Value) -> ir.Value:
    return h.cast(g, x, torch.int64)


def _zero(g: Any) -> ir.Value:
    return g.constant(0, torch.int64)


def _one(g: Any) -> ir.Value:
    return g.constant(1, torch.int64)


def _low_bits(g: Any, x: ir.Value, rank: int) -> tuple[ir.Value, ir.Value]:
    """(bits, negative): bits is x's 63 low two's-complement bits as 0/1 int64 along a new last
    axis (position `rank`), negative its sign bit (bool, x's shape)."""
    negative = g.op("Less", x, _zero(g))
    magnitude = g.op("Where", negative, g.op("Sub", g.constant(-1, torch.int64), x), x)  # ~x for x < 0
    column = c.unsqueeze(g, magnitude, [rank])
    quotient = g.op("Div", column, g.constant(_POWERS[:_LOW_BITS], torch.int64))
    two = g.constant(2, torch.int64)
    bits = g.op("Sub", quotient, g.op("Mul", g.op("Div", quotient, two), two))
    flipped = g.op("Sub", _one(g), bits)
    return g.op("Where", c.unsqueeze(g, negative, [rank]), flipped, bits), negative


def bitwise(g: Any, self: ir.Value, other: ir.Value, kind: str) -> ir.Value:
    """bitwise_and / or / xor (`kind`: "and", "or", "xor")."""
    if g.dtype(self) == torch.bool:
        return g.op({"and": "And", "or": "Or", "xor": "Xor"}[kind], self, other)
    rank_a, rank_b = g.rank(self), g.rank(other)
    a, sign_a = _low_bits(g, _int64(g, self), rank_a)
    b, sign_b = _low_bits(g, _int64(g, other), rank_b)
    both = g.op("Mul", a, b)
    if kind == "and":
        bits, sign = both, g.op("And", sign_a, sign_b)
    elif kind == "or":
        bits, sign = g.op("Sub", g.op("Add", a, b), both), g.op("Or", sign_a, sign_b)
    else:
        bits = g.op("Sub", g.op("Add", a, b), g.op("Mul", both, g.constant(2, torch.int64)))
        sign = g.op("Xor", sign_a, sign_b)
    axis = max(rank_a, rank_b)
    powers = g.constant(_POWERS[:_LOW_BITS], torch.int64)
    positive = c.reduce(g, "ReduceSum", g.op("Mul", bits, powers), [axis], False)
    negative = g.op("Sub", g.constant(-1, torch.int64),
                    c.reduce(g, "ReduceSum", g.op("Mul", g.op("Sub", _one(g), bits), powers), [axis], False))
    return h.cast_like(g, g.op("Where", sign, negative, positive), self)


def shift(g: Any, self: ir.Value, other: ir.Value, left: bool) -> ir.Value:
    """bitwise_left_shift (`left`) / bitwise_right_shift: torch's results for any shift count."""
    x, s = _int64(g, self), _int64(g, other)
    below = g.op("Less", s, _zero(g))
    last = 63 if left else 62  # 2**63 only wraps correctly in a product, never as a divisor
    beyond = g.op("Greater", s, g.constant(last, torch.int64))
    clamped = g.op("Where", below, _zero(g), g.op("Where", beyond, g.constant(last, torch.int64), s))
    power = g.op("Gather", g.constant(_POWERS[: last + 1], torch.int64), clamped, axis=0)
    out_of_range = g.op("Or", below, beyond)
    if left:
        out = g.op("Where", out_of_range, _zero(g), g.op("Mul", x, power))
    else:
        quotient = g.op("Div", x, power)  # truncated; floor is one less for inexact negatives
        inexact = g.op("Not", g.op("Equal", g.op("Mul", quotient, power), x))
        floor = g.op("Sub", quotient, h.cast(g, g.op("And", g.op("Less", x, _zero(g)), inexact), torch.int64))
        fill = h.cast(g, g.op("Less", x, _zero(g)), torch.int64)
        out = g.op("Where", out_of_range, g.op("Neg", fill), floor)
    return h.cast_like(g, out, self)
