"""Recurrent layers as torch.export cannot capture them alone: over dynamic sequence lengths,
and over packed sequences.

Dynamic lengths. torch.export keeps nn.LSTM / GRU / RNN whole (aten.lstm.input, ...), but it
computes their output shapes by running torch's decomposition, a Python loop over the time
steps, which fixes the sequence length. While capturing, `symbolic_rnn_shapes()` gives those
ops a shape rule instead (outputs shaped from the inputs, no loop); real tensors still run
torch's kernels.

Packed sequences. `pack_padded_sequence` -> RNN -> `pad_packed_sequence` works on a packed
layout whose size depends on the lengths' values: torch.export cannot capture it, and
torch.onnx's exporters cannot either. ONNX's LSTM, GRU and RNN take the lengths themselves
(`sequence_lens`) on the padded layout, so the packing is kept out of the graph altogether:
while capturing, `packed_sequences()` (a TorchFunctionMode) lets `pack_padded_sequence` hand
the RNN the padded input (time-major, sorted as torch sorts it) and the lengths, the RNN
becomes one `aten2onnx::packed_rnn` op over them, and `pad_packed_sequence` cuts the padded
output to the longest length (or pads it to `total_length`) with `padding_value` past each
sequence's end. The sorting and unsorting torch does around them (enforce_sorted=False) stays
in the graph as ordinary ops, and the lengths are a graph input. `aten2onnx::packed_rnn` is a
real torch op (its eager kernel packs, runs torch's RNN and pads), so the captured program
runs in PyTorch too; exporter/emit/lib/rnn_ops.py maps it to ONNX. Code that reads a
PackedSequence's `data` or `batch_sizes` itself sees the padded stand-ins.
"""

from __future__ import annotations

import contextlib
import functools
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import _VF
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from torch.overrides import TorchFunctionMode

_CIA = torch._C.DispatchKey.CompositeImplicitAutograd
_MODES: dict[str, Callable[..., Any]] = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}
_RNN_FUNCTIONS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU"}
_PACKING_FILES = (os.path.join("nn", "utils", "rnn.py"), os.path.join("nn", "modules", "rnn.py"))
_PACKING_FUNCTIONS = {"pack_padded_sequence", "pad_packed_sequence", "pack_sequence", "forward"}


# -- the packed RNN op ---------------------------------------------------------------------------
@torch.library.custom_op("aten2onnx::packed_rnn", mutates_args=())
def packed_rnn(input: torch.Tensor, lengths: torch.Tensor, hx: list[torch.Tensor], params: list[torch.Tensor],
               mode: str, has_biases: bool, num_layers: int, dropout: float, train: bool,
               bidirectional: bool) -> list[torch.Tensor]:
    """An RNN over padded, time-major `input` (T, B, F) whose sequence b has `lengths[b]` steps:
    [output (T, B, D*H), zeros past each length, then the final states (h_n, and c_n for LSTM)]."""
    packed = pack_padded_sequence(input, lengths.cpu(), enforce_sorted=False)
    sorted_indices, unsorted_indices = packed.sorted_indices, packed.unsorted_indices
    assert sorted_indices is not None and unsorted_indices is not None  # set by enforce_sorted=False
    states = [h.index_select(1, sorted_indices) for h in hx]
    result = _MODES[mode](packed.data, packed.batch_sizes, states if mode == "LSTM" else states[0], params,
                          has_biases, num_layers, dropout, train, bidirectional)
    out = PackedSequence(result[0], packed.batch_sizes, sorted_indices, unsorted_indices)
    padded, _ = pad_packed_sequence(out, total_length=input.shape[0])
    return [padded, *(h.index_select(1, unsorted_indices) for h in result[1:])]


@packed_rnn.register_fake
def _(input: torch.Tensor, lengths: torch.Tensor, hx: list[torch.Tensor], params: list[torch.Tensor],
      mode: str, has_biases: bool, num_layers: int, dropout: float, train: bool,
      bidirectional: bool) -> list[torch.Tensor]:
    directions = 2 if bidirectional else 1
    output = input.new_empty((input.shape[0], input.shape[1], directions * hx[0].shape[-1]))
    return [output, *(h.new_empty(h.shape) for h in hx)]


