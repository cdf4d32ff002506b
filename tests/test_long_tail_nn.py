"""Issue 13 through the public API: histograms (bin count with range, weight and density; given
edges), nonzero_static, 3-D grid sampling, antialiased bilinear/bicubic resizing, fractional max
pooling with given samples, segment reductions, histogramdd and max pooling's backward in tiny
models, exported and run in ONNX Runtime, each compared with eager PyTorch; below the opset that
maps an op (20 for 3-D grid sampling), the error names it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from patterns import Fn, export_and_run
from torch import nn

import aten2onnx


class Histograms(nn.Module):
    def forward(self, x: torch.Tensor, w: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, ...]:
        counts, bounds = torch.histogram(x[1:], bins=6)  # row 0 holds a NaN: no range from the data
        ranged, _ = torch.histogram(x, bins=4, range=(-1.0, 1.5), weight=w, density=True)
        given, _ = torch.histogram(x, bins=edges, weight=w)
        return counts, bounds, ranged, given


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [9, 20])
def test_histograms(dtype: torch.dtype, opset: int) -> None:
    torch.manual_seed(0)
    x, w = torch.randn(5, 7, dtype=dtype), torch.rand(5, 7, dtype=dtype)
    x[0, 0], x[1, 1] = float("nan"), 1.5  # not counted; on the closed last edge
    edges = torch.tensor([-2.0, -0.5, 0.0, 0.25, 3.0], dtype=dtype)
    export_and_run(Histograms(), (x, w, edges), opset=opset)


class SampleAndSelect(nn.Module):
    def forward(self, volume: torch.Tensor, grid: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=False),
                F.grid_sample(volume, grid, mode="nearest", padding_mode="reflection", align_corners=True),
                torch.nonzero_static(mask, size=6, fill_value=-1), torch.nonzero_static(mask, size=2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grid_sample_3d_and_nonzero_static(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    volume, grid = torch.randn(2, 3, 4, 5, 6, dtype=dtype), torch.rand(2, 3, 2, 4, 3, dtype=dtype) * 2.4 - 1.2
    mask = torch.tensor([[True, False, True], [False, False, True]])
    export_and_run(SampleAndSelect(), (volume, grid, mask), opset=20)


def test_grid_sample_3d_names_opset_20() -> None:
    volume, grid = torch.randn(1, 1, 2, 2, 2), torch.zeros(1, 1, 1, 1, 3)
    with pytest.raises(aten2onnx.UnsupportedOpsError, match="grid_sampler_3d") as caught:
        aten2onnx.export(SampleAndSelect(), (volume, grid, torch.ones(2, 2, dtype=torch.bool)), opset_version=18)
    assert "20" in str(caught.value)


class Antialiased(nn.Module):
    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (F.interpolate(image, size=(5, 4), mode="bilinear", antialias=True),
                F.interpolate(image, scale_factor=0.4, mode="bicubic", antialias=True, align_corners=True),
                F.interpolate(image, scale_factor=(1.5, 0.5), mode="bilinear", antialias=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [9, 20])
def test_antialiased_resize(dtype: torch.dtype, opset: int) -> None:
    torch.manual_seed(0)
    export_and_run(Antialiased(), (torch.randn(2, 3, 11, 13, dtype=dtype),), opset=opset)


def test_antialiased_width_one_refused() -> None:
    model = Fn(lambda image: F.interpolate(image, size=(3, 1), mode="bilinear", antialias=True))
    with pytest.raises(aten2onnx.ConstraintError, match="output width of 1"):
        aten2onnx.export(model, (torch.randn(1, 1, 8, 5),), opset_version=20)


class FractionalPools(nn.Module):
    def forward(self, x: torch.Tensor, u2: torch.Tensor, volume: torch.Tensor, u3: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pooled, where = F.fractional_max_pool2d(x, (3, 2), output_size=(4, 5), return_indices=True, _random_samples=u2)
        return pooled, where, F.fractional_max_pool3d(volume, 2, output_size=(3, 2, 3), _random_samples=u3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fractional_max_pools(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x, volume = torch.randn(2, 3, 9, 8, dtype=dtype), torch.randn(1, 2, 5, 6, 7, dtype=dtype)
    x[1, 2, 4, 4] = float("nan")  # wins its windows, as in torch's loop
    u2, u3 = torch.rand(2, 3, 2, dtype=dtype), torch.rand(1, 2, 3, dtype=dtype)
    export_and_run(FractionalPools(), (x, u2, volume, u3), opset=20)


class Segments(nn.Module):
    def forward(self, data: torch.Tensor, lengths: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.segment_reduce(data, "mean", lengths=lengths),
                torch.segment_reduce(data, "max", lengths=lengths, initial=0.5),
                torch.segment_reduce(data.transpose(0, 1), "sum", offsets=offsets, axis=1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_segment_reduce(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    data = torch.randn(6, 3, dtype=dtype)
    lengths = torch.tensor([2, 0, 4])  # an empty segment: NaN for mean, the initial value for max
    offsets = torch.tensor([[0, 1, 1, 6], [0, 3, 5, 6], [0, 0, 6, 6]])
    export_and_run(Segments(), (data, lengths, offsets), opset=18)


class Histograms3d(nn.Module):
    def forward(self, points: torch.Tensor, w: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, ...]:
        counts, bounds = torch.histogramdd(points, bins=[3, 1, 4])
        ranged, _ = torch.histogramdd(points, bins=2, range=[-1.0, 1.0, 0.0, 0.0, -2.0, 2.5], weight=w, density=True)
        given, _ = torch.histogramdd(points[:, :1], bins=[edges], weight=w)
        return counts, *bounds, ranged, given


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_histogramdd(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    points, w = torch.randn(9, 3, dtype=dtype), torch.rand(9, dtype=dtype)
    points[2, 0] = 0.0  # on the closed last edge of the ranged histogram's flat dimension
    edges = torch.tensor([-2.0, -0.5, 0.0, 0.25, 3.0], dtype=dtype)
    export_and_run(Histograms3d(), (points, w, edges), opset=18)


class MaxPoolGradient(nn.Module):
    """Max pooling's gradient as a training graph holds it: the backward op fed the forward's indices."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        pool = F.max_pool2d if self.dims == 2 else F.max_pool3d
        backward = (torch.ops.aten.max_pool2d_with_indices_backward if self.dims == 2
                    else torch.ops.aten.max_pool3d_with_indices_backward)
        _, indices = pool(x, 3, stride=1, padding=1, return_indices=True)
        ones = [1] * self.dims
        return backward(grad, x, [3] * self.dims, ones, ones, ones, False, indices)


