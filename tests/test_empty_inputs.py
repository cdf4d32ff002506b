"""Empty inputs torch accepts, each compared with ONNX Runtime through the one-op harness (issue 13).

The edge-shape suite (tests/test_ops_edges.py) draws zero sizes from every spec's hints, but only a
few examples per spec: these are the cases it once drew that returned wrong values or failed in ONNX
Runtime, kept here so that each is compared on every run whatever the suite's draws.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from op_runner import assert_same, build_one_op_model, flatten_outputs, run_eager, run_onnx
from patterns import assert_matches
from test_ops import SPECS, graph_inputs
from torch import nn

import aten2onnx
from aten2onnx.codegen.shared.torch_schema import schema_of
from aten2onnx.exporter.errors import ConstraintError


def _compare(overload: str, opset: int, **arguments: Any) -> None:
    """Eager torch against ONNX Runtime for one call; the spec's tolerances."""
    spec = next(s for s in SPECS if s.aten == overload)
    schema = schema_of(overload)
    arguments = {a.name: arguments.get(a.name, a.default) for a in schema.arguments}
    expected = flatten_outputs(run_eager(overload, schema, arguments))
    model = build_one_op_model(overload, schema, arguments, opset, expected, graph_inputs(spec))
    assert_same(run_onnx(model), expected, spec.test.atol, spec.test.rtol)


def _t(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    torch.manual_seed(sum(shape) + len(shape))
    return (torch.randn(shape) * 3).to(dtype)


# addmv with a mat of no elements: eager torch gives beta * self in self's own shape (zeros of
# mat.size(0) for beta == 0), whatever alpha is; an empty MatMul gives zeros
@pytest.mark.parametrize(("self_shape", "mat_shape"), [
    ((1,), (0, 3)), ((), (0, 2)), ((3,), (3, 0)), ((1,), (3, 0)), ((), (2, 0)), ((1,), (0, 0)), ((0,), (0, 2)),
])
@pytest.mark.parametrize(("beta", "alpha"), [(1, 1), (2, 3), (0, 0.25), (-0.5, 1)])
@pytest.mark.parametrize("opset", [9, 26])
def test_addmv_with_an_empty_matrix(self_shape: tuple[int, ...], mat_shape: tuple[int, int], beta: float,
                                    alpha: float, opset: int) -> None:
    _compare("aten::addmv.default", opset, self=_t(*self_shape), mat=_t(*mat_shape), vec=_t(mat_shape[1]), beta=beta, alpha=alpha)


# pdist of rows with no columns: zeros for every pair, in any dtype (torch accepts integers and
# bool there); fewer than two rows: no pairs
_PDIST_CASES = [(shape, dtype) for shape in [(4, 0), (1, 0), (0, 0), (0, 3), (1, 3)]
                for dtype in [torch.float32, torch.int32, torch.bool]
                if dtype.is_floating_point or shape[1] == 0]  # torch takes integers only without columns


@pytest.mark.parametrize(("shape", "dtype"), _PDIST_CASES)
@pytest.mark.parametrize("p", [0.0, 3.0, float("inf")])
@pytest.mark.parametrize("opset", [9, 26])
def test_pdist_with_no_columns_or_rows(shape: tuple[int, int], dtype: torch.dtype, p: float, opset: int) -> None:
    _compare("aten::_pdist_forward.default", opset, self=_t(*shape, dtype=dtype), p=p)


# adaptive average pooling to size 1 over empty spatial dims: torch's mean over nothing, NaN (other
# output sizes torch refuses); GlobalAveragePool refuses such an input in ONNX Runtime
@pytest.mark.parametrize(("rank", "shape"), [
    (1, (2, 3, 0)), (1, (3, 0)), (2, (1, 2, 0, 3)), (2, (2, 4, 0)), (3, (1, 0, 0, 0)), (3, (2, 1, 3, 0, 2)),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("opset", [9, 13, 26])
def test_adaptive_avg_pool_to_one_over_empty_spatial_dims(rank: int, shape: tuple[int, ...], dtype: torch.dtype,
                                                          opset: int) -> None:
    _compare(f"aten::adaptive_avg_pool{rank}d.default", opset, self=_t(*shape, dtype=dtype), output_size=[1] * rank)


# attention with no keys (zeros), no queries, a head size of 0 (the mean of the values: the scores
# are all 0 whatever the scale) or no value features; ONNX Runtime's Attention (opset 23) refuses
# no keys and a head size of 0, so those take MatMul/Softmax
@pytest.mark.parametrize("sizes", [(1, 2, 3, 0, 4, 3), (1, 2, 0, 3, 4, 3), (1, 2, 3, 2, 0, 3), (2, 1, 3, 2, 4, 0)])
@pytest.mark.parametrize(("mask", "causal", "scale"), [(None, False, None), (None, True, 0.5), ("bool", False, None),
                                                       ("float", False, 2.0)])
@pytest.mark.parametrize("opset", [9, 23])
def test_attention_with_empty_sizes(sizes: tuple[int, ...], mask: str | None, causal: bool, scale: float | None,
                                    opset: int) -> None:
    B, H, L, S, E, EV = sizes
    masks = {None: None, "bool": torch.arange(L * S).reshape(L, S) % 3 > 0, "float": _t(L, S)}
    _compare("aten::scaled_dot_product_attention.default", opset, query=_t(B, H, L, E), key=_t(B, H, S, E),
             value=_t(B, H, S, EV), attn_mask=masks[mask], is_causal=causal, scale=scale)


# grouped-query attention repeats key/value heads with a Reshape whose target holds the 0 (no keys,
# a head size of 0): Reshape's 0 copies a size unless allowzero (14), so it is built as reshape_to
@pytest.mark.parametrize(("S", "E"), [(0, 0), (0, 2), (3, 0)])
@pytest.mark.parametrize("opset", [9, 13, 14, 26])
def test_grouped_query_attention_with_empty_sizes(S: int, E: int, opset: int) -> None:
    _compare("aten::scaled_dot_product_attention.default", opset, query=_t(1, 4, 2, E), key=_t(1, 2, S, E),
             value=_t(1, 2, S, 3), attn_mask=torch.ones(1, S, dtype=torch.bool), enable_gqa=True)


# recurrent layers over a sequence of length 0: torch's eager kernel refuses it, torch.export records
# it, and ONNX Runtime's LSTM/GRU/RNN kernels crash the process on it, so export refuses (the model
# is never run); a batch of 0 is a constant (translate/empty_results.py) and runs
@pytest.mark.parametrize("layer", [nn.LSTM, nn.GRU, nn.RNN])
def test_recurrent_layer_over_no_steps_is_refused_at_export(layer: type[nn.Module]) -> None:
    with pytest.raises(ConstraintError, match="over a sequence of length 0"):
        aten2onnx.export(layer(3, 4).eval(), (torch.randn(0, 2, 3),), opset_version=18)
    with pytest.raises(ConstraintError, match="over a sequence of length 0"):
        aten2onnx.export(layer(3, 4, batch_first=True).eval(), (torch.randn(2, 0, 3),), opset_version=18)


@pytest.mark.parametrize("layer", [nn.LSTM, nn.GRU, nn.RNN])
def test_recurrent_layer_over_a_batch_of_zero(layer: type[nn.Module]) -> None:
    model, x = layer(3, 4).eval(), torch.randn(3, 0, 3)
    program = aten2onnx.export(model, (x,), opset_version=18)
    assert_matches(program, model, (x,), atol=0)
