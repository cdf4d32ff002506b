"""The classic model zoo traced through the TorchScript frontend (export(..., dynamo=False)), compared
with eager PyTorch: static shapes, and the model's natural dynamic axes as `dynamic_axes` (checked at
a second size). The default run covers the light models at opset 18; `-m slow` the rest and opsets
17 and 26. An LSTM over pack_padded_sequence runs at several sets of lengths.
"""

from __future__ import annotations

import warnings
from typing import Any

import onnx
import pytest
import torch
from models.classic import CLASSIC_ZOO, ZooCase
from models.torchscript_models import PackedLSTM

import aten2onnx

DEFAULT = {"alexnet", "resnet18", "super_resolution", "word_lm_lstm", "dcgan_generator"}


def _params() -> list[Any]:
    params = []
    for name in CLASSIC_ZOO:
        for opset in (17, 18, 26):
            for dynamic in (False, True):
                marks = [] if name in DEFAULT and opset == 18 else [pytest.mark.slow]
                kind = "dynamic" if dynamic else "static"
                params.append(pytest.param(name, opset, dynamic, id=f"{name}-{kind}@{opset}", marks=marks))
    return params


def _dynamic_axes(case: ZooCase, names: list[str]) -> dict[str, dict[int, str]]:
    """The case's dynamic_shapes (one {axis: Dim} per input) as the legacy dynamic_axes dict."""
    axes = {}
    for name, spec in zip(names, case.dynamic_shapes or ()):
        if spec:
            axes[name] = {axis: dim.__name__ for axis, dim in spec.items()}
    return axes


def _check(program: aten2onnx.ONNXProgram, case: ZooCase, other: bool) -> None:
    args, kwargs = case.inputs(other)
    expected = case.eager(other)
    actual = program(*args, *kwargs.values())
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.shape == want.shape and got.dtype == want.dtype
        torch.testing.assert_close(got, want, atol=case.atol, rtol=case.rtol)


@pytest.mark.parametrize(("name", "opset", "dynamic"), _params())
def test_traced_classic_model_matches_eager(name: str, opset: int, dynamic: bool) -> None:
    torch.manual_seed(0)
    case = CLASSIC_ZOO[name]()
    names = [f"input_{i}" for i in range(len(case.args))]
    axes = _dynamic_axes(case, names) if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the word models' `if self.rnn_type == ...` reads no tensor; others may
        program = aten2onnx.export(case.model, case.args, dynamo=False, opset_version=opset, input_names=names,
                                  dynamic_axes=axes)
    assert program.capture_method == "torch.jit.trace"
    onnx.checker.check_model(program.model_proto)
    _check(program, case, other=False)
    if dynamic and case.other_args is not None:
        named = {str(d) for v in program.model.graph.inputs for d in (v.shape or []) if not str(d).isdigit()}
        assert named == set().union(*(set(a.values()) for a in axes.values()))
        _check(program, case, other=True)


@pytest.mark.parametrize("opset", [13, 18])
def test_lstm_over_packed_sequences_matches_eager(opset: int) -> None:
    torch.manual_seed(0)
    model = PackedLSTM().eval()
    tokens, lengths = torch.randint(0, 20, (3, 7)), torch.tensor([4, 7, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = aten2onnx.export(model, (tokens, lengths), dynamo=False, opset_version=opset,
                                  input_names=["tokens", "lengths"], dynamic_axes={"tokens": {0: "batch"},
                                                                                   "lengths": {0: "batch"}})
    types = [n.op_type for n in program.model.graph]
    assert types.count("LSTM") == 2 and "GatherND" in types and "ScatterND" in types
    runs = [(tokens, lengths), (tokens, torch.tensor([7, 1, 5])),
            (torch.randint(0, 20, (5, 7)), torch.tensor([3, 3, 7, 1, 6]))]
    for run_tokens, run_lengths in runs:
        with torch.no_grad():
            expected = model(run_tokens, run_lengths)
        for got, want in zip(program(run_tokens, run_lengths), expected):
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