@pytest.mark.parametrize(("dims", "opset"), [(2, 13), (2, 18), (3, 18)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_max_pool_backward_sums_overlapping_windows(dims: int, dtype: torch.dtype, opset: int) -> None:
    """3x3 windows at stride 1 overlap: an input that is the maximum of several windows collects the sum
    of their gradients (checked to happen in this input). Below opset 16 (no adding ScatterElements) the
    2-D op reaches ONNX through torch's decomposition."""
    gen = torch.Generator().manual_seed(dims)
    x = torch.randn(2, 3, *([5] * dims), generator=gen, dtype=dtype)
    grad = torch.randn(2, 3, *([5] * dims), generator=gen, dtype=dtype)
    pool = F.max_pool2d if dims == 2 else F.max_pool3d
    indices = pool(x, 3, stride=1, padding=1, return_indices=True)[1]
    assert indices.flatten(2).unique(dim=-1).shape[-1] < indices.flatten(2).shape[-1]  # shared maxima
    export_and_run(MaxPoolGradient(dims), (x, grad), opset=opset)



def test_max_pool3d_backward_names_its_first_opset() -> None:
    """torch has no decomposition of the 3-D backward: below 16 the error says which opset maps it."""
    x = torch.randn(1, 2, 4, 4, 4)
    with pytest.raises(aten2onnx.UnsupportedOpsError, match=r"max_pool3d_with_indices_backward.*opset_version=16"):
        aten2onnx.export(MaxPoolGradient(3), (x, x), opset_version=13)
