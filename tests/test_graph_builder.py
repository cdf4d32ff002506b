"""GraphBuilder's shapes of intermediate values: elementwise ops' outputs get their exact shape.

Impls ask `g.rank`/`g.shape` of values they built themselves (Relu of an input, a sum of two);
those shapes follow from the inputs' for elementwise ops, and are left unknown (None) where
they do not follow exactly.
"""

from __future__ import annotations

import onnx
import onnx_ir as ir
import onnxruntime
import pytest
import torch
from torch.export import Dim

import aten2onnx
from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.rewrite import passes


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
    program = aten2onnx.export(_Elementwise(), (x, y), dynamic_shapes={"x": {0: Dim("rows")}, "y": None})
    onnx.shape_inference.infer_shapes(program.model_proto, check_type=True, strict_mode=True)
    onnx.checker.check_model(program.model_proto, full_check=True)
    for rows in (1, 5):
        x = torch.randn(rows, 4)
        torch.testing.assert_close(program(x, y)[0], _Elementwise()(x, y))


# -- dtypes ONNX Runtime has no kernel for (exporter/rewrite/ort_kernel_gaps.py, the ort-kernel-gaps pass) --
class _MixedNarrowInts(torch.nn.Module):
    """int8 with uint8 promotes to int16, for which ONNX Runtime has no Max, Min or Where."""

    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.maximum(a, b), torch.minimum(a, b), torch.where(c, a, b)


class _Call(torch.nn.Module):
    def __init__(self, function: object) -> None:
        super().__init__()
        self.function = function

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.function(*args)


def _export_and_compare(model: torch.nn.Module, args: tuple[torch.Tensor, ...], opset: int, tolerance: float = 0.0) -> None:
    program = aten2onnx.export(model, args, opset_version=opset)
    expected = model(*args)
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    for got, want in zip(program(*args), expected, strict=True):
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("opset", [11, 18])
def test_int8_with_uint8_max_min_where_run_in_int32(opset: int) -> None:
    a = torch.tensor([-128, -1, 0, 5, 127], dtype=torch.int8)
    b = torch.tensor([255, 0, 1, 4, 200], dtype=torch.uint8)
    c = torch.tensor([True, False, True, False, True])
    _export_and_compare(_MixedNarrowInts(), (a, b, c), opset)


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int16])
def test_trilu_of_dtypes_without_kernel(dtype: torch.dtype) -> None:
    x = torch.arange(-6, 6).reshape(3, 4).to(dtype)
    _export_and_compare(_Call(lambda t: (torch.tril(t, 1), torch.triu(t, -1))), (x,), 18)


def test_nonzero_of_float64_keeps_values_float32_would_flush() -> None:
    """Cast to bool, not to float32: 1e-300 is nonzero (float32 would round it to 0)."""
    x = torch.tensor([[0.0, 1e-300], [-1e-310, 0.0], [float("nan"), 2.0]], dtype=torch.float64)
    _export_and_compare(_Call(torch.nonzero), (x,), 18)


def test_scatter_reductions_of_float16() -> None:
    x = torch.tensor([1.5, -2.0, 3.25, 0.5], dtype=torch.float16)
    index = torch.tensor([0, 0, 3, 1, 3])
    src = torch.tensor([0.25, 1.0, -4.0, 2.0, 8.0], dtype=torch.float16)
    for reduce in ("sum", "prod", "amax", "amin"):
        _export_and_compare(_Call(lambda t, i, s, r=reduce: t.scatter_reduce(0, i, s, r)), (x, index, src), 18)


