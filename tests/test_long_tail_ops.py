"""Issue 13 through the public API: small ops of the long tail (copysign, signbit, fmax, fmin, round
with decimals, ldexp, frexp, dist, xlogy/xlog1py with a number, F.bilinear, diagonal_scatter,
as_strided_scatter, the *_copy views, nextafter bit for bit, nanmedian and mode; cov, corrcoef and
combinations, which torch.export captures only kept whole) in tiny models,
and the "zero wrong numbers" cases: nn.MultiheadAttention over its argument combinations, F.unfold
of a batch of 0, replicate padding with negative pads. Each exported model runs in ONNX Runtime and is compared with eager PyTorch."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from patterns import Fn, assert_matches, export_and_run
from torch import nn

import aten2onnx


class Elementwise(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mantissa, exponent = torch.frexp(x)
        return (torch.copysign(x, y), torch.copysign(x, -0.0), torch.signbit(y), torch.fmax(x, y), torch.fmin(x, y),
                torch.round(x * 100, decimals=-1), torch.round(x, decimals=2), torch.ldexp(x, e), mantissa, exponent,
                torch.dist(x, y), torch.dist(x, y, 3.0), torch.xlogy(x, 2.0), torch.xlogy(2.0, y.abs()),
                torch.special.xlog1py(x, 2.0), torch.special.xlog1py(3.0, y.abs()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [11, 20])
def test_elementwise_long_tail(dtype: torch.dtype, opset: int) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(4, 5, dtype=dtype) * 10, torch.randn(4, 5, dtype=dtype)
    x[0, :3] = torch.tensor([0.0, float("nan"), float("inf")], dtype=dtype)
    y[1, :3] = torch.tensor([-0.0, float("nan"), 0.0], dtype=dtype)
    e = torch.randint(-8, 8, (4, 5))
    export_and_run(Elementwise(), (x, y, e), opset=opset, atol=1e-5)


class Writes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.bilinear = nn.Bilinear(4, 3, 5)

    def forward(self, a: torch.Tensor, b: torch.Tensor, m: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.bilinear(a, b), torch.diagonal_scatter(m, d, 1), torch.diagonal_scatter(m, d[:2] * 2, -2),
                torch.as_strided_scatter(m, d.reshape(1, 3).expand(2, 3), (2, 3), (4, 1), 2),
                torch.unbind_copy(m, 1)[2], torch.narrow_copy(m, 0, 1, 2), torch.permute_copy(m, (1, 0)))


def test_bilinear_and_scatters() -> None:
    torch.manual_seed(1)
    example = (torch.randn(2, 4), torch.randn(2, 3), torch.randn(4, 4), torch.randn(3))
    export_and_run(Writes(), example, opset=18, atol=1e-4)


# Windows that overlap without a stride 0, which eager torch accepts and writes in its copy loop's
# order (TensorIterator walks the smallest stride innermost), not row-major.
_OVERLAPPING_WINDOWS = [((3, 1, 2), (1, 0, 2), 0), ((3, 2), (1, 2), 1), ((2, 3), (2, 1), 0),
                        ((2, 2, 2), (3, 1, 2), 0), ((4, 2), (2, 3), 2), ((2, 3, 2), (2, 2, 1), 1)]


@pytest.mark.parametrize(("size", "stride", "offset"), _OVERLAPPING_WINDOWS)
def test_as_strided_scatter_overlapping_windows(size: tuple[int, ...], stride: tuple[int, ...], offset: int) -> None:
    numel = 1
    for count in size:
        numel *= count
    source = torch.arange(1, numel + 1, dtype=torch.float32).reshape(size)
    end = offset + sum((count - 1) * step for count, step in zip(size, stride)) + 1
    model = Fn(lambda x, s: torch.as_strided_scatter(x, s, size, stride, offset))
    export_and_run(model, (torch.zeros(end + 1), source), opset=17)


# -- zero wrong numbers -----------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, kdim: int | None, bias_kv: bool, zero_attn: bool, batch_first: bool, need_weights: bool,
                 average: bool, masks: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.mha = nn.MultiheadAttention(8, 2, kdim=kdim, vdim=kdim, add_bias_kv=bias_kv, add_zero_attn=zero_attn,
                                         batch_first=batch_first)
        self.need_weights, self.average, self.masks = need_weights, average, masks

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor,
                padding_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, weights = self.mha(q, k, v, need_weights=self.need_weights, average_attn_weights=self.average,
                                attn_mask=attn_mask if self.masks in ("attn", "both") else None,
                                key_padding_mask=padding_mask if self.masks in ("padding", "both") else None)
        return (out,) if weights is None else (out, weights)


# kdim (separate q/k/v projection weights when set), bias_kv, add_zero_attn, batch_first, need_weights,
# average_attn_weights, masks, mask dtype: a pairwise-covering subset of the combinations.
_ATTENTION_CASES = [
    (None, False, False, False, True, True, "none", "bool"),
    (6, True, True, True, True, False, "both", "float"),
    (6, False, True, False, False, True, "attn", "bool"),
    (None, True, False, True, True, True, "padding", "float"),
    (6, True, False, False, True, False, "padding", "bool"),
    (None, False, True, True, True, False, "attn", "float"),
    (None, True, True, False, False, True, "both", "bool"),
    (6, False, False, True, True, True, "both", "mixed"),
    (None, False, False, True, False, True, "both", "float"),
]


@pytest.mark.parametrize(("kdim", "bias_kv", "zero_attn", "batch_first", "need_weights", "average", "masks", "mask_dtype"),
                         _ATTENTION_CASES)
def test_multi_head_attention_combinations(kdim: int | None, bias_kv: bool, zero_attn: bool, batch_first: bool,
                                           need_weights: bool, average: bool, masks: str, mask_dtype: str) -> None:
    model = Attention(kdim, bias_kv, zero_attn, batch_first, need_weights, average, masks).eval()
    torch.manual_seed(1)
    length, source, batch, kd = 3, 4, 2, kdim or 8
    layout = (lambda t, n, e: torch.randn(n, t, e)) if batch_first else (lambda t, n, e: torch.randn(t, n, e))
    q, k, v = layout(length, batch, 8), layout(source, batch, kd) * 4, layout(source, batch, kd) * 4
    attn_mask, padding_mask = torch.randn(length, source) * 5, torch.randn(batch, source) * 5
    if mask_dtype in ("bool", "mixed"):
        attn_mask = torch.rand(length, source) > 0.6
        attn_mask[:, 0] = False
    if mask_dtype == "bool":
        padding_mask = torch.rand(batch, source) > 0.6
        padding_mask[:, 0] = False
    export_and_run(model, (q, k, v, attn_mask, padding_mask), opset=20, atol=1e-4)


def test_attention_sweep_covers_each_value() -> None:
    """The cases above take every value of every argument at least once (so none is left untested)."""
    for column in zip(*_ATTENTION_CASES):
        assert len(set(column)) >= 2
    assert {"none", "attn", "padding", "both"} <= {case[6] for case in _ATTENTION_CASES}
    assert len(set(itertools.product(*[{c[i] for c in _ATTENTION_CASES} for i in range(8)]))) > len(_ATTENTION_CASES)


@pytest.mark.parametrize("opset", [11, 18])
def test_unfold_of_a_batch_of_zero(opset: int) -> None:
    export_and_run(Fn(lambda x: F.unfold(x, 2, padding=1)), (torch.randn(0, 3, 4, 4),), opset=opset)


@pytest.mark.parametrize("pads", [(-1, 1), (2, -1, 0, -2), (-1, -1, 1, 2)])
@pytest.mark.parametrize("opset", [9, 11, 18])
def test_replicate_padding_that_crops(pads: tuple[int, ...], opset: int) -> None:
    x = torch.randn(2, 3, 4, 5)[(0,) * (2 - len(pads) // 2)]  # one padded dim: 3-D, two: 4-D
    export_and_run(Fn(lambda t: F.pad(t, pads, mode="replicate")), (x,), opset=opset)


@pytest.mark.parametrize("opset", [11, 14, 18])
def test_linear_on_an_empty_batch(opset: int) -> None:
    """The rows-through-Gemm form reshaped its result with a static 0, which Reshape read as "copy
    the input's size" (wrong shape in ONNX Runtime): allowzero from 14, MatMul before."""
    torch.manual_seed(0)
    layer = nn.Linear(4, 2)
    export_and_run(layer, (torch.randn(2, 0, 4),), [(torch.randn(2, 0, 4),)], opset=opset)
    if opset >= 14:
        export_and_run(layer, (torch.randn(2, 3, 4),), [(torch.randn(2, 0, 4),), (torch.randn(0, 3, 4),)],
                       opset=opset, dynamic_shapes=({0: "B", 1: "T"},))


