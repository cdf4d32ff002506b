"""GraphBuilder's shapes of intermediate values: elementwise ops' outputs get their exact shape.

Impls ask `g.rank`/`g.shape` of values they built themselves (Relu of an input, a sum of two);
those shapes follow from the inputs' for elementwise ops, and are left unknown (None) where
they do not follow exactly.
"""

from __future__ import annotations

import onnx
import onnx_ir as ir
import pytest
import torch
from torch.export import Dim

import exporter
from exporter import emit_helpers as h
from exporter.graph_builder import GraphBuilder


def _input(shape: list[int | str | None] | None, dtype: ir.DataType = ir.DataType.FLOAT) -> ir.Value:
    return ir.Value(name="x", type=ir.TensorType(dtype), shape=None if shape is None else ir.Shape(shape))


def test_unary_ops_keep_the_shape_so_rank_works_on_intermediates() -> None:
    g = GraphBuilder(18)
    x = _input([2, "batch", 4])
    y = g.op("Neg", g.op("Relu", x))
    assert g.shape(y) == [2, "batch", 4]
    assert h.norm_dims(g, None, y) == [0, 1, 2]
    mask = g.op("IsNaN", y)
    assert g.shape(mask) == [2, "batch", 4] and g.dtype(mask) == torch.bool


@pytest.mark.parametrize(("shapes", "expected"), [
    ([[2, 1, 4], [3, 1]], [2, 3, 4]),
    ([["b", 1], [1, 5]], ["b", 5]),
    ([["b", 3], [5, 3]], [5, 3]),           # a symbolic size broadcast with 5 must be 5 (or 1)
    ([["b", 3], ["b", 1]], ["b", 3]),
    ([[], [2, 2]], [2, 2]),                 # a 0-d operand
    ([[0, 1], [1, 7]], [0, 7]),
])
def test_broadcasting_ops_broadcast_the_shapes(shapes: list[list[int | str]], expected: list[int | str]) -> None:
    g = GraphBuilder(18)
    a, b = (_input(s) for s in shapes)
    assert g.shape(g.op("Add", a, b)) == expected
    assert g.shape(g.op("Less", a, b)) == expected


@pytest.mark.parametrize("shapes", [
    [["a", 3], ["b", 3]],       # two different symbolic sizes: either may be 1
    [[None, 3], [1, 3]],        # an unnamed dimension
    [[2, 3], [4, 3]],           # not broadcastable
    [None, [1, 3]],             # an input of unknown shape
])
def test_shape_left_unknown_where_it_does_not_follow_exactly(shapes: list[list[int | str | None] | None]) -> None:
    g = GraphBuilder(18)
    a, b = (_input(s) for s in shapes)
    out = g.op("Mul", a, b)
    assert out.shape is None
    with pytest.raises(ValueError, match="rank of .* is not known"):
        g.rank(out)


def test_where_broadcasts_all_three_and_other_ops_stay_unknown() -> None:
    g = GraphBuilder(18)
    cond, x = _input([4, 1], ir.DataType.BOOL), _input([1, 3])
    assert g.shape(g.op("Where", cond, x, g.constant(0.0, torch.float32))) == [4, 3]
    assert g.op("MatMul", x, _input([3, 2])).shape is None  # not elementwise: not inferred here


class _Elementwise(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = torch.relu(x) * y + 1.0
        return torch.where(z > 0, z, -z).softmax(-1)


def test_exported_shapes_agree_with_onnx_shape_inference() -> None:
    """The shapes written into the model (value_info) agree with ONNX's strict inference, and the
    model runs at other sizes of its dynamic dimension."""
    x, y = torch.randn(3, 4), torch.randn(1, 4)
    program = exporter.export(_Elementwise(), (x, y), dynamic_shapes={"x": {0: Dim("rows")}, "y": None})
    onnx.shape_inference.infer_shapes(program.model_proto, check_type=True, strict_mode=True)
    onnx.checker.check_model(program.model_proto, full_check=True)
    for rows in (1, 5):
        x = torch.randn(rows, 4)
        torch.testing.assert_close(program(x, y)[0], _Elementwise()(x, y))
