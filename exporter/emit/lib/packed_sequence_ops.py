"""pack_padded_sequence, an RNN over the packed data, pad_packed_sequence: as torch computes them.

A PackedSequence's `data` holds, time step after time step, the rows of the sequences still
running (lengths sorted longest first); `batch_sizes[t]` counts them. With mask[t, b] = b <
batch_sizes[t] (equivalently t < lengths[b]), packing is `x[mask]` (GatherND at NonZero(mask),
whose row-major order is the packed order) and unpacking scatters `data` back (ScatterND). The
RNN runs on the padded form with ONNX's `sequence_lens`, which stops each sequence at its length
(its final state included, the reverse direction starting at each sequence's end), as torch's
packed RNN does. All from opset 11 (Range, GatherND, ScatterND).
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c
from aten2onnx.exporter.emit.lib import rnn_ops


def _time_major(g: GraphBuilder, x: ir.Value, batch_first: bool, rank: int | None = None) -> ir.Value:
    """Swap the batch and time axes when batch_first (either way: it is its own inverse)."""
    if not batch_first:
        return x
    perm = [1, 0, *range(2, g.rank(x) if rank is None else rank)]
    return g.op("Transpose", x, perm=perm)


def _arange(g: GraphBuilder, count: ir.Value) -> ir.Value:
    return g.op("Range", g.constant(0, torch.int64), count, g.constant(1, torch.int64))


def _first(g: GraphBuilder, vector: ir.Value) -> ir.Value:
    return g.op("Gather", vector, g.constant(0, torch.int64), axis=0)


def _packed_mask(g: GraphBuilder, batch_sizes: ir.Value) -> ir.Value:
    """mask[t, b] = b < batch_sizes[t]: which (step, sequence) pairs hold data."""
    sizes = g.cast(batch_sizes, torch.int64)
    batch = _arange(g, _first(g, sizes))
    return g.op("Less", c.unsqueeze(g, batch, [0]), c.unsqueeze(g, sizes, [1]))


def _positions(g: GraphBuilder, mask: ir.Value) -> ir.Value:
    """(step, sequence) index pairs of the packed rows, in packed order: (N, 2)."""
    return g.op("Transpose", g.op("NonZero", mask), perm=[1, 0])


def pack_padded_sequence(g: GraphBuilder, input: ir.Value, lengths: ir.Value, batch_first: bool) -> tuple[ir.Value, ir.Value]:
    """aten::_pack_padded_sequence -> (data, batch_sizes)."""
    x = _time_major(g, input, batch_first)
    lengths = g.cast(lengths, torch.int64)
    steps = _arange(g, _first(g, g.op("Shape", x)))
    mask = g.op("Less", c.unsqueeze(g, steps, [1]), c.unsqueeze(g, lengths, [0]))
    data = g.op("GatherND", x, _positions(g, mask))
    counts = c.reduce(g, "ReduceSum", g.cast(mask, torch.int64), [1], keepdims=False)
    longest = c.unsqueeze(g, c.reduce(g, "ReduceMax", lengths, [0], keepdims=False), [0])
    batch_sizes = g.op("Slice", counts, h.ints(g, [0]), longest, h.ints(g, [0]))
    return data, batch_sizes


def _unpack(g: GraphBuilder, data: ir.Value, batch_sizes: ir.Value, fill: Any, steps: Any = None) -> tuple[ir.Value, ...]:
    """(padded [steps, batch, ...], lengths, positions) of packed data; `steps` defaults to len(batch_sizes)."""
    mask = _packed_mask(g, batch_sizes)
    positions = _positions(g, mask)
    mask_shape = g.op("Shape", mask)
    leading = mask_shape if steps is None else g.op(
        "Concat", h.ints(g, [steps]), g.op("Slice", mask_shape, h.ints(g, [1]), h.ints(g, [2]), h.ints(g, [0])),
        axis=0)
    tail = g.op("Slice", g.op("Shape", data), h.ints(g, [1]), h.ints(g, [h.INT64_MAX]), h.ints(g, [0]))
    base = g.op("Expand", h.like(g, fill, data), g.op("Concat", leading, tail, axis=0))
    padded = g.op("ScatterND", base, positions, data)
    lengths = c.reduce(g, "ReduceSum", g.cast(mask, torch.int64), [0], keepdims=False)
    return padded, lengths, positions


def pad_packed_sequence(g: GraphBuilder, data: ir.Value, batch_sizes: ir.Value, batch_first: bool, padding_value: Any,
                        total_length: Any) -> tuple[ir.Value, ir.Value]:
    """aten::_pad_packed_sequence -> (padded, lengths); total_length -1 means the longest sequence's length."""
    steps = None if not isinstance(total_length, ir.Value) and total_length < 0 else total_length
    padded, lengths, _ = _unpack(g, data, batch_sizes, padding_value, steps)
    return _time_major(g, padded, batch_first, g.rank(data) + 1), lengths


def packed_data_rnn(g: GraphBuilder, data: ir.Value, batch_sizes: ir.Value, hx: Any, params: Any, has_biases: bool,
                    num_layers: int, dropout: float, train: bool, bidirectional: bool, op: str) -> tuple[ir.Value, ...]:
    """aten::lstm.data / gru.data (the spec binds `op`): the RNN over a PackedSequence -> (packed output,
    h_n[, c_n]); `hx` is LSTM's (h0, c0) list or GRU's h0."""
    padded, lengths, positions = _unpack(g, data, batch_sizes, 0)
    output, *finals = rnn_ops.rnn(g, padded, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                                  False, op, sequence_lens=g.cast(lengths, torch.int32))
    return (g.op("GatherND", output, positions), *finals)
