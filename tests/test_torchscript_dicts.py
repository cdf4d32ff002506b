"""Dict inputs on the TorchScript path (dynamo=False, scripted models), as torch.onnx's classic exporter
took them: the dict's tensors are ONNX inputs in the dict's order, named `batch_ids` as on the
torch.export path; dicts the model reads and builds are resolved at export time (exporter/torchscript/
dict_ops.py), loops over a dict's keys or items unrolled. Every export is compared with eager in ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

import onnx
import pytest
import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

import aten2onnx


class DictIn(nn.Module):
    """A batch dict, as data loaders give it, beside a plain tensor."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(10, 4)

    def forward(self, batch: dict[str, Tensor], scale: Tensor) -> Tensor:
        hidden = self.embed(batch["ids"]) * batch["mask"].unsqueeze(-1)
        return hidden.sum(1) / batch["mask"].sum(1, keepdim=True).clamp(min=1) * scale


def _batch(n: int, length: int) -> dict[str, Tensor]:
    return {"ids": torch.randint(0, 10, (n, length)), "mask": (torch.rand(n, length) > 0.3).float()}


def _compare(program: aten2onnx.ONNXProgram, model: Any, *args: Any) -> None:
    with torch.no_grad():
        want = [t for t in tree_leaves(model(*args)) if isinstance(t, Tensor)]
    got = program(*args)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("scripted", [False, True], ids=["traced", "scripted"])
def test_a_dict_input_is_one_onnx_input_per_key(scripted: bool) -> None:
    model = DictIn().eval()
    exported = torch.jit.script(model) if scripted else model
    axes = {"batch_ids": {0: "n", 1: "length"}, "batch_mask": {0: "n", 1: "length"}}
    program = aten2onnx.export(exported, (_batch(2, 5), torch.tensor(2.0)), dynamo=False, dynamic_axes=axes)
    assert program.capture_method == ("torch.jit.script" if scripted else "torch.jit.trace")
    graph = program.model.graph
    assert [v.name for v in graph.inputs] == ["batch_ids", "batch_mask", "scale"]
    assert [[str(d) for d in v.shape] for v in graph.inputs[:2]] == [["n", "length"]] * 2
    if not scripted:  # named as the torch.export path names them
        reference = aten2onnx.export(model, (_batch(2, 5), torch.tensor(2.0)))
        assert [v.name for v in reference.model.graph.inputs] == [v.name for v in graph.inputs]
    onnx.checker.check_model(program.model_proto, full_check=True)
    for n, length in ((1, 3), (2, 5), (4, 9)):
        _compare(program, model, _batch(n, length), torch.tensor(0.5 * n))


def test_a_dict_input_as_a_keyword_and_before_an_empty_trailing_dict() -> None:
    model = DictIn().eval()
    batch, scale = _batch(3, 4), torch.tensor(1.5)
    by_keyword = aten2onnx.export(model, (), dynamo=False, kwargs={"batch": batch, "scale": scale},
                                 input_names=["ids", "mask"])
    assert [v.name for v in by_keyword.model.graph.inputs] == ["ids", "mask", "scale"]
    _compare(by_keyword, model, _batch(3, 4), torch.tensor(3.0))

    class DictLast(nn.Module):
        def forward(self, x: Tensor, features: dict[str, Tensor]) -> Tensor:
            return x * features["a"] - features["b"]

    features = {"a": torch.randn(2, 3), "b": torch.randn(2, 3)}
    program = aten2onnx.export(DictLast(), (torch.randn(2, 3), features, {}), dynamo=False)  # torch.onnx's spelling
    assert [v.name for v in program.model.graph.inputs] == ["x", "features_a", "features_b"]
    _compare(program, DictLast(), torch.randn(2, 3), {"a": torch.randn(2, 3), "b": torch.randn(2, 3)})


class DictOps(nn.Module):
    """What scripted code does with dicts: keys, items, `in`, get, copy, pop, a dict output built by assignment."""

    def forward(self, feats: dict[str, Tensor], x: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        out["sum"] = x * 0
        for key in feats.keys():
            out["sum"] = out["sum"] + feats[key]
        for key, value in feats.items():
            if key != "bias":
                x = x * value.sigmoid()
        if "bias" in feats:
            out["biased"] = x + feats["bias"]
        out["scaled"] = x * feats.get("scale", torch.ones(1))
        rest = feats.copy()
        rest.pop("bias", x)
        out["rest"] = torch.stack(list(rest.values())).sum(0) * float(len(rest))
        return out


def test_scripted_dict_operations_and_loops_over_keys_and_items() -> None:
    model = torch.jit.script(DictOps())
    feats = {"a": torch.randn(2, 3), "bias": torch.randn(2, 3), "b": torch.randn(2, 3)}
    program = aten2onnx.export(model, (feats, torch.randn(2, 3)), opset_version=13, input_names=["a", "bias", "b", "x"],
                              dynamic_axes={name: {0: "rows"} for name in ("a", "bias", "b", "x")})
    assert "Loop" not in [n.op_type for n in program.model.graph]  # loops over the keys ran at export time
    assert len(program.model.graph.outputs) == 4
    onnx.checker.check_model(program.model_proto, full_check=True)
    for rows in (1, 2, 5):
        _compare(program, model, {k: torch.randn(rows, 3) for k in feats}, torch.randn(rows, 3))


class IntKeys(nn.Module):
    def forward(self, features: dict[int, Tensor]) -> Tensor:
        return features[0] * 2 + features[1]


@pytest.mark.parametrize("scripted", [False, True], ids=["traced", "scripted"])
def test_a_dict_with_int_keys(scripted: bool) -> None:
    model = torch.jit.script(IntKeys()) if scripted else IntKeys()
    features = {0: torch.randn(2, 3), 1: torch.randn(2, 3)}
    program = aten2onnx.export(model, (features, {}), dynamo=False)
    assert [v.name for v in program.model.graph.inputs] == ["features_0", "features_1"]
    _compare(program, IntKeys(), {0: torch.randn(2, 3), 1: torch.randn(2, 3)})


def test_a_key_the_example_dict_lacks_is_a_clear_error() -> None:
    class ReadsMissing(nn.Module):
        def forward(self, features: dict[str, Tensor]) -> Tensor:
            return features["weights"] * 2

    with pytest.raises(aten2onnx.TranslationError, match=r"reads key 'weights' that the dict does not have "
                                                        r"\(its keys: 'a'\)"):
        aten2onnx.export(torch.jit.script(ReadsMissing()), ({"a": torch.randn(2)}, {}))
