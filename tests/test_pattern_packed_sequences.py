"""Packed sequences (issue 19 item 8): RNN/LSTM/GRU over pack_padded_sequence /
pad_packed_sequence, batch-first or not, enforce_sorted either way, with the lengths a graph
input, exported through the default path (exporter/capture/recurrent.py keeps the packing out of the
graph: ONNX's recurrent ops take the lengths themselves) and compared with eager PyTorch for
several length vectors and batch sizes. torch.onnx's exporters cannot capture these models.
"""

from __future__ import annotations

import pytest
import torch
from patterns import Fn, assert_matches
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import aten2onnx


class Tagger(nn.Module):
    """Embedding -> packed recurrent layer -> padded output -> per-step scores."""

    def __init__(self, kind: str, batch_first: bool, enforce_sorted: bool, total_length: bool,
                 bidirectional: bool = False, layers: int = 1, nonlinearity: str = "tanh") -> None:
        super().__init__()
        torch.manual_seed(0)
        options = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
        recurrent = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        self.embed = nn.Embedding(20, 4)
        self.rnn = recurrent(4, 5, num_layers=layers, batch_first=batch_first, bidirectional=bidirectional, **options)
        self.score = nn.Linear(5 * (2 if bidirectional else 1), 3)
        self.batch_first, self.enforce_sorted, self.total_length = batch_first, enforce_sorted, total_length

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=self.batch_first,
                                      enforce_sorted=self.enforce_sorted)
        out, state = self.rnn(packed)
        steps = tokens.shape[1 if self.batch_first else 0]
        padded, sizes = pad_packed_sequence(out, batch_first=self.batch_first, padding_value=-1.0,
                                            total_length=steps if self.total_length else None)
        final = state[0] if isinstance(state, tuple) else state
        return self.score(padded), final, sizes


def _batch(batch_first: bool, lengths: list[int], steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    steps = steps or max(lengths)
    tokens = torch.randint(0, 20, (len(lengths), steps) if batch_first else (steps, len(lengths)))
    return tokens, torch.tensor(lengths)


_LENGTHS = {True: [[6, 4, 2], [5, 5], [7, 3, 2, 1], [2]], False: [[2, 6, 4], [3, 5], [1, 7, 2, 7], [2]]}


_KINDS = [("lstm", {"layers": 2}), ("gru", {"bidirectional": True}), ("rnn", {}), ("rnn", {"nonlinearity": "relu"})]
# Each layer kind, each layout and each sorting in the default run; every combination with `-m slow`.
_DEFAULT_RUN = {(0, True, False), (0, False, True), (1, True, True), (1, False, False), (2, False, False),
                (3, True, True)}


@pytest.mark.parametrize(("kind", "options", "batch_first", "enforce_sorted"), [
    pytest.param(kind, options, batch_first, enforce_sorted,
                 id=f"{kind}{'_relu' if 'nonlinearity' in options else ''}-"
                    f"{'batch_first' if batch_first else 'time_first'}-{'sorted' if enforce_sorted else 'unsorted'}",
                 marks=[] if (index, batch_first, enforce_sorted) in _DEFAULT_RUN else [pytest.mark.slow])
    for index, (kind, options) in enumerate(_KINDS) for batch_first in (True, False) for enforce_sorted in (False, True)
])
def test_packed_recurrent_layers(kind: str, options: dict[str, object], batch_first: bool, enforce_sorted: bool) -> None:
    model = Tagger(kind, batch_first, enforce_sorted, total_length=not enforce_sorted, **options).eval()  # type: ignore[arg-type]
    lengths = _LENGTHS[enforce_sorted]
    axes = {0: "batch", 1: "steps"} if batch_first else {0: "steps", 1: "batch"}
    program = aten2onnx.export(model, _batch(batch_first, lengths[0]), opset_version=18,
                              dynamic_shapes={"tokens": axes, "lengths": {0: "batch"}})
    assert [v.name for v in program.model.graph.inputs] == ["tokens", "lengths"]
    for case in lengths:
        assert_matches(program, model, _batch(batch_first, case), atol=1e-5)
    assert_matches(program, model, _batch(batch_first, lengths[1], steps=9), atol=1e-5)  # padding past every length


class WithState(nn.Module):
    """An initial state, the final states returned, the lengths given as int32."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, ...]:
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, (h, c) = self.lstm(packed, (h0, h0 * 0.5))
        padded, _ = pad_packed_sequence(out)
        return padded, h, c


@pytest.mark.parametrize("opset", [pytest.param(11, marks=pytest.mark.slow), 18, pytest.param(26, marks=pytest.mark.slow)])
def test_packed_lstm_with_initial_state(opset: int) -> None:
    model = WithState().eval()

    def inputs(lengths: list[int]) -> tuple[torch.Tensor, ...]:
        return (torch.randn(max(lengths), len(lengths), 3), torch.tensor(lengths, dtype=torch.int32),
                torch.randn(4, len(lengths), 4))

    program = aten2onnx.export(model, inputs([3, 5, 2]), opset_version=opset,
                              dynamic_shapes=({0: "steps", 1: "batch"}, {0: "batch"}, {1: "batch"}))
    for lengths in ([3, 5, 2], [1, 1], [6, 2, 6, 4], [4]):
        assert_matches(program, model, inputs(lengths), atol=1e-5)


def test_packed_rnn_reached_through_a_closure() -> None:
    """No recurrent module in the model's tree: the capture is retried with packing support."""
    torch.manual_seed(0)
    gru = nn.GRU(3, 2, batch_first=True)

    def run(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = gru(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return pad_packed_sequence(out, batch_first=True)[0]

    model = Fn(run)
    program = aten2onnx.export(model, (torch.randn(3, 5, 3), torch.tensor([5, 2, 4])), opset_version=18,
                              dynamic_shapes=({0: "batch", 1: "steps"}, {0: "batch"}))
    for lengths in ([1, 3], [6, 6, 2, 5]):
        assert_matches(program, model, (torch.randn(len(lengths), max(lengths), 3), torch.tensor(lengths)))
