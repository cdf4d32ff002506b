"""Dynamic shapes through every mapping (issue 19 item 4): ops that used to need a static size
(or built a wrong graph) exported with dynamic axes and run at sizes other than the example's,
including sizes 0 and 1 at run time; where ONNX cannot do it at an opset, a ConstraintError
says so. Opsets 9/13/26 where the mapping changes with the opset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from patterns import Fn, assert_matches, export_and_run
from torch import nn

import aten2onnx

D = {0: "a", 1: "b", 2: "c", 3: "d"}
r = torch.randn


def _dims(*axes: int) -> dict[int, str]:
    return {a: D[a] for a in axes}


_CASES: list[tuple[str, Callable[..., Any], tuple[Any, ...], Any, list[tuple[Any, ...]], list[int]]] = [
    ("pixel_unshuffle_channels", lambda x: F.pixel_unshuffle(x, 2), (r(2, 3, 4, 6),), (_dims(0, 1, 2, 3),),
     [(r(1, 5, 2, 8),), (r(3, 1, 6, 2),)], [9, 13, 18]),
    ("pixel_unshuffle_int", lambda x: F.pixel_unshuffle(x.long(), 2), (r(2, 3, 4, 6),), (_dims(1, 2, 3),),
     [(r(2, 5, 2, 8),)], [18]),
    ("pixel_shuffle_3d", lambda x: F.pixel_shuffle(x[0], 2), (r(1, 8, 3, 5),), (_dims(1, 2, 3),),
     [(r(1, 4, 6, 2),), (r(1, 12, 1, 1),)], [9, 18]),
    ("diagonal", lambda x: torch.diagonal(x, 1), (r(4, 5),), (_dims(0, 1),),
     [(r(2, 7),), (r(6, 3),), (r(1, 1),)], [9, 18, 26]),
    ("diagonal_batched_negative", lambda x: torch.diagonal(x, -1, 1, 2) * 2, (r(2, 4, 5),), (_dims(0, 1, 2),),
     [(r(3, 2, 7),), (r(1, 6, 3),)], [18]),
    ("diag_of_a_matrix", lambda x: torch.diag(x) + 1, (r(4, 5),), (_dims(0, 1),), [(r(2, 7),), (r(6, 3),)], [18]),
    ("scatter_add_dynamic_index_and_src", lambda x, i, s: x.scatter_add(0, i, s),
     (r(5, 3), torch.tensor([[0, 1, 2], [4, 0, 1]]), r(2, 3)), (_dims(0), {0: "k"}, {0: "k"}),
     [(r(7, 3), torch.randint(0, 7, (4, 3)), r(4, 3)), (r(1, 3), torch.zeros(1, 3, dtype=torch.int64), r(1, 3))],
     [16, 18]),
    ("scatter_add_src_larger_than_index", lambda x, i, s: x.scatter_add(1, i, s),
     (r(3, 5), torch.tensor([[0, 1], [4, 0], [1, 1]]), r(3, 4)), (_dims(0, 1), {0: "a", 1: "k"}, {0: "a", 1: "j"}),
     [(r(2, 7), torch.randint(0, 7, (2, 3)), r(2, 6))], [18]),
    ("scatter_reduce_src_larger_than_index", lambda x, i, s: x.scatter_reduce(1, i, s, "amax"),
     (r(3, 5), torch.tensor([[0, 1], [4, 0], [1, 1]]), r(3, 4)), (_dims(0, 1), {0: "a", 1: "k"}, {0: "a", 1: "j"}),
     [(r(2, 7), torch.randint(0, 7, (2, 3)), r(2, 6))], [18]),
    ("reshape_to_runtime_zero", lambda x: x.view(x.shape[1], x.shape[0]) * 2, (r(3, 4),), (_dims(0),),
     [(r(0, 4),), (r(5, 4),)], [14, 26]),
    ("flatten_with_runtime_zero", lambda x: x.flatten(1) * 2, (r(3, 4, 2),), (_dims(0, 1),),
     [(r(0, 4, 2),), (r(5, 0, 2),), (r(1, 3, 2),)], [14, 18]),
    ("view_minus_one_with_runtime_zero", lambda x: x.view(-1, 8) + 1, (r(3, 4, 2),), (_dims(0),),
     [(r(0, 4, 2),), (r(6, 4, 2),)], [13, 18]),
    ("expand_as", lambda x, y: x.expand_as(y) * y, (r(1, 3), r(4, 3)), (None, _dims(0)),
     [(r(1, 3), r(7, 3)), (r(1, 3), r(1, 3)), (r(1, 3), r(0, 3))], [18]),
    ("repeat_interleave_dynamic_repeats", lambda x, k: torch.repeat_interleave(x, k, dim=0),
     (r(3, 2), torch.tensor([1, 2, 3])), (_dims(0), _dims(0)),
     [(r(5, 2), torch.tensor([0, 2, 1, 1, 3])), (r(1, 2), torch.tensor([4]))], [18]),
    ("index_with_one_element_tensor", lambda x, i: x[i] + x[:, i.clamp(max=1)].sum(),
     (r(5, 3), torch.tensor([2])), (_dims(0), None), [(r(7, 3), torch.tensor([6])), (r(1, 3), torch.tensor([0]))],
     [13, 18]),
    ("squeeze_all", lambda x: x.squeeze() * 2, (r(3, 4, 1),), (_dims(0, 1),),
     [(r(2, 6, 1),), (r(1, 6, 1),), (r(1, 1, 1),)], [9, 13, 18]),
    ("squeeze_dim_of_dynamic_axis", lambda x: x.squeeze(0) + 1, (r(3, 4),), (_dims(0),),
     [(r(1, 4),), (r(5, 4),)], [18]),
    ("numel_of_empty", lambda x: x.sum() + x.numel() + torch.tensor(x.numel()), (r(3, 4),), (_dims(0),),
     [(r(0, 4),), (r(6, 4),)], [18]),
    ("arange_over_sizes", lambda x: torch.arange(x.shape[1], x.shape[0] + 5, 2) + torch.arange(0, x.shape[0], 0.5).sum(),
     (r(3, 4),), (_dims(0, 1),), [(r(0, 4),), (r(6, 2),), (r(9, 1),)], [11, 18]),
]


@pytest.mark.parametrize(("fn", "example", "shapes", "runs", "opset"), [
    pytest.param(fn, example, shapes, runs, opset, id=f"{name}@{opset}")
    for name, fn, example, shapes, runs, opsets in _CASES for opset in opsets
])
def test_mapping_with_dynamic_sizes(fn: Callable[..., Any], example: tuple[Any, ...], shapes: Any,
                                    runs: list[tuple[Any, ...]], opset: int) -> None:
    export_and_run(Fn(fn), example, runs, opset=opset, dynamic_shapes=shapes)


class Recurrent(nn.Module):
    """An LSTM with a given initial state and a GRU after it: sequence and batch both dynamic."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lstm = nn.LSTM(4, 5, num_layers=2, batch_first=True)
        self.gru = nn.GRU(5, 3, bidirectional=True)

    def forward(self, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, (h, c) = self.lstm(x, (h0, c0))
        back, last = self.gru(out.transpose(0, 1))
        return back, h, c, last


def _recurrent_inputs(batch: int, steps: int) -> tuple[torch.Tensor, ...]:
    return r(batch, steps, 4), r(2, batch, 5), r(2, batch, 5)


@pytest.mark.parametrize("opset", [9, 18, 26])
def test_lstm_with_dynamic_sequence_length_and_initial_state(opset: int) -> None:
    state = {1: "batch"}
    export_and_run(Recurrent().eval(), _recurrent_inputs(2, 6), [_recurrent_inputs(3, 2), _recurrent_inputs(1, 9)],
                   opset=opset, atol=1e-4, dynamic_shapes=({0: "batch", 1: "steps"}, state, state))


def test_recurrent_layer_held_outside_the_module_tree() -> None:
    """An LSTM reached through a closure is not among the model's modules; still dynamic."""
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 5)
    program = export_and_run(Fn(lambda x: lstm(x)[0]), (r(6, 2, 4),), [(r(2, 3, 4),)], atol=1e-4,
                             dynamic_shapes=({0: "steps", 1: "batch"},))
    assert [str(d) for d in program.model.graph.inputs[0].shape] == ["steps", "batch", "4"]


def test_mapping_that_needs_a_newer_opset_says_so() -> None:
    model = Fn(lambda x, i, s: x.scatter_add(0, i, s))
    example = (r(5, 3), torch.tensor([[0, 1, 2], [4, 0, 1]]), r(2, 3))
    with pytest.raises(aten2onnx.ConstraintError, match=r"needs the static shapes.*drop those axes from dynamic_shapes"):
        aten2onnx.export(model, example, opset_version=13, dynamic_shapes=(_dims(0), {0: "k"}, {0: "k"}))
    program = aten2onnx.export(model, example, opset_version=13)  # static: the one-hot form
    assert_matches(program, model, example)
