"""Issue 13 through the public API: histograms (bin count with range, weight and density; given
edges), nonzero_static, 3-D grid sampling, antialiased bilinear/bicubic resizing, fractional max
pooling with given samples, segment reductions and histogramdd in tiny models, exported and run in
ONNX Runtime, each compared with eager PyTorch; below opset 20, 3-D grid sampling names the opset
that has it."""

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
