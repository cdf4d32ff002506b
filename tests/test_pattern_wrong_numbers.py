"""Wrong numbers (issue 19 item 7): nn.EmbeddingBag with include_last_offset=True, and dropout in
training mode through export(..., training=TrainingMode.TRAINING, verify=True).

EmbeddingBag: root cause found: with include_last_offset and a last offset below len(indices)
(torch documents it as len(indices); data loaders often pass more indices), torch's fast CPU
kernel (float32/float16/bfloat16 weights, no padding_idx, sum or mean) leaves the indices past
the last offset out of the last bag's sum but counts them in its size; the mapping summed
them. Its spec now draws such offsets (`short_last`).

Dropout: the mapping was right, verify=True compared random outputs element by element; random
outputs are now compared as samples (zero fraction, mean, variance), and the tests check the
zeros pattern itself: kept elements scaled by 1/(1-p), whole channels for dropout2d.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from op_runner import assert_same
from patterns import Fn, assert_matches
from torch import nn

import aten2onnx
from aten2onnx.exporter.api.verify import _compare_sample
from aten2onnx.exporter.options import TrainingMode


class Bags(nn.Module):
    def __init__(self, mode: str, padding_idx: int | None, dtype: torch.dtype) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.bag = nn.EmbeddingBag(10, 3, mode=mode, include_last_offset=True, padding_idx=padding_idx).to(dtype)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return self.bag(indices, offsets, per_sample_weights=weights)


_INDICES = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9])
_OFFSETS = [
    torch.tensor([0, 3, 5, 8]),        # the documented form: the last offset is len(indices)
    torch.tensor([0, 3, 5, 7]),        # one index past the last offset
    torch.tensor([0, 2, 4, 6]),        # two past it
    torch.tensor([0, 3, 3, 5]),        # an empty bag, three past the end
    torch.tensor([0, 8]),              # one bag
    torch.tensor([0, 1, 2, 3, 4, 5]),  # five bags, three past the end
]


@pytest.mark.parametrize(("mode", "padding_idx", "dtype", "weighted"), [
    ("sum", None, torch.float32, False), ("sum", None, torch.float32, True), ("mean", None, torch.float32, False),
    ("max", None, torch.float32, False), ("sum", None, torch.float64, False), ("mean", 2, torch.float32, False),
    ("sum", 7, torch.float32, True),
])
@pytest.mark.parametrize("opset", [11, 18])
def test_embedding_bag_with_include_last_offset(mode: str, padding_idx: int | None, dtype: torch.dtype,
                                                 weighted: bool, opset: int) -> None:
    model = Bags(mode, padding_idx, dtype)
    weights = torch.rand(8, dtype=dtype) if weighted else None
    example = (_INDICES, _OFFSETS[1], *([weights] if weighted else []))
    shapes = ({0: "count"}, {0: "bags"}, *([{0: "count"}] if weighted else []))
    program = aten2onnx.export(model, example, opset_version=opset, dynamic_shapes=shapes)
    for offsets in _OFFSETS:
        assert_matches(program, model, (_INDICES, offsets, *([weights] if weighted else [])), atol=1e-6)
    fewer = _INDICES[:5]
    assert_matches(program, model, (fewer, torch.tensor([0, 2, 4]), *([weights[:5]] if weighted else [])), atol=1e-6)


# -- dropout in training mode --------------------------------------------------------------------------
class Dropouts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.3)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return F.dropout(x, 0.5, training=True), self.drop(x), F.dropout2d(image, 0.4, training=self.training)


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.rand(300, 40) + 0.5, torch.rand(8, 64, 5, 5) + 0.5  # no zeros of their own


@pytest.mark.parametrize("opset", [11, 18, 26])
def test_dropout_in_training_mode_matches_eager_statistics_and_zeros_pattern(opset: int) -> None:
    x, image = _inputs()
    model = Dropouts().eval()
    program = aten2onnx.export(model, (x, image), opset_version=opset, training=TrainingMode.TRAINING, verify=True)
    assert [c.method for c in program.verification] == ["statistical"] * 3 and all(c.passed for c in program.verification)
    assert model.training is False  # the model's own mode is restored
    plain, module, channels = program(x, image)
    for out, p in ((plain, 0.5), (module, 0.3)):
        kept = out != 0
        assert abs(kept.double().mean().item() - (1 - p)) < 0.02  # 12000 draws: 6 standard errors
        torch.testing.assert_close(out[kept], (x / (1 - p))[kept])  # the kept elements scaled by 1 / (1 - p)
    per_channel = channels.flatten(2)
    whole = (per_channel == 0).all(-1) | (per_channel != 0).all(-1)
    assert bool(whole.all())  # dropout2d zeroes whole channels
    dropped = (per_channel == 0).all(-1).double().mean().item()
    assert abs(dropped - 0.4) < 0.11  # 512 channels
    torch.testing.assert_close(channels[channels != 0], (image / 0.6)[channels != 0])


def test_sample_comparison_refuses_another_distribution() -> None:
    """The statistical check verify applies to random outputs can fail: other p, other scale."""
    torch.manual_seed(0)
    x = torch.ones(4000)
    eager = F.dropout(x, 0.5)
    assert _compare_sample("out", F.dropout(x, 0.5), eager).passed
    assert "elements are 0" in _compare_sample("out", F.dropout(x, 0.2), eager).problem
    assert "mean" in _compare_sample("out", F.dropout(x, 0.5) * 1.2, eager).problem
    assert "ONNX gives" in _compare_sample("out", F.dropout(x, 0.5).double(), eager).problem


# -- signed zeros and NaN (issue 13): bit-for-bit signs of zero, NaN where torch has NaN -----------------
_NAN, _INF = float("nan"), float("inf")


def assert_same_bits(got: torch.Tensor, want: torch.Tensor) -> None:
    """Values within a few ulps, NaN at the same places and torch's sign bit on every zero (the op
    suite's comparison with its `signed_zeros` hint)."""
    assert_same([got], [want], atol=0.0, rtol=1e-6, signed_zeros=True)


