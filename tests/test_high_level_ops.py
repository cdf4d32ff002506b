"""End-to-end: high-level layers through aten2onnx.export(), kept whole where ONNX has the op.

Each model runs in ONNX Runtime and must match eager PyTorch. At the opset where ONNX gained a
matching op (LayerNormalization 17, GroupNormalization 21, Attention and RMSNormalization 23,
Gelu 20, Mish 18, Col2Im 18, GridSample 16 (below it torch._decomp's decomposition of the core op), HardSwish and Trilu 14, Einsum 12, CumSum,
DepthToSpace CRD and Resize's linear/cubic modes 11, LSTM/GRU always) the graph must hold that
op, proving the layer was not decomposed by torch; below it the decomposition must not use it.
"""

from __future__ import annotations

import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aten2onnx
from aten2onnx.exporter.options import TrainingMode


class Attention(nn.Module):
    """Grouped-query attention with a bool mask (4 query heads, 2 key/value heads)."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)


class CausalAttention(nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)


class Lambda(nn.Module):
    """A functional op as a module, for the table below."""

    def __init__(self, fn: object) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> object:
        return self.fn(*args)


class Recurrent(nn.Module):
    """A 2-layer bidirectional batch-first LSTM feeding a GRU; every output and state returned."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(10, 4)

    def forward(self, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, (h, c) = self.lstm(x, (h0, c0))
        z, hz = self.gru(y.transpose(0, 1))
        return y, h, c, z, hz


def _cases() -> list[object]:
    torch.manual_seed(0)
    mask = torch.rand(3, 5) > 0.3
    mask[1] = False  # a fully masked row: torch gives zeros there
    cases = [
        # (name, model, inputs, {opset: ONNX op that must be present (None: must be absent)}, kept op)
        ("layer_norm", nn.LayerNorm([3, 4]), (torch.randn(2, 3, 4),), "LayerNormalization", [9, 16], [17, 26]),
        ("group_norm", nn.GroupNorm(2, 4), (torch.randn(2, 4, 3, 3),), "GroupNormalization", [9, 20], [21, 26]),
        ("rms_norm", nn.RMSNorm(4), (torch.randn(2, 3, 4),), "RMSNormalization", [9, 22], [23, 26]),
        ("instance_norm", nn.InstanceNorm2d(4, affine=True), (torch.randn(2, 4, 3, 3),), "InstanceNormalization",
         [], [9, 26]),
        ("lstm_gru", Recurrent(), (torch.randn(2, 6, 3), torch.randn(4, 2, 5), torch.randn(4, 2, 5)), "LSTM",
         [], [9, 14, 26]),
        ("attention", Attention(), (torch.randn(2, 4, 3, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8), mask),
         "Attention", [9, 22], [23, 26]),
        ("causal_attention", CausalAttention(), (torch.randn(1, 2, 4, 8), torch.randn(1, 2, 6, 8),
                                                 torch.randn(1, 2, 6, 8)), "Attention", [9, 13], [23, 26]),
        ("embedding_bag_mean", nn.EmbeddingBag(10, 3, mode="mean"), (torch.randint(0, 10, (4, 3)),), None,
         [], [9, 11, 26]),
        ("embedding_bag_max", nn.EmbeddingBag(10, 3, mode="max", padding_idx=2), (torch.randint(0, 10, (4, 3)),),
         None, [], [9, 26]),
        ("adaptive_max_pool", nn.AdaptiveMaxPool2d((3, 2)), (torch.randn(1, 2, 7, 5),), None, [], [9, 11, 26]),
        ("avg_pool3d", nn.AvgPool3d(2, ceil_mode=True), (torch.randn(1, 2, 5, 5, 5),), "AveragePool", [], [9, 26]),
        ("gelu", nn.GELU(), (torch.randn(2, 5),), "Gelu", [9, 19], [20, 26]),
        ("gelu_tanh", nn.GELU(approximate="tanh"), (torch.randn(2, 5),), "Gelu", [9, 19], [20, 26]),
        ("linear", nn.Linear(4, 3), (torch.randn(2, 4),), "Gemm", [], [9, 26]),
        ("linear_3d", nn.Linear(4, 3), (torch.randn(2, 5, 4),), "Gemm", [], [9, 26]),  # rows through Gemm
        ("batch_norm", nn.BatchNorm2d(3), (torch.randn(2, 3, 4, 4),), "BatchNormalization", [], [9, 26]),
        ("pixel_shuffle", nn.PixelShuffle(2), (torch.randn(1, 8, 3, 3),), "DepthToSpace", [9, 10], [11, 26]),
        ("pixel_unshuffle", nn.PixelUnshuffle(2), (torch.randn(1, 2, 4, 6),), "SpaceToDepth", [], [9, 26]),
        ("einsum", Lambda(lambda a, b: torch.einsum("bij,bjk->bik", a, b)), (torch.randn(2, 3, 4),
                                                                             torch.randn(2, 4, 5)),
         "Einsum", [9, 11], [12, 26]),
        ("silu", nn.SiLU(), (torch.randn(2, 5),), "Sigmoid", [], [9, 26]),
        ("mish", nn.Mish(), (torch.randn(2, 5),), "Mish", [9, 17], [18, 26]),
        ("hardswish", nn.Hardswish(), (torch.randn(2, 5) * 4,), "HardSwish", [9, 13], [14, 26]),
        ("hardsigmoid", nn.Hardsigmoid(), (torch.randn(2, 5) * 4,), "HardSigmoid", [], [9, 26]),
        ("softmax", nn.Softmax(-1), (torch.randn(2, 5),), "Softmax", [], [9, 26]),
        ("log_softmax", nn.LogSoftmax(1), (torch.randn(2, 5, 3),), "LogSoftmax", [], [9, 26]),
        ("cumsum", Lambda(lambda x: torch.cumsum(x, 1)), (torch.randn(2, 5),), "CumSum", [9, 10], [11, 26]),
        ("cumprod", Lambda(lambda x: torch.cumprod(x, 1)), (torch.randn(2, 5),), None, [], [9, 26]),
        ("topk", Lambda(lambda x: torch.topk(x, 2, dim=1)), (torch.randn(2, 5),), "TopK", [], [9, 26]),
        ("sort", Lambda(lambda x: torch.sort(x, dim=1, descending=True)), (torch.randn(2, 5),), "TopK", [], [9, 26]),
        ("argsort", Lambda(lambda x: torch.argsort(x, dim=1)), (torch.randn(2, 5),), "TopK", [], [9, 26]),
        ("tril", Lambda(lambda x: torch.tril(x, 1)), (torch.randn(4, 5),), "Trilu", [9, 13], [14, 26]),
        ("triu", Lambda(lambda x: torch.triu(x, -1)), (torch.randn(4, 5),), "Trilu", [9, 13], [14, 26]),
        ("roll", Lambda(lambda x: torch.roll(x, (1, -2), (0, 1))), (torch.randn(4, 5),), "Slice", [], [9, 26]),
        ("flip", Lambda(lambda x: torch.flip(x, (0, 1))), (torch.randn(4, 5),), None, [], [9, 26]),
        ("grid_sample", Lambda(lambda x, grid: F.grid_sample(x, grid, align_corners=False)),
         (torch.randn(1, 2, 4, 5), torch.rand(1, 3, 3, 2) * 2.2 - 1.1), "GridSample", [9, 15], [16, 20, 26]),
        ("col2im", nn.Fold((4, 5), (2, 2)), (torch.randn(1, 8, 12),), "Col2Im", [9, 17], [18, 26]),
        ("upsample_nearest", nn.Upsample(scale_factor=2, mode="nearest"), (torch.randn(1, 2, 3, 4),), "Resize",
         [9], [10, 26]),
        ("upsample_nearest_exact", Lambda(lambda x: F.interpolate(x, scale_factor=1.5, mode="nearest-exact")),
         (torch.randn(1, 2, 4, 6),), "Resize", [9, 10], [11, 26]),
        ("upsample_linear", nn.Upsample(scale_factor=2, mode="linear"), (torch.randn(1, 2, 3),), "Resize",
         [9, 10], [11, 26]),
        ("upsample_bilinear", nn.Upsample(scale_factor=2, mode="bilinear"), (torch.randn(1, 2, 3, 4),), "Resize",
         [9, 10], [11, 26]),
        ("upsample_bicubic", nn.Upsample(size=(5, 7), mode="bicubic", align_corners=True), (torch.randn(1, 2, 3, 4),),
         "Resize", [9, 10], [11, 26]),
        ("upsample_trilinear", nn.Upsample(scale_factor=2, mode="trilinear"), (torch.randn(1, 2, 2, 3, 4),),
         "Resize", [9, 10], [11, 26]),
        ("interpolate_area", nn.AdaptiveAvgPool2d((2, 3)), (torch.randn(1, 2, 4, 6),), "AveragePool", [], [9, 26]),
    ]
    params = []
    for name, model, inputs, op, without, with_op in cases:
        for opset in without:
            params.append(pytest.param(model, inputs, opset, op, False, id=f"{name}@{opset}"))
        for opset in with_op:
            params.append(pytest.param(model, inputs, opset, op, True, id=f"{name}@{opset}"))
    return params


def _flat(result: object) -> list[torch.Tensor]:
    return list(result) if isinstance(result, (tuple, list)) else [result]


@pytest.mark.parametrize(("model", "inputs", "opset", "op", "present"), _cases())
def test_high_level_layer_matches_eager(model: nn.Module, inputs: tuple[torch.Tensor, ...], opset: int,
                                        op: str | None, present: bool) -> None:
    model.eval()
    program = aten2onnx.export(model, inputs, opset_version=opset)
    onnx.checker.check_model(program.model_proto, full_check=True)
    op_types = {node.op_type for node in program.model.graph}
    if op is not None:
        assert (op in op_types) == present, f"{op} {'missing from' if present else 'in'} {sorted(op_types)}"
    with torch.no_grad():
        expected = _flat(model(*inputs))
    actual = program(*inputs)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("opset", [9, 26])
def test_lstm_is_one_node_per_layer(opset: int) -> None:
    model = nn.LSTM(3, 5, num_layers=2, bidirectional=True).eval()
    program = aten2onnx.export(model, (torch.randn(4, 2, 3),), opset_version=opset)
    lstms = [node for node in program.model.graph if node.op_type == "LSTM"]
    assert len(lstms) == 2
    assert all(node.attributes["direction"].as_string() == "bidirectional" for node in lstms)


@pytest.mark.parametrize("opset", [9, 26])
def test_batch_norm_in_training_mode_uses_batch_statistics(opset: int) -> None:
    """train(): torch.export captures _native_batch_norm_legit_functional; the output normalizes
    with this batch's statistics (the running-stat update is not a model output)."""
    torch.manual_seed(0)
    model, x = nn.BatchNorm2d(3), torch.randn(4, 3, 2, 2) * 2 + 1
    program = aten2onnx.export(model, (x,), opset_version=opset, training=TrainingMode.TRAINING)
    with torch.no_grad():
        expected = model.train()(x)
    torch.testing.assert_close(program(x)[0], expected, atol=1e-5, rtol=1e-4)


def test_attention_dropout_is_refused() -> None:
    class Dropped(nn.Module):
        def forward(self, q: torch.Tensor) -> torch.Tensor:
            return F.scaled_dot_product_attention(q, q, q, dropout_p=0.1)

    with pytest.raises(aten2onnx.exporter.errors.ConstraintError, match="dropout_p > 0"):
        aten2onnx.export(Dropped(), (torch.randn(1, 2, 3, 4),), opset_version=23)
