"""Input and output structures (issue 19 item 3): dict inputs with string keys, dict outputs,
outputs with None in them, nested lists and tuples in and out. Inputs and outputs are flattened
in torch.onnx's order (torch.utils._pytree's: positions, then keys in insertion order), None
outputs are dropped, and input_names / output_names / dynamic_axes apply to the flattened leaves.
"""

from __future__ import annotations

import torch
from patterns import assert_matches, export_and_run, input_dims
from torch import nn
from torch.utils._pytree import tree_leaves

import aten2onnx


class DictIn(nn.Module):
    """A batch dict, as data loaders give it."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.embed(batch["ids"]) * batch["mask"].unsqueeze(-1)
        return hidden.sum(1) / batch["mask"].sum(1, keepdim=True).clamp(min=1)


def _batch(n: int, length: int) -> dict[str, torch.Tensor]:
    return {"ids": torch.randint(0, 10, (n, length)), "mask": (torch.rand(n, length) > 0.3).float()}


def test_dict_input_by_position_and_by_keyword() -> None:
    torch.manual_seed(0)
    model = DictIn()
    shapes = {"batch": {"ids": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}}}
    program = export_and_run(model, (_batch(2, 5),), [(_batch(1, 3),), (_batch(4, 9),)], dynamic_shapes=shapes)
    assert [v.name for v in program.model.graph.inputs] == ["batch_ids", "batch_mask"]
    assert input_dims(program) == [["batch", "length"], ["batch", "length"]]
    # torch.onnx's convention still holds: a trailing dict of forward()'s keywords is the kwargs
    program = aten2onnx.export(model, ({"batch": _batch(2, 5)},), opset_version=18, input_names=["ids", "mask"],
                              dynamic_axes={"ids": [0, 1], "mask": [0, 1]})
    assert [v.name for v in program.model.graph.inputs] == ["ids", "mask"]
    assert_matches(program, model, (_batch(3, 7),))


class DictOut(nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, object]:
        return {"logits": x.relu(), "extra": (x.sum(-1), [x * 2, x.argmax(-1)]), "scale": x.abs().max()}


def test_dict_and_nested_outputs_flatten_in_order_with_names() -> None:
    model = DictOut()
    names = ["logits", "total", "double", "best", "scale"]
    program = export_and_run(model, (torch.randn(2, 3),), [(torch.randn(5, 3),)], output_names=names,
                             dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}, "best": {0: "batch"}})
    outputs = program.model.graph.outputs
    assert [v.name for v in outputs] == names
    assert [str(d) for d in outputs[0].shape] == ["batch", "3"] and [str(d) for d in outputs[3].shape] == ["batch"]
    x = torch.randn(4, 3)
    assert [t.dtype for t in program(x)] == [t.dtype for t in tree_leaves(model(x))]


class NoneOut(nn.Module):
    """What Hugging Face models return with optional outputs switched off."""

    def forward(self, x: torch.Tensor) -> tuple[object, ...]:
        return x * 2, None, (x + 1, None, [None, x - 1])


def test_none_outputs_are_dropped_as_torch_onnx_does() -> None:
    program = export_and_run(NoneOut(), (torch.randn(2, 3),), [(torch.randn(6, 3),)], output_names=["a", "b", "c"],
                             dynamic_shapes=({0: "batch"},))
    assert [v.name for v in program.model.graph.outputs] == ["a", "b", "c"]


class NestedInOut(nn.Module):
    def forward(self, xs: list[object], pair: tuple[torch.Tensor, torch.Tensor]) -> list[object]:
        first, (second, third) = xs
        return [first + second, ((third * pair[0]).sum(0), [pair[1].t()])]


def _nested(n: int) -> tuple[object, ...]:
    return [torch.randn(n, 2), (torch.randn(n, 2), torch.randn(n, 2))], (torch.randn(n, 2), torch.randn(n, 3))


def test_nested_lists_and_tuples_in_and_out() -> None:
    model = NestedInOut()
    batch = {0: "batch"}
    shapes = {"xs": [batch, (batch, batch)], "pair": (batch, batch)}
    program = export_and_run(model, _nested(3), [_nested(1), _nested(8)], dynamic_shapes=shapes,
                             input_names=["a", "b", "c", "d", "e"])
    assert [v.name for v in program.model.graph.inputs] == ["a", "b", "c", "d", "e"]
    assert input_dims(program) == [["batch", "2"]] * 4 + [["batch", "3"]]
    assert len(program.model.graph.outputs) == 3


def test_nested_input_axes_by_flattened_names() -> None:
    """dynamic_axes keys name flattened inputs as torch.export does (`xs_1_0`)."""
    model = NestedInOut()
    axes = {name: [0] for name in ("xs_0", "xs_1_0", "xs_1_1", "pair_0", "pair_1")}
    program = export_and_run(model, _nested(2), [_nested(5)], dynamic_axes=axes)
    assert all(dims[0] != "2" for dims in input_dims(program))


class IntKeys(nn.Module):
    def forward(self, features: dict[int, torch.Tensor]) -> torch.Tensor:
        return features[0] * 2 + features[1]


def test_trailing_dict_with_non_string_keys_is_an_input() -> None:
    """Not keywords (that raised `TypeError: keywords must be strings`): the dict is the input."""
    model = IntKeys()
    feats = lambda n: {0: torch.randn(n, 3), 1: torch.randn(n, 3)}  # noqa: E731
    program = export_and_run(model, (feats(2),), [(feats(5),)], dynamic_shapes=({0: {0: "n"}, 1: {0: "n"}},))
    assert [v.name for v in program.model.graph.inputs] == ["features_0", "features_1"]
