"""Lists a scripted loop grows and then stacks or concatenates export from opset 9, as ONNX Loop scan outputs
(exporter/torchscript/scan_lists.py); other lists grown in a loop are ONNX sequences (opset 13+), and below
opset 13 the error names the construct and the opset that takes it. Every export runs in ONNX Runtime
against eager, at trip counts and sizes other than the example's."""

from __future__ import annotations

from typing import Any

import onnx
import pytest
import torch
from torch import Tensor, nn

import aten2onnx

OPSETS = [9, 11, 13, 18, 26]


def _op_types(graph: Any) -> list[str]:
    found = []
    for node in graph:
        found.append(node.op_type)
        for attribute in node.attributes.values():
            if attribute.type.name == "GRAPH":
                found += _op_types(attribute.as_graph())
    return found


def _check(program: aten2onnx.ONNXProgram, model: Any, runs: list[tuple[Any, ...]]) -> None:
    onnx.checker.check_model(program.model_proto, full_check=True)
    for args in runs:
        with torch.no_grad():
            want = model(*args)
        (got,) = program(*args)
        assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@torch.jit.script
def stack_rows(x: Tensor, n: Tensor) -> Tensor:
    ys = []
    for i in range(int(n)):
        ys.append(x * i + 1)
    return torch.stack(ys, 1)


@torch.jit.script
def stack_after_a_first(x: Tensor, n: Tensor) -> Tensor:
    ys = [x.relu()]
    for i in range(int(n)):
        ys.append(x * i)
    return torch.stack(ys, -1)


@torch.jit.script
def cat_columns(x: Tensor, n: Tensor) -> Tensor:
    ys = [x]
    for i in range(int(n)):
        ys.append(x[:, :1] * i)
    return torch.cat(ys, -1)


@torch.jit.script
def grow_while(x: Tensor, limit: Tensor) -> Tensor:
    """A while loop: the trip count follows the data."""
    ys = []
    total = x.sum() * 0
    while bool(total < limit):
        total = total + x.abs().sum()
        ys.append(x * total)
    return torch.cat(ys, 0)


@torch.jit.script
def two_lists(x: Tensor, n: Tensor) -> Tensor:
    firsts = []
    seconds = []
    h = x
    for _ in range(int(n)):
        h = torch.tanh(h * 2 + 1)
        firsts.append(h)
        seconds.append(h.sum(1))
    return torch.stack(firsts, 0).sum(0) + torch.stack(seconds, 1).sum(1, keepdim=True)


@torch.jit.script
def nested(x: Tensor, n: Tensor, m: Tensor) -> Tensor:
    rows = []
    for i in range(int(n)):
        cols = []
        for j in range(int(m)):
            cols.append(x * (i + j))
        rows.append(torch.stack(cols, 0).sum(0))
    return torch.stack(rows, 0)


_MODELS = {
    "stack along 1": (stack_rows, [(torch.randn(2, 3), torch.tensor(c)) for c in (3, 1, 7)]),
    "stack after an element": (stack_after_a_first, [(torch.randn(2, 3), torch.tensor(c)) for c in (3, 0, 5)]),
    "cat along -1": (cat_columns, [(torch.randn(2, 3), torch.tensor(c)) for c in (2, 0, 6)]),
    "while": (grow_while, [(torch.rand(2, 3) + 0.1, torch.tensor(c)) for c in (3.0, 0.5, 20.0)]),
    "two lists": (two_lists, [(torch.randn(2, 3), torch.tensor(c)) for c in (2, 1, 5)]),
    "nested loops": (nested, [(torch.randn(2, 3), torch.tensor(a), torch.tensor(b)) for a, b in ((2, 3), (1, 1), (4, 2))]),
}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", sorted(_MODELS))
def test_lists_stacked_after_a_loop_are_scan_outputs_at_every_opset(name: str, opset: int) -> None:
    function, runs = _MODELS[name]
    program = aten2onnx.export(function, runs[0], opset_version=opset)
    types = _op_types(program.model.graph)
    assert "Loop" in types and not [t for t in types if t.startswith(("Sequence", "ConcatFromSequence"))]
    _check(program, function, runs)


class Decoder(nn.Module):
    """A traced model whose scripted step loop collects its states (the seed's "mixing tracing and scripting")."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.cell = nn.GRUCell(3, 3)
        self.head = nn.Linear(3, 2)
        self.steps = torch.jit.script(Steps())

    def forward(self, x: Tensor, count: Tensor) -> Tensor:
        return self.head(self.steps(self.cell.weight_hh, x, count))


class Steps(nn.Module):
    def forward(self, w: Tensor, x: Tensor, count: Tensor) -> Tensor:
        states = []
        h = x
        for _ in range(int(count)):
            h = torch.tanh(h @ w[:3].t() + x)
            states.append(h)
        return torch.stack(states, 1)


def test_a_traced_model_with_a_scripted_collecting_loop_and_dynamic_axes() -> None:
    model = Decoder().eval()
    program = aten2onnx.export(model, (torch.randn(2, 3), torch.tensor(4)), dynamo=False, opset_version=9,
                              input_names=["x", "count"], dynamic_axes={"x": {0: "batch"}})
    assert str(program.model.graph.inputs[0].shape[0]) == "batch"
    _check(program, model, [(torch.randn(b, 3), torch.tensor(c)) for b, c in ((2, 4), (1, 1), (5, 6))])


@torch.jit.script
def cat_growing(x: Tensor, n: Tensor) -> Tensor:
    """Each element is longer than the last: one scan output cannot hold them."""
    ys = []
    for i in range(int(n)):
        ys.append(x[: i + 1])
    return torch.cat(ys, 0)


@torch.jit.script
def read_again(x: Tensor, n: Tensor) -> Tensor:
    ys = []
    for i in range(int(n)):
        ys.append(x * i)
    return torch.stack(ys, 0) * len(ys)


@pytest.mark.parametrize(("function", "runs"), [
    (cat_growing, [(torch.randn(6, 2), torch.tensor(c)) for c in (3, 1, 6)]),
    (read_again, [(torch.randn(2, 2), torch.tensor(c)) for c in (3, 1, 5)]),
], ids=["elements that grow", "list read again"])
def test_other_lists_grown_in_a_loop_are_sequences_from_opset_13(function: Any, runs: list[tuple[Any, ...]]) -> None:
    program = aten2onnx.export(function, runs[0], opset_version=13)
    assert "SequenceInsert" in _op_types(program.model.graph)
    _check(program, function, runs)
    with pytest.raises(aten2onnx.TranslationError) as info:
        aten2onnx.export(function, runs[0], opset_version=12)
    message = str(info.value)
    assert "a list changed inside a loop at the model's forward, " in message and "test_torchscript_scan_lists.py:" \
        in message
    assert "opset_version=13" in message and "torch.stack(ys) or torch.cat(ys)" in message