class RunningStats(nn.Module):
    """Training-mode batch norm and instance norm whose updated running statistics are read: the
    schemas of batch_norm and instance_norm declare no write, so a graph translated as captured
    returned the statistics as they were before the call."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.register_buffer("mean", torch.randn(3))
        self.register_buffer("var", torch.rand(3) + 0.5)
        self.instance = nn.InstanceNorm2d(3, track_running_stats=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mean, var = self.mean.clone(), self.var.clone()
        y = F.batch_norm(x, mean, var, training=True, momentum=0.3)
        z = F.batch_norm(x * 2, self.mean, self.var, None, None, True, 0.5)
        w = torch.ops.aten._batch_norm_with_update(x, torch.ones(3) * 2, torch.ones(3), mean, var, 0.2, 1e-5)[0]
        return (y, z, w, mean, var, self.mean + 0, self.var * 1, self.instance(x),
                self.instance.running_mean + 0, self.instance.running_var * 1)


@pytest.mark.parametrize("opset", [9, 18])
def test_training_batch_norm_updates_running_stats(opset: int) -> None:
    # The ONNX model reads the buffers when first run: export a copy, so eager's updates to the
    # original's buffers do not reach it.
    x = torch.randn(4, 3, 5, 5)
    program = aten2onnx.export(RunningStats(), (x,), opset_version=opset, training=aten2onnx.TrainingMode.PRESERVE)
    assert_matches(program, RunningStats(), (x,))


@pytest.mark.parametrize("opset", [9, 12])
def test_bfloat16_below_opset_13_is_refused(opset: int) -> None:
    """Below 13 not even Cast takes bfloat16, so type legalization could not widen it (it looped
    forever): the export names the op, the opset and the way out."""
    bf16 = Fn(lambda x: torch.relu(x * 2) + 1)
    inner = Fn(lambda x: x.to(torch.bfloat16).float() * 3)  # ONNX Runtime runs a bfloat16 Cast only
    for model, dtype in [(bf16, torch.bfloat16), (inner, torch.float32)]:
        with pytest.raises(aten2onnx.DtypeOpsetError, match=r"(Mul|Cast) at .*bfloat16.* opset_version=13 or later"):
            aten2onnx.export(model, (torch.randn(3, 4, dtype=dtype),), opset_version=opset)
    export_and_run(inner, (torch.randn(3, 4),), opset=13)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [11, 20])
def test_copysign_keeps_signed_zeros(dtype: torch.dtype, opset: int) -> None:
    """ONNX Runtime's Where turned a selected -0.0 into +0.0, and assert_close cannot see the sign of
    a zero: compare the sign bits of every non-NaN result."""
    x = torch.tensor([0.0, -0.0, 0.0, -0.0, 1.0, -1.0, float("inf"), -2.0, 0.0], dtype=dtype)
    y = torch.tensor([-0.0, 0.0, 0.0, -0.0, -0.0, 0.0, -1.0, float("nan"), -float("inf")], dtype=dtype)
    model = Fn(lambda a, b: (torch.copysign(a, b), torch.copysign(a, -0.0), torch.copysign(a, 0.0),
                             torch.copysign(a, -3)))
    program = export_and_run(model, (x, y), opset=opset)
    for got, want in zip(program(x, y), model(x, y)):
        real = ~torch.isnan(want)
        assert real.sum() >= 8 and torch.equal(torch.signbit(got[real]), torch.signbit(want[real]))


class Lookups(nn.Module):
    def forward(self, x: torch.Tensor, edges: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        rows = torch.sort(x, -1)[0]
        return (torch.bucketize(x, edges), torch.bucketize(x, edges, right=True, out_int32=True),
                torch.searchsorted(rows, x), torch.searchsorted(edges, x, side="right"),
                x.scatter(1, index, x * 2, reduce="add"), x.scatter(0, index[:2] % 3, 1.5, reduce="multiply"),
                x.put(index[0], x[1], accumulate=True), x.put(index[1] - 4, x[0]),
                x.index_reduce(1, index[0], x, "amax", include_self=False),
                x.index_reduce(0, index[2, :2], x[:2], "mean"))


def test_lookups_and_reductions() -> None:
    torch.manual_seed(2)
    x = torch.randn(3, 4).round(decimals=1)
    edges = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    index = torch.tensor([[0, 2, 1, 0], [3, 0, 2, 1], [1, 1, 0, 3]])
    export_and_run(Lookups(), (x, edges, index), opset=18)


class NextAfter(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nextafter(x, y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("opset", [9, 20])
def test_nextafter_is_bit_exact(dtype: torch.dtype, opset: int) -> None:
    """Every class of float a binade step can trip on, compared bit for bit (assert_close's
    tolerance would hide a one-ulp miss): subnormals, powers of two from both sides, the largest
    finite number, +-0, +-inf, NaN, equal arguments, and a log-uniform sweep of magnitudes.
    (bfloat16, which ONNXProgram's numpy inputs cannot carry, is left to tests/test_ops.py.)"""
    info = torch.finfo(dtype)
    gen = torch.Generator().manual_seed(3)
    sweep = torch.exp2(torch.empty(400, dtype=torch.float64).uniform_(-1080, 1030, generator=gen))
    sweep = sweep * torch.where(torch.rand(400, generator=gen) < 0.5, -1.0, 1.0)
    edges = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), info.max, -info.max, info.tiny, -info.tiny,
             info.tiny * info.eps, 1.0, -1.0, 2.0, 0.5, 1024.0, info.tiny * 2]
    x = torch.cat([torch.tensor(edges, dtype=torch.float64), sweep]).to(dtype)
    x = x.repeat_interleave(4)
    y = torch.stack([x.new_full(x.shape, float("inf")), x.new_full(x.shape, float("-inf")), x, x.flip(0)], 0)
    x, y = x.reshape(1, -1).expand(4, -1).contiguous(), y.reshape(4, -1)
    program = aten2onnx.export(NextAfter(), (x, y), opset_version=opset)
    got, want = program(x, y)[0], torch.nextafter(x, y)
    nan = want.isnan()
    assert torch.equal(got.isnan(), nan)
    bits = torch.int16 if dtype.itemsize == 2 else torch.int32 if dtype.itemsize == 4 else torch.int64
    assert torch.equal(got[~nan].view(bits), want[~nan].view(bits))


