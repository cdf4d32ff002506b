"""The op harness itself: a spec whose test hints draw only calls torch rejects fails its test."""

from __future__ import annotations

import dataclasses

import pytest
import test_ops

from aten2onnx.codegen.errors import ErrorCollector
from aten2onnx.codegen.test_hints import parse_arg_hint


def _with_hints(aten: str, hints: dict[str, object]):
    spec = next(s for s in test_ops.SPECS if s.aten == aten)
    collector = ErrorCollector()
    args = {name: parse_arg_hint(name, raw, spec.location, collector) for name, raw in hints.items()}
    assert not collector.errors, collector.errors
    return dataclasses.replace(spec, test=dataclasses.replace(spec.test, args=args))


def test_hints_torch_always_rejects_fail_the_test():
    """mm of (2, 3) by (4, 5): every draw is refused by torch, so nothing is compared."""
    spec = _with_hints("aten::mm.default", {"self": {"shape": [2, 3]}, "mat2": {"shape": [4, 5]}})
    with pytest.raises(pytest.fail.Exception) as failure:
        test_ops.test_matches_torch(spec, 18)
    message = str(failure.value)
    assert f"aten::mm.default drawn at opset 18 ({spec.location}): compared 0 examples with eager torch" in message
    assert "torch rejected" in message and "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in message
    assert "Fix the spec's 'test:' hints" in message


def test_hints_torch_mostly_rejects_still_compare_enough():
    """Half the draws refused: Hypothesis draws others in their place and the test passes."""
    spec = _with_hints("aten::mm.default", {"self": {"shape": [2, 3]}, "mat2": {"shape": [[2, 4], 5]}})
    test_ops.test_matches_torch(spec, 18)


def test_signed_zeros_hint_compares_the_sign_of_zero():
    """Without the hint -0.0 equals +0.0; with it, a floating zero must carry torch's sign bit
    (and only a zero: a nonzero value within tolerance is not asked for one)."""
    import torch
    from op_runner import assert_same

    want = [torch.tensor([1.0, -0.0, 0.0, 2.0])]
    flipped = [torch.tensor([1.0, 0.0, 0.0, 2.0])]
    assert_same(flipped, want, 1e-5, 1e-4)
    with pytest.raises(AssertionError, match=r"output 0: torch gives -0.0 at \[1\], ONNX Runtime 0.0 \(1 of 2 zeros"):
        assert_same(flipped, want, 1e-5, 1e-4, signed_zeros=True)
    assert_same([torch.tensor([1.0, -1e-9, 0.0, 2.0])], want, 1e-5, 1e-4, signed_zeros=True)
    assert_same([torch.tensor([0, 1])], [torch.tensor([0, 1])], 0, 0, signed_zeros=True)  # integers: no sign of zero
    with pytest.raises(AssertionError, match="zeros differ in sign"):  # bfloat16 comes back as float32
        assert_same([torch.tensor([0.0])], [torch.tensor([-0.0], dtype=torch.bfloat16)], 0, 0, signed_zeros=True)
