"""Shared by the tests/test_pattern_*.py modules: export a model, then run the ONNX model in ONNX
Runtime on the example and on inputs of other sizes, each compared with eager PyTorch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import onnx
import torch
from torch import nn
from torch.utils._pytree import tree_leaves

import aten2onnx


class Fn(nn.Module):
    """A module around a function; forward() takes x, y, z (the later ones optional)."""

    def __init__(self, fn: Callable[..., Any]):
        super().__init__()
        self.fn = fn

    def forward(self, x: Any, y: Any = None, z: Any = None) -> Any:
        return self.fn(*[a for a in (x, y, z) if a is not None])


def eager(model: nn.Module, args: Sequence[Any], kwargs: dict[str, Any] | None = None) -> list[torch.Tensor]:
    """The model's tensor outputs, flattened as the ONNX outputs are (None dropped). Inputs are
    cloned: some models modify them."""
    copy = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    with torch.no_grad():
        result = model(*copy, **(kwargs or {}))
    return [t if isinstance(t, torch.Tensor) else torch.tensor(t) for t in tree_leaves(result) if t is not None]


def assert_matches(program: aten2onnx.ONNXProgram, model: nn.Module, args: Sequence[Any],
                   kwargs: dict[str, Any] | None = None, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """ONNX Runtime's outputs equal eager PyTorch's: same count, dtypes, shapes and values."""
    want = eager(model, args, kwargs)
    got = program(*args, **(kwargs or {}))
    assert len(got) == len(want) > 0, f"{len(got)} ONNX outputs, {len(want)} eager outputs"
    for index, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype, f"output {index}: dtype {a.dtype} != {b.dtype}"
        assert a.shape == b.shape, f"output {index}: shape {tuple(a.shape)} != {tuple(b.shape)}"
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol, equal_nan=True,
                                   msg=lambda m, i=index: f"output {i}: {m}")


def export_and_run(model: nn.Module, example: Sequence[Any], runs: Sequence[Sequence[Any]] = (), *,
                   opset: int = 18, atol: float = 1e-5, **options: Any) -> aten2onnx.ONNXProgram:
    """Export at `opset`, check the file, compare with eager on the example and on each of `runs`."""
    program = aten2onnx.export(model, tuple(example), opset_version=opset, **options)
    onnx.checker.check_model(program.model_proto)
    kwargs = options.get("kwargs")
    for args in [example, *runs]:
        assert_matches(program, model, args, kwargs if args is example else None, atol=atol)
    return program


def input_dims(program: aten2onnx.ONNXProgram) -> list[list[str]]:
    """Each ONNX input's shape as strings: ['batch', '8']."""
    return [[str(d) for d in value.shape] for value in program.model.graph.inputs]