class Statistics(nn.Module):
    def forward(self, x: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values, indices = torch.nanmedian(x, 1)
        lowest, where = torch.mode(k, 0, keepdim=True)
        return torch.nanmedian(x), values, indices, torch.nanmedian(x, 0, keepdim=True).values, lowest, where, \
            torch.mode(x.nan_to_num(0.5).round(), -1).values


def test_nanmedian_and_mode() -> None:
    """A row of NaN only (NaN, index 0: torch's index there comes from its partial sort, 0 up to
    three elements), NaN among values (ignored), ties in mode (the smallest value, its last index);
    a second batch size through dynamic shapes."""
    torch.manual_seed(4)
    nan = float("nan")
    x = torch.tensor([[nan, nan, nan], [1.0, nan, -2.0], [nan, 0.5, 0.5], [2.0, 1.0, 4.0]])
    k = torch.tensor([[3, 1], [1, 1], [3, 2], [1, 2], [3, 2]])
    export_and_run(Statistics(), (x, k), [(torch.randn(6, 3).round(), torch.randint(-2, 2, (7, 2)))], opset=18,
                   dynamic_shapes=({0: "rows"}, {0: "count"}))


# -- ops torch.export cannot trace, kept whole while capturing (exporter/capture/whole_ops.py) ----
class Covariances(nn.Module):
    def forward(self, x: torch.Tensor, f: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.cov(x), torch.cov(x, correction=0, fweights=f), torch.cov(x, correction=2, fweights=f, aweights=a),
                torch.cov(x, aweights=a), torch.cov(x[0]), torch.corrcoef(x), torch.corrcoef(x[:1]), torch.corrcoef(x[0]))


class Combinations(nn.Module):
    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.combinations(y), torch.combinations(y, 3), torch.combinations(y, 1),
                torch.combinations(y, 2, with_replacement=True), torch.combinations(y * 2, 4, with_replacement=True))