@pytest.mark.parametrize("opset", [9, 18, 20])
def test_float64_activations_are_exact(opset: int) -> None:
    """ONNX Runtime runs these in double at no opset but 18 (LeakyRelu 16-18): their float64
    forms keep double precision (float32 would be off by ~1e-8 relative)."""
    x = torch.cat([torch.linspace(-30, 30, 601, dtype=torch.float64), torch.tensor([-1e-12, 1e-12, -700.0])])
    functions = [
        lambda t: torch.nn.functional.elu(t, 0.5), torch.selu, lambda t: torch.nn.functional.leaky_relu(t, 0.1),
        torch.nn.functional.hardsigmoid, torch.nn.functional.softplus, lambda t: torch.tan(t / 21),
        lambda t: torch.asin(t / 30),
    ]
    for function in functions:
        program = aten2onnx.export(_Call(function), (x,), opset_version=opset)
        torch.testing.assert_close(program(x)[0], function(x), atol=1e-15, rtol=4e-15, equal_nan=True)


def _run_one_op(op_type: str, inputs: list[torch.Tensor], opset: int, **attributes: object) -> torch.Tensor:
    g = GraphBuilder(opset)
    values = [ir.Value(name=f"x{i}", type=ir.TensorType(ir.DataType.DOUBLE), shape=ir.Shape(t.shape))
              for i, t in enumerate(inputs)]
    out = g.op(op_type, *values, **attributes)
    out.name = "y"
    graph = ir.Graph(values, [out], nodes=g.nodes, opset_imports={"": opset})
    model = ir.Model(graph, ir_version=8)
    passes.legalize(model)  # the ort-kernel-gaps pass export runs after translation
    proto = ir.serde.serialize_model(model)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {v.name: t.numpy() for v, t in zip(values, inputs)})[0])


_F = torch.nn.functional
_DOUBLE_OPS = [  # (ONNX op, attributes, torch reference with the ONNX definition's constants)
    ("Elu", {"alpha": 0.5}, lambda x: _F.elu(x, 0.5)),
    ("Selu", {}, lambda x: 1.05070102214813232421875 * _F.elu(x, 1.67326319217681884765625)),
    ("Celu", {"alpha": 2.0}, lambda x: _F.celu(x, 2.0)),
    ("LeakyRelu", {"alpha": 0.1}, lambda x: _F.leaky_relu(x, 0.1)),
    ("ThresholdedRelu", {"alpha": 1.5}, lambda x: torch.where(x > 1.5, x, 0.0)),
    ("HardSigmoid", {"alpha": 0.25, "beta": 0.4}, lambda x: (0.25 * x + 0.4).clamp(0, 1)),
    ("HardSwish", {}, _F.hardswish),
    ("Softplus", {}, lambda x: _F.softplus(x, threshold=1e9)),
    ("Softsign", {}, _F.softsign),
    ("Mish", {}, _F.mish),
    ("Tan", {}, torch.tan),
    ("Asin", {}, torch.asin),
]
# inputs: [-30, 30] (and +-1e-12, 0) scaled into Tan's (-pi/2, pi/2) and Asin's [-1, 1]
_SCALE = {"Tan": 1 / 21, "Asin": 1 / 30}


@pytest.mark.parametrize(("op_type", "attributes", "reference"), _DOUBLE_OPS, ids=[o[0] for o in _DOUBLE_OPS])
@pytest.mark.parametrize("opset", [13, 18])
def test_float64_forms_of_ops_without_double_kernels(op_type: str, attributes: dict[str, float], reference: object,
                                                      opset: int) -> None:
    """Every exact float64 form (exporter/rewrite/ort_kernel_gaps.py), including ops no spec emits in float64."""
    x = torch.cat([torch.linspace(-30, 30, 601, dtype=torch.float64), torch.tensor([-1e-12, 1e-12, 0.0])])
    x = x * _SCALE.get(op_type, 1.0)
    got = _run_one_op(op_type, [x], opset, **attributes)
    torch.testing.assert_close(got, reference(x), atol=1e-15, rtol=4e-15)


def test_prelu_float64_form() -> None:
    x = torch.linspace(-3, 3, 24, dtype=torch.float64).reshape(2, 3, 4)
    slope = torch.tensor([[0.25], [-1.5], [2.0]], dtype=torch.float64)
    torch.testing.assert_close(_run_one_op("PRelu", [x, slope], 9), torch.where(x < 0, x * slope, x), atol=0, rtol=0)
