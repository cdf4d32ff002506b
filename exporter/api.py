"""exporter.export: the public entry point, modelled on torch.onnx.export."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.export import ExportedProgram

from exporter.capture import capture, decompose
from exporter.dim_names import user_dim_names
from exporter.errors import ExportArgumentError
from exporter.program import ONNXProgram
from exporter.translate import translate
from generated import registry

DEFAULT_OPSET = 20


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Export in eval mode (torch.onnx's default TrainingMode.EVAL), then restore."""
    if not isinstance(model, torch.nn.Module):
        yield
        return
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _check_arguments(model: Any, args: Any, opset_version: int) -> tuple[Any, ...]:
    if not isinstance(model, (torch.nn.Module, ExportedProgram)):
        raise ExportArgumentError(
            f"model must be a torch.nn.Module or a torch.export.ExportedProgram, got {type(model).__name__}"
        )
    if not isinstance(opset_version, int) or isinstance(opset_version, bool) or not (
        registry.MIN_OPSET <= opset_version <= registry.MAX_OPSET
    ):
        raise ExportArgumentError(
            f"opset_version={opset_version!r} is not supported; choose an integer from "
            f"{registry.MIN_OPSET} to {registry.MAX_OPSET} (default {DEFAULT_OPSET})"
        )
    if isinstance(args, torch.Tensor):
        return (args,)
    if args is None:
        return ()
    if not isinstance(args, (tuple, list)):
        raise ExportArgumentError(f"args must be a tuple of example inputs, got {type(args).__name__}")
    return tuple(args)


def export(
    model: torch.nn.Module | ExportedProgram,
    args: Any = (),
    f: str | os.PathLike[str] | None = None,
    *,
    kwargs: dict[str, Any] | None = None,
    opset_version: int = DEFAULT_OPSET,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_shapes: Any = None,
    verbose: bool = False,
) -> ONNXProgram:
    """Export `model` to ONNX at `opset_version` (9 to 26); save to `f` when given.

    The model is captured with torch.export, ops without a spec at the opset are
    decomposed by torch, and every node is translated through the generated registry.
    """
    args = _check_arguments(model, args, opset_version)
    if isinstance(model, ExportedProgram):
        program = model
    else:
        with _eval_mode(model):
            program = capture(model, args, kwargs, dynamic_shapes)
    dim_names = user_dim_names(program, model, args, kwargs, dynamic_shapes)
    program = decompose(program, opset_version)
    model_ir = translate(program, opset_version, input_names, output_names, dim_names)
    onnx_program = ONNXProgram(model_ir, program)
    if verbose:
        print(onnx_program.model.graph)
    if f is not None:
        onnx_program.save(f)
    return onnx_program


def supported_ops(opset_version: int = DEFAULT_OPSET) -> list[str]:
    """The ATen overloads with a mapping at `opset_version` (the support matrix's data)."""
    _check_arguments(torch.nn.Module(), (), opset_version)
    return registry.supported_ops(opset_version)