def _weights(observations: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(0, 4, (observations,)), torch.rand(observations, dtype=dtype) + 0.25


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [9, 18])
def test_cov_and_corrcoef(dtype: torch.dtype, opset: int) -> None:
    """torch.export fails inside torch's cov (aten.equal on data): captured whole, with dynamic
    variable and observation counts, a second call with other sizes."""
    torch.manual_seed(5)
    x = torch.randn(3, 7, dtype=dtype)
    x[2] = 1.5  # a row without variance: corrcoef's NaN row and column
    other = torch.randn(5, 4, dtype=dtype)
    export_and_run(Covariances(), (x, *_weights(7, dtype)), [(other, *_weights(4, dtype))], opset=opset, atol=1e-5,
                   dynamic_shapes=({0: "variables", 1: "observations"}, {0: "observations"}, {0: "observations"}))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [9, 18])
def test_combinations(dtype: torch.dtype, opset: int) -> None:
    """torch.export fails inside torch's combinations (a masked_select): captured whole, its index
    table computed at export."""
    torch.manual_seed(6)
    program = export_and_run(Combinations(), (torch.randn(6, dtype=dtype),), opset=opset)
    assert {node.op_type for node in program.model.graph} <= {"Constant", "Gather", "Mul"}


def test_combinations_of_a_dynamic_length_is_refused() -> None:
    with pytest.raises(aten2onnx.ConstraintError, match=r"torch.combinations of a vector whose length is known only "
                                                        r"at run time.*statistics.yaml"):
        aten2onnx.export(Combinations(), (torch.randn(6),), opset_version=18, dynamic_shapes=({0: "n"},))