def _check_bits(fn: Callable[..., torch.Tensor], *args: torch.Tensor, opset: int) -> None:
    model = Fn(fn)
    program = aten2onnx.export(model, args, opset_version=opset)
    (got,) = program(*args)
    assert_same_bits(got, fn(*args))


_SIGNED = torch.tensor([-0.0, 0.0, -0.5, 0.5, -1.5, 2.0, _NAN, _INF, -_INF])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [9, 18, 26])
def test_where_keeps_negative_zero_from_either_branch(dtype: torch.dtype, opset: int) -> None:
    """ONNX Runtime's Where turns a -0.0 it selects from X into +0.0 (the ort-kernel-gaps Where form)."""
    condition = torch.tensor([True, False, True, False, True, False, True, False, True])
    other = torch.tensor([-0.0, -0.0, 0.0, -0.0, 1.0, _NAN, -0.0, -0.0, 0.0])
    _check_bits(torch.where, condition, _SIGNED.to(dtype), other.to(dtype), opset=opset)
    _check_bits(lambda c, x: torch.where(c, x, 0.0), condition, _SIGNED.to(dtype), opset=opset)
    _check_bits(lambda c, x: torch.where(c, -0.0, x), condition, _SIGNED.to(dtype), opset=opset)


@pytest.mark.parametrize("opset", [9, 18])
def test_where_under_not_keeps_signs_after_ort_fuses_the_not(opset: int) -> None:
    """ONNX Runtime's optimizer fuses Where(Not(c), a, b) into Where(c, b, a): xlogy(-2.6, 1) = -0.0 then
    lost its sign in a real export (its Mul moved into the branch that loses -0.0); the rewrite fuses first."""
    _check_bits(torch.xlogy, torch.tensor([-2.6, 2.0, 0.0, -0.0, 1.0, -1.0]),
                torch.tensor([1.0, 1.0, 0.0, 2.0, _NAN, 1.0]), opset=opset)


def test_where_with_a_constant_fill_keeps_signs_in_two_nodes() -> None:
    """A masked fill (Y a constant without -0.0, as attention masks) swaps Where's branches under an Xor
    instead of the seven-node sign repair: X's -0.0 survives and only Xor is added."""
    model = Fn(lambda c, x: torch.where(c, x, float("-inf")))
    condition = torch.tensor([True, False, True, True, False, True, True, False, True])
    program = aten2onnx.export(model, (condition, _SIGNED), opset_version=18)
    assert sorted(n.op_type for n in program.model.graph if n.op_type not in ("Constant", "ConstantOfShape")) == ["Where", "Xor"]
    (got,) = program(condition, _SIGNED)
    assert_same_bits(got, model(condition, _SIGNED))


@pytest.mark.parametrize("opset", [9, 18, 26])
def test_signed_zero_results_of_elementwise_ops(opset: int) -> None:
    """trunc(-0.5) = -0.0, expm1(-0.0) = -0.0, atan2's signed-zero quadrants, heaviside(-0.0, -0.0)."""
    _check_bits(torch.trunc, _SIGNED, opset=opset)
    _check_bits(torch.expm1, _SIGNED, opset=opset)
    y = torch.tensor([0.0, -0.0, 0.0, -0.0, 0.0, -0.0, 0.0, -0.0, _INF])
    x = torch.tensor([0.0, 0.0, -0.0, -0.0, -2.0, -2.0, 3.0, 3.0, -_INF])
    _check_bits(torch.atan2, y, x, opset=opset)
    _check_bits(torch.atan2, x, y, opset=opset)
    if opset >= 12:  # heaviside needs Equal on floats (opset 11)
        _check_bits(torch.heaviside, _SIGNED, torch.tensor([-0.0]), opset=opset)


@pytest.mark.parametrize("opset", [9, 12, 26])
def test_max_min_and_clamps_return_self_on_ties_and_sign_of_nan_is_zero(opset: int) -> None:
    """torch picks self on +-0 ties (maximum(0.0, -0.0) = 0.0, clamp_min(-0.0, 0.0) = -0.0); sign(NaN) = 0."""
    a = torch.tensor([0.0, -0.0, _NAN, 1.0, _NAN, -0.0, 0.0, -1.0])
    b = torch.tensor([-0.0, 0.0, 1.0, _NAN, _NAN, -0.0, 0.0, 2.0])
    for fn in (torch.maximum, torch.minimum, torch.fmax, torch.fmin, lambda x, y: torch.clamp(x, min=y),
               lambda x, y: torch.clamp(x, max=y), lambda x, y: torch.clamp(x, min=y, max=y)):
        _check_bits(fn, a, b, opset=opset)
    for bound in (0.0, -0.0):
        _check_bits(lambda x, v=bound: torch.clamp_min(x, v), a, opset=opset)
        _check_bits(lambda x, v=bound: torch.clamp_max(x, v), a, opset=opset)
        _check_bits(lambda x, v=bound: torch.clamp(x, min=v, max=1.0), a, opset=opset)
    _check_bits(torch.sign, _SIGNED, opset=opset)
