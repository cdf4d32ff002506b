"""Dynamic axes as hints (issue 19 item 1, issue 16 item 1): examples of size 1 (and 0) on a
dynamic axis export dynamic where the model allows it; where the model fixes a size, the export
warns naming the axis and the model's line, the report lists it and the input shows the size.

Each model is exported once from a batch-1 (or length-1) example and run in ONNX Runtime at
sizes 1, 2 and 7, compared with eager PyTorch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from patterns import assert_matches, export_and_run, input_dims
from torch import nn
from torch.export import Dim

import aten2onnx


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x))).softmax(-1)


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(torch.relu(self.bn(self.conv(x))), 1)
        return self.fc(pooled.view(x.shape[0], -1))  # a reshape to the batch size read from the input


class CausalAttention(nn.Module):
    """Token embeddings, a causal mask built from the sequence length, padding mask broadcast in."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.qkv, self.out = nn.Embedding(20, 8), nn.Linear(8, 24), nn.Linear(8, 8)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length = ids.shape
        q, k, v = self.qkv(self.embed(ids)).view(batch, length, 3, 2, 4).unbind(2)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / 2.0
        causal = torch.ones(length, length, dtype=torch.bool).tril()
        allowed = causal & mask[:, None, None, :].bool()
        weights = scores.masked_fill(~allowed, -1e4).softmax(-1)
        return self.out(torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, 8)).mean(1)


def _ids_and_mask(batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.ones(batch, length, dtype=torch.int64)
    if length > 1:
        mask[0, -1] = 0
    return torch.randint(0, 20, (batch, length)), mask


_MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[int], tuple[Any, ...]], Any]] = {
    "mlp_dynamic_axes": (MLP, lambda n: (torch.randn(n, 8),), {"dynamic_axes": {"x": {0: "batch"}}}),
    "mlp_list_form": (MLP, lambda n: (torch.randn(n, 8),), {"dynamic_axes": {"x": [0]}}),
    "conv_dim": (lambda: ConvNet().eval(), lambda n: (torch.randn(n, 3, 6, 6),),
                 {"dynamic_shapes": {"x": {0: Dim("batch")}}}),
    "conv_dim_dynamic": (lambda: ConvNet().eval(), lambda n: (torch.randn(n, 3, 6, 6),),
                         {"dynamic_shapes": ({0: Dim.DYNAMIC},)}),
    "attention_batch_and_length": (CausalAttention, lambda n: _ids_and_mask(n, n), {
        "input_names": ["ids", "mask"],
        "dynamic_axes": {"ids": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}}}),
    "attention_length_strings": (CausalAttention, lambda n: _ids_and_mask(2, n), {
        "dynamic_shapes": {"ids": {1: "length"}, "mask": {1: "length"}}}),
}


@pytest.mark.parametrize("name", list(_MODELS))
def test_size_one_example_exports_dynamic(name: str) -> None:
    make, inputs, options = _MODELS[name]
    torch.manual_seed(0)
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error", aten2onnx.DynamicAxisWarning)  # nothing is fixed
        program = export_and_run(model, inputs(1), [inputs(2), inputs(7)], atol=1e-4, **options)
    dims = input_dims(program)
    assert all("1" not in d[:2] for d in dims), dims  # the batch/length axes stay symbolic


def test_size_zero_example_exports_dynamic() -> None:
    model = MLP()
    program = export_and_run(model, (torch.randn(0, 8),), [(torch.randn(1, 8),), (torch.randn(5, 8),)],
                             dynamic_shapes={"x": {0: "batch"}})
    assert input_dims(program) == [["batch", "8"]]


# -- models that fix a size -----------------------------------------------------------------------------
class FixedReshape(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(2, 2, 6) * 2  # fixes the batch at 4


class ViewToOne(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.view(1, 8))  # runs at batch 1 only


class BranchOnOne(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1:  # a special case for single examples
            return x * 2
        return x + 1


class CatWithStatic(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, y], 1)  # y is not dynamic: x's batch must be y's


_FIXED = [
    ("reshape_dim", FixedReshape(), (torch.randn(4, 6),), {"dynamic_shapes": {"x": {0: Dim("batch")}}},
     "x.shape[0] ('batch') is exported with the fixed size 4: fixed by", "return x.reshape(2, 2, 6) * 2"),
    ("reshape_name", FixedReshape(), (torch.randn(4, 6),), {"dynamic_axes": {"x": {0: "batch"}}},
     "x.shape[0] ('batch') is exported with the fixed size 4: fixed by", "return x.reshape(2, 2, 6) * 2"),
    ("view_to_one", ViewToOne(), (torch.randn(1, 8),), {"dynamic_axes": {"x": [0]}},
     "x.shape[0] ('x_dynamic_axes_1') is exported with the fixed size 1: the model fails at other sizes",
     "return self.fc(x.view(1, 8))"),
    ("branch_on_one", BranchOnOne(), (torch.randn(1, 5),), {"dynamic_shapes": {"x": {0: "batch"}}},
     "x.shape[0] ('batch') is exported with the fixed size 1: the model computes differently", "output 0"),
    ("cat_with_static", CatWithStatic(), (torch.randn(1, 3), torch.randn(1, 2)), {"dynamic_axes": {"x": [0]}},
     "the model fails at other sizes", "return torch.cat([x, y], 1)"),
]


@pytest.mark.parametrize(("model", "example", "options", "message", "line"),
                         [pytest.param(*case[1:], id=case[0]) for case in _FIXED])
def test_size_the_model_fixes_is_exported_with_a_warning(model: nn.Module, example: tuple[torch.Tensor, ...],
                                                         options: dict[str, Any], message: str, line: str,
                                                         tmp_path: Path) -> None:
    with pytest.warns(aten2onnx.DynamicAxisWarning) as caught:
        program = aten2onnx.export(model, example, opset_version=18, report=True, artifacts_dir=tmp_path, **options)
    text = " ".join(str(w.message) for w in caught if issubclass(w.category, aten2onnx.DynamicAxisWarning))
    assert message in text and line in text, text
    size = example[0].shape[0]
    assert input_dims(program)[0][0] == str(size)  # the input shows the size, not a name
    report = program.report_path.read_text()
    assert "## Dynamic axes" in report and f"fixed size {size}" in report
    assert_matches(program, model, example)


def test_fixed_axis_is_not_named_on_the_outputs() -> None:
    with pytest.warns(aten2onnx.DynamicAxisWarning):
        program = aten2onnx.export(FixedReshape(), (torch.randn(4, 6),), input_names=["x"], output_names=["y"],
                                  dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    assert input_dims(program) == [["4", "6"]]
    assert [str(d) for d in program.model.graph.outputs[0].shape] == ["2", "2", "6"]


def test_dynamic_shapes_keys_of_inputs_not_given_are_ignored() -> None:
    """A dict naming an optional input the call leaves out (torch.export refuses such keys)."""
    model = MLP()
    with pytest.warns(aten2onnx.DynamicAxisWarning, match=r"dynamic_shapes\['mask'\] names no input"):
        program = export_and_run(model, (torch.randn(1, 8),), [(torch.randn(3, 8),)],
                                 dynamic_shapes={"x": {0: "batch"}, "mask": {0: "batch"}})
    assert input_dims(program) == [["batch", "8"]]