def test_ops_kept_whole_are_restored_after_export() -> None:
    """torch's kernels and fake rules are as they were after an export that kept ops whole, also after
    one whose capture failed, and the eager model computes as before."""
    from torch._subclasses import fake_impls

    from aten2onnx.exporter.capture import whole_ops

    ops = [getattr(torch.ops.aten, name.split("::")[1].split(".")[0]).default for name in whole_ops.whole_ops(18)]
    assert len(ops) == 4

    def state() -> list[tuple[dict[object, object], bool]]:
        return [(dict(op.py_kernels), op in fake_impls.op_implementations_dict) for op in ops]

    class Fails(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cov(x).reshape(5)  # a 3x3 result: torch.export fails after cov was traced

    before = state()
    example = (torch.randn(3, 6), *_weights(6, torch.float32))
    expected = Covariances()(*example)
    export_and_run(Covariances(), example, opset=18)
    assert state() == before
    with pytest.raises(aten2onnx.CaptureError):
        aten2onnx.export(Fails(), example[:1], opset_version=18)
    assert state() == before
    for got, want in zip(Covariances()(*example), expected):
        torch.testing.assert_close(got, want, equal_nan=True, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [9, 18])
def test_cov_without_degrees_of_freedom(dtype: torch.dtype, opset: int) -> None:
    """One observation, or a correction as large as their count: torch divides by 0 (inf, NaN). A
    division by a constant 0 after a MatMul would become FusedMatMul's alpha of inf in ONNX Runtime,
    which refuses to load the model (float64)."""
    model = Fn(lambda x, y: (torch.cov(x), torch.corrcoef(x), torch.cov(y, correction=3), torch.cov(y[0], correction=5)))
    example = (torch.tensor([[1.0], [-2.0], [0.0]], dtype=dtype), torch.randn(2, 3, dtype=dtype))
    export_and_run(model, example, opset=opset)