# -- dynamic sequence lengths --------------------------------------------------------------------
def _rnn_shapes(input: torch.Tensor, hx: Any, params: Sequence[torch.Tensor], has_biases: bool, num_layers: int,
                dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[torch.Tensor, ...]:
    """The outputs of aten.lstm/gru/rnn_*.input, shaped from the inputs alone (unbatched inputs
    are 2-D, states then 2-D too)."""
    states = list(hx) if isinstance(hx, (list, tuple)) else [hx]
    directions = 2 if bidirectional else 1
    hidden = directions * states[0].shape[-1]
    shape = (*input.shape[:-1], hidden)  # (T, B, ...) or (B, T, ...) alike: only the features change
    return (input.new_empty(shape), *(s.new_empty(s.shape) for s in states))


def _is_fake(values: Any) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    return any(isinstance(t, FakeTensor) for t in torch.utils._pytree.tree_leaves(values))


@contextlib.contextmanager
def symbolic_rnn_shapes() -> Iterator[None]:
    """Within: fake tensors get aten.lstm/gru/rnn_tanh/rnn_relu.input's output shapes without
    torch's time loop (which fixes the sequence length); real tensors run torch's kernel."""
    ops = [getattr(torch.ops.aten, name).input for name in _RNN_FUNCTIONS]
    saved = {op: op.py_kernels.copy() for op in ops}
    for op in ops:
        original = op.py_kernels.get(_CIA)
        if not callable(original) or isinstance(original, torch._C.DispatchKey):
            original = functools.partial(op._op_dk, _CIA)

        def kernel(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            return _rnn_shapes(*args, **kwargs) if _is_fake((args, kwargs)) else _original(*args, **kwargs)

        op.py_kernels[_CIA] = kernel
        op._dispatch_cache.clear()
    try:
        yield
    finally:
        for op in ops:
            op.py_kernels.clear()
            op.py_kernels.update(saved[op])
            op._dispatch_cache.clear()


# -- packed sequences ------------------------------------------------------------------------------
class _PackedSequences(TorchFunctionMode):
    """pack_padded_sequence / the RNN / pad_packed_sequence on the padded layout (module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.padded: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}   # id(data) -> (data, lengths)
        self.lengths: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id(batch_sizes) -> (it, data)
        self._checks: dict[type[torch.nn.RNNBase], Any] = {}

    def __enter__(self) -> _PackedSequences:
        # GRU and RNN check a packed input's rank and batch size (batch_sizes[0]) before running:
        # the padded stand-ins would fail the first, and reading the second fixes the batch size
        for cls in (torch.nn.RNNBase, torch.nn.LSTM):
            original = cls.__dict__["check_forward_args"]
            self._checks[cls] = original

            def check(module: Any, input: Any, hidden: Any, batch_sizes: Any, _original: Any = original) -> None:
                if batch_sizes is None or id(batch_sizes) not in self.lengths:
                    _original(module, input, hidden, batch_sizes)

            setattr(cls, "check_forward_args", check)  # noqa: B010 - patched while capturing
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        for cls, original in self._checks.items():
            setattr(cls, "check_forward_args", original)  # noqa: B010 - patched while capturing
        self._checks.clear()
        super().__exit__(*exc)

    def _stand_ins(self, data: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.padded[id(data)] = (data, lengths)
        self.lengths[id(lengths)] = (lengths, data)
        return data, lengths

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "_pack_padded_sequence":
            return self._pack(*args, **kwargs)
        if name == "_pad_packed_sequence" and id(args[0]) in self.padded:
            return self._pad(*args, **kwargs)
        if name in _RNN_FUNCTIONS and len(args) > 1 and id(args[0]) in self.padded and id(args[1]) in self.lengths:
            return self._rnn(_RNN_FUNCTIONS[name], *args, **kwargs)
        if args and isinstance(args[0], torch.Tensor) and id(args[0]) in self.lengths:
            if func is torch.Tensor.__getitem__ and args[1:] == (0,):
                return self.lengths[id(args[0])][1].shape[1]  # RNNs read the batch size as batch_sizes[0]
            if func is torch.Tensor.size and args[1:] == (0,):
                return 0  # pad_packed_sequence passes it on as the output length when total_length is None
        return func(*args, **kwargs)

    def _pack(self, input: torch.Tensor, lengths: torch.Tensor, batch_first: bool) -> tuple[torch.Tensor, torch.Tensor]:
        data = input.transpose(0, 1) if batch_first else input
        return self._stand_ins(data.contiguous(), lengths.to(torch.int64))

    def _rnn(self, mode: str, data: torch.Tensor, batch_sizes: torch.Tensor, hx: Any, params: Sequence[torch.Tensor],
             has_biases: bool, num_layers: int, dropout: float, train: bool, bidirectional: bool) -> Any:
        states = list(hx) if isinstance(hx, (list, tuple)) else [hx]
        output, *final = torch.ops.aten2onnx.packed_rnn(data, batch_sizes, states, list(params), mode, has_biases,
                                                        num_layers, dropout, train, bidirectional)
        output, _ = self._stand_ins(output, batch_sizes)
        return (output, *final)

    def _pad(self, data: torch.Tensor, batch_sizes: torch.Tensor, batch_first: bool, padding_value: float,
             total_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = self.padded[id(data)][1]
        steps = data.shape[0]
        if not total_length:  # none given (a given one is at least the longest length): the longest length
            longest = lengths.max().item()
            torch._check_is_size(longest)
            torch._check(longest <= steps)
            out = data[:longest]
        elif total_length <= steps:
            out = data[:total_length]
        else:
            extra = data.new_full((total_length - steps, *data.shape[1:]), padding_value)
            out = torch.cat([data, extra])
        positions = torch.arange(out.shape[0], device=out.device).view(-1, 1)
        inside = (positions < lengths.view(1, -1)).view(*out.shape[:2], *[1] * (out.dim() - 2))
        out = torch.where(inside, out, torch.full((), padding_value, dtype=out.dtype))
        return (out.transpose(0, 1) if batch_first else out), lengths.clone()


def has_rnn(model: Any) -> bool:
    return isinstance(model, torch.nn.Module) and any(isinstance(m, torch.nn.RNNBase) for m in model.modules())


def failed_in_packing(error: BaseException) -> bool:
    """The capture failed inside torch's packed-sequence code (pack_padded_sequence and the RNNs
    reading a PackedSequence), anywhere in the error's chain."""
    seen: BaseException | None = error
    while seen is not None:
        for frame in traceback.extract_tb(seen.__traceback__):
            if frame.filename.endswith(_PACKING_FILES) and frame.name in _PACKING_FUNCTIONS:
                return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def packed_sequences(active: bool = True) -> Iterator[None]:
    """The packed-sequence mode (module docstring) when `active`; nothing otherwise."""
    if not active:
        yield
        return
    with _PackedSequences():
        yield
