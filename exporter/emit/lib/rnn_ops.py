"""Python mappings for torch's recurrent layers (opspecs/rnn.yaml): lstm, gru, rnn_tanh, rnn_relu.

One ONNX LSTM / GRU / RNN node per layer (direction "bidirectional" for both directions at
once); layer l reads the previous layer's output. torch's flat weight list holds, per layer
and direction, w_ih (gates*H, in), w_hh (gates*H, H) and, with biases, b_ih and b_hh; ONNX
wants them stacked per direction as W (dirs, gates*H, in), R (dirs, gates*H, H) and
B (dirs, 2*gates*H) = [Wb, Rb], with its own gate order:

    LSTM  torch i, f, g, o  ->  ONNX i, o, f, c
    GRU   torch r, z, n     ->  ONNX z, r, h   (linear_before_reset=1 is torch's formula:
                                                 n = tanh(W_in x + b_in + r * (W_hn h + b_hn)))

so each weight is reordered with one Gather of its rows. ONNX's Y is (seq, dirs, batch, H);
torch's output (seq, batch, dirs*H): Transpose and Reshape. h_n / c_n concatenate each layer's
Y_h / Y_c. batch_first inputs are transposed in and out (ONNX Runtime ignores `layout`).
Slice takes attributes before opset 10, Unsqueeze before 13: the specs mark both as variants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c
from aten2onnx.exporter.emit.lib import shape_ops

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
# ONNX gate k takes torch's gate _ORDER[op][k]
_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def _reorder(g: GraphBuilder, op: str, weight: ir.Value, hidden: int) -> ir.Value:
    """Rows of a (gates*H, ...) torch weight in ONNX's gate order."""
    order = _ORDER[op]
    if order == list(range(len(order))):
        return weight
    rows = [gate * hidden + i for gate in order for i in range(hidden)]
    return g.op("Gather", weight, g.constant(rows, torch.int64), axis=0)


def _stack(g: GraphBuilder, values: Sequence[ir.Value]) -> ir.Value:
    """Stack per-direction tensors on a new leading axis."""
    parts = [c.unsqueeze(g, v, [0]) for v in values]
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=0)


def rnn(g: GraphBuilder, input: ir.Value, hx: Any, params: Sequence[ir.Value], has_biases: bool, num_layers: int,
        dropout: float, train: bool, bidirectional: bool, batch_first: bool, op: str,
        activation: str | None = None, sequence_lens: ir.Value | None = None) -> tuple[ir.Value, ...]:
    """lstm / gru / rnn_tanh / rnn_relu (.input): `op` is the ONNX op (LSTM, GRU, RNN), `activation`
    RNN's (Tanh, Relu); `hx` is LSTM's (h0, c0) list or the others' h0. `sequence_lens` (B,) int32:
    each sequence's step count (packed input): each layer stops there, the next reads no step past
    it, and the final states are those of each sequence's last step; the output past it is not
    defined by ONNX (the packed mappings never read it)."""
    states = list(hx) if isinstance(hx, (list, tuple)) else [hx]
    dirs = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    # (the lstm spec refuses projections, which give more weights per layer: ONNX LSTM has none)
    assert len(params) == num_layers * dirs * per, f"{len(params)} weights for {num_layers} layers, {dirs} directions"
    hidden = int(h.shape(g, params[1])[1])
    x = g.op("Transpose", input, perm=[1, 0, 2]) if batch_first else input
    attrs: dict[str, Any] = {"hidden_size": hidden, "direction": "bidirectional" if bidirectional else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    if activation is not None:
        attrs["activations"] = [activation] * dirs
    finals: list[list[ir.Value]] = [[] for _ in states]
    for layer in range(num_layers):
        weights, recurrences, biases = [], [], []
        for direction in range(dirs):
            base = (layer * dirs + direction) * per
            weights.append(_reorder(g, op, params[base], hidden))
            recurrences.append(_reorder(g, op, params[base + 1], hidden))
            if has_biases:
                biases.append(g.op("Concat", _reorder(g, op, params[base + 2], hidden),
                                   _reorder(g, op, params[base + 3], hidden), axis=0))
        initial = [h.slice_axes(g, s, [layer * dirs], [(layer + 1) * dirs], [0]) for s in states]
        outputs = g.op(op, x, _stack(g, weights), _stack(g, recurrences), _stack(g, biases) if biases else None,
                       sequence_lens, *initial, _outputs=1 + len(states), **attrs)
        y, *last = outputs
        for collected, value in zip(finals, last):
            collected.append(value)
        # (seq, dirs, batch, H) -> (seq, batch, dirs * H)
        x = g.op("Reshape", g.op("Transpose", y, perm=[0, 2, 1, 3]), h.ints(g, [0, 0, dirs * hidden]))
    output = g.op("Transpose", x, perm=[1, 0, 2]) if batch_first else x
    states_out = [parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=0) for parts in finals]
    return (output, *states_out)


def _within(g: GraphBuilder, output: ir.Value, lengths: ir.Value) -> ir.Value:
    """(T, B, 1) bool: step t is inside sequence b, for an output of shape (T, B, dirs * H)."""
    steps = g.op("Gather", g.op("Shape", output), g.constant(0, torch.int64), axis=0)
    positions = c.unsqueeze(g, shape_ops.arange(g, steps), [1, 2])
    return g.op("Less", positions, c.unsqueeze(g, lengths, [0, 2]))


_PACKED_MODES = {"LSTM": ("LSTM", None), "GRU": ("GRU", None), "RNN_TANH": ("RNN", "Tanh"), "RNN_RELU": ("RNN", "Relu")}


def packed_rnn(g: GraphBuilder, input: ir.Value, lengths: ir.Value, hx: Sequence[ir.Value], params: Sequence[ir.Value],
               mode: str, has_biases: bool, num_layers: int, dropout: float, train: bool,
               bidirectional: bool) -> list[ir.Value]:
    """aten2onnx::packed_rnn (exporter/capture/recurrent.py): the RNN over padded time-major input with
    each sequence's length as ONNX's sequence_lens; the output is 0 past each length, as torch pads it."""
    op, activation = _PACKED_MODES[mode]
    lengths = g.cast(lengths, torch.int64)
    output, *states = rnn(g, input, list(hx), params, has_biases, num_layers, dropout, train, bidirectional, False,
                          op, activation, g.cast(lengths, torch.int32))
    return [g.op("Where", _within(g, output, lengths), output, h.like(g, 0, output)), *states]
