"""Histograms through the TorchScript frontend: torch.histogramdd is recorded whole, in the overload of
its `bins` (counts per dimension, one count for every dimension, the edges), and torch.histogram in
its bin-count or edge-tensor overload. Each form, traced and scripted, exports through its spec
(torch's decomposition is switched off) and matches eager torch in ONNX Runtime, in float32 and
float64, on inputs with other numbers of points than the example.
"""

from __future__ import annotations

import warnings
from typing import Any

import onnx
import pytest
import torch
from torch.utils._pytree import tree_leaves

import aten2onnx
from aten2onnx.exporter.torchscript import translator


class CountsPerDimension(torch.nn.Module):  # aten::histogramdd (int[] bins), 3 dimensions
    def forward(self, x: torch.Tensor, w: torch.Tensor) -> Any:
        counts, edges = torch.histogramdd(x, bins=[3, 1, 4])
        ranged = torch.histogramdd(x, bins=[2, 2, 3], range=[-1.0, 1.0, 0.0, 0.0, -2.0, 2.5], weight=w, density=True)
        return counts, edges, ranged


class OneCountForAll(torch.nn.Module):  # aten::histogramdd.int_bins, 2 dimensions
    def forward(self, x: torch.Tensor, w: torch.Tensor) -> Any:
        counts, edges = torch.histogramdd(x[:, :2], bins=3)
        ranged = torch.histogramdd(x[:, 1:], bins=4, range=[-1.5, 2.5, 1.0, 1.0], weight=w)
        return counts, edges, ranged


class GivenEdges(torch.nn.Module):  # aten::histogramdd.TensorList_bins, 1 and 2 dimensions
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("edges", torch.linspace(-2.0, 2.0, 5))
        self.register_buffer("inner", torch.tensor([-1.0, 0.0, 2.5]))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> Any:
        flat = torch.histogramdd(x[:, :1], bins=[self.edges], weight=w, density=True)
        plane = torch.histogramdd(x[:, :2], bins=[self.edges, self.inner])
        return flat, plane


class Histograms(torch.nn.Module):  # aten::histogram.bin_ct and .bins_tensor, aten::histc
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("edges", torch.tensor([-2.0, -0.5, 0.0, 3.0]))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> Any:
        counts, bounds = torch.histogram(x, bins=5)
        ranged = torch.histogram(x[:, 0], bins=4, range=(-1.0, 1.5), weight=w, density=True)
        given = torch.histogram(x, bins=self.edges)
        return counts, bounds, ranged, given, torch.histc(x, bins=6, min=-2.0, max=2.0)


FORMS = {"histogramdd": (CountsPerDimension, {"aten::histogramdd"}),
         "histogramdd.int_bins": (OneCountForAll, {"aten::histogramdd.int_bins"}),
         "histogramdd.TensorList_bins": (GivenEdges, {"aten::histogramdd.TensorList_bins"}),
         "histogram": (Histograms, {"aten::histogram.bin_ct", "aten::histogram.bins_tensor", "aten::histc"})}


def _points(n: int, dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 3, generator=gen, dtype=torch.float64) * 5 - 2.5).to(dtype)
    x[0, 0], x[1, 1] = 1.0, 0.0  # on edges: a closed last bin (range [-1, 1]) and a one-value range
    return x, torch.rand(n, generator=gen, dtype=torch.float64).to(dtype) * 2


_decompose = translator.decompose


def _decompose_all_but_histograms(t: Any, node: torch._C.Node, name: str, *rest: Any) -> Any:
    assert "hist" not in name, f"torch's decomposition translated {name}: the overload has no spec"
    return _decompose(t, node, name, *rest)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("scripted", [False, True], ids=["traced", "scripted"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_histogram_forms_export_through_their_specs(form: str, scripted: bool, dtype: torch.dtype,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(translator, "decompose", _decompose_all_but_histograms)
    model_class, overloads = FORMS[form]
    model = model_class().to(dtype)
    example = _points(7, dtype, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        captured = torch.jit.script(model) if scripted else torch.jit.trace(model, example, check_trace=False)
    recorded = {n.schema().split("(", 1)[0] for n in captured.inlined_graph.nodes() if "hist" in n.kind()}
    assert recorded == overloads, recorded
    program = aten2onnx.export(captured, example, dynamo=False, opset_version=18,
                               input_names=["x", "w"], dynamic_axes={"x": {0: "n"}, "w": {0: "n"}})
    onnx.checker.check_model(program.model_proto, full_check=True)
    for args in (example, _points(11, dtype, 1), _points(2, dtype, 2)):
        expected = tree_leaves(model(*args))
        actual = program(*args)
        assert len(actual) == len(expected)
        for got, want in zip(actual, expected):
            assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
            torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


class DynamicDimensions(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> Any:
        return torch.histogramdd(x, bins=3)


def test_one_count_for_all_needs_a_static_number_of_dimensions() -> None:
    points = _points(5, torch.float32, 0)[0]
    with pytest.raises(aten2onnx.OnnxExporterError, match="number of dimensions"):
        aten2onnx.export(torch.jit.script(DynamicDimensions()), (points,), dynamo=False, opset_version=18,
                         input_names=["x"], dynamic_axes={"x": {0: "n", 1: "d"}})


class EdgesAsInput(torch.nn.Module):
    def forward(self, x: torch.Tensor, edges: torch.Tensor) -> Any:
        return torch.histogramdd(x, bins=[edges])


def test_given_edges_need_static_lengths() -> None:
    points = _points(5, torch.float32, 0)[0][:, :1]
    with pytest.raises(aten2onnx.OnnxExporterError, match="each edge tensor's length known at export time"):
        aten2onnx.export(torch.jit.script(EdgesAsInput()), (points, torch.linspace(-1.0, 1.0, 4)), dynamo=False,
                         opset_version=18, input_names=["x", "edges"], dynamic_axes={"edges": {0: "e"}})
