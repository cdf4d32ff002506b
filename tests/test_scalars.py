"""End-to-end: Python scalars outside the range of the tensor's dtype, as torch wraps them.

torch converts a Python number operand to the computation dtype by C casting (300 on an int8
tensor acts as 44, -1 on a uint8 tensor as 255, 2**40 on int32 as 0, 1e6 on float16 as inf).
The constants the exporter makes must hold the same numbers; each case also checks eager torch
wraps at all (the expected values are eager's own, compared with ONNX Runtime).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import aten2onnx

INT8 = torch.tensor([[1, -2, 127], [-128, 0, 44]], dtype=torch.int8)
# for x // 44: the floor-division spec computes a - mod(a, b), which overflows int8 below -88
# (a bug of that spec, not of scalar wrapping)
INT8_SMALL = torch.tensor([[1, -2, 127], [-88, 0, -45]], dtype=torch.int8)
UINT8 = torch.tensor([[0, 1, 255], [128, 7, 254]], dtype=torch.uint8)
INT32 = torch.tensor([[1, -2], [2**31 - 1, -(2**31)]], dtype=torch.int32)
FLOAT16 = torch.tensor([[1.0, -2.0], [65504.0, 0.5]], dtype=torch.float16)


class Fn(torch.nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


# (name, function, input, opsets): opsets where ONNX has the op's kernels for the dtype
CASES = [
    ("int8_and_int64_max", lambda x: x & (2**63 - 1), INT8, [13, 18]),
    ("uint8_xor_int64_max", lambda x: x ^ (2**63 - 1), UINT8, [13, 18]),
    ("int8_or_minus_one", lambda x: x | -1, INT8, [18]),
    ("uint8_add_minus_one", lambda x: x + (-1), UINT8, [14, 18]),
    ("uint8_sub_one", lambda x: x - 1, UINT8, [14, 18]),
    ("int8_add_300", lambda x: x + 300, INT8, [14, 18]),
    ("int8_add_minus_129", lambda x: x + (-129), INT8, [14, 18]),
    ("int8_mul_1000", lambda x: x * 1000, INT8, [14, 18]),
    ("uint8_mul_minus_3", lambda x: x * -3, UINT8, [14, 18]),
    ("int32_add_2_pow_40", lambda x: x + 2**40, INT32, [9, 18]),
    ("uint8_less_minus_one", lambda x: x < -1, UINT8, [14, 18]),
    ("uint8_greater_256", lambda x: x > 256, UINT8, [14, 18]),
    ("int8_floor_divide_300", lambda x: x // 300, INT8_SMALL, [18]),
    ("int8_remainder_300", lambda x: x % 300, INT8, [18]),
    ("uint8_where_minus_one", lambda x: torch.where(x > 0, x, -1), UINT8, [18]),
    ("uint8_masked_fill_minus_one", lambda x: x.masked_fill(x > 1, -1), UINT8, [18]),
    ("uint8_clamp_min_minus_5", lambda x: x.clamp(min=-5), UINT8, [18]),
    ("float16_add_1e6", lambda x: x + 1e6, FLOAT16, [18]),
]


@pytest.mark.parametrize(("fn", "x", "opset"), [
    pytest.param(fn, x, opset, id=f"{name}@{opset}") for name, fn, x, opsets in CASES for opset in opsets
])
def test_out_of_range_scalar_wraps_as_in_torch(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                                               opset: int) -> None:
    model = Fn(fn)
    expected = model(x)
    program = aten2onnx.export(model, (x,), opset_version=opset)
    (actual,) = program(x)
    assert actual.dtype == expected.dtype
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)


def test_eager_torch_wraps_these_scalars() -> None:
    """The premise of the cases above: without wrapping, torch's results would differ."""
    assert (UINT8 + (-1))[0, 0] == 255
    assert (INT8 + 300)[0, 0] == 45
    assert (INT32 + 2**40).equal(INT32)
    assert (UINT8 < -1)[0, 0]
