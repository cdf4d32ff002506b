"""Capture with torch.export, then decompose only the ops that have no mapping at the opset."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch.export import ExportedProgram

from codegen.torch_schema import overload_names, resolve_overload
from exporter import registry
from exporter.errors import CaptureError
from exporter.options import TrainingMode

# torch logs a traceback of its own when a meta kernel fails; the CaptureError says it better.
_NOISY_LOGGERS = ("torch._subclasses.fake_tensor", "torch.export", "torch._export", "torch.fx.experimental")
_MAX_DETAIL_LINES = 8


@contextlib.contextmanager
def model_mode(model: Any, training: TrainingMode) -> Iterator[None]:
    """train()/eval() as TrainingMode asks while capturing; the model's own mode is restored."""
    if not isinstance(model, torch.nn.Module) or training == TrainingMode.PRESERVE:
        yield
        return
    was_training = model.training
    model.train(training == TrainingMode.TRAINING)
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _quiet_torch_logs() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _hints(text: str) -> list[str]:
    hints = []
    if "0/1 specialized" in text or "specialized it to be a constant (1)" in text:
        hints.append("torch.export fixes a size of 1 (or 0): give the example input a size of at least 2 "
                     "on every axis you mark dynamic")
    elif "specialized" in text or "Constraints violated" in text:
        hints.append("an axis marked dynamic is fixed by the model (or tied to another axis): drop it from "
                     "dynamic_axes/dynamic_shapes, or name tied axes alike")
    if any(k in text for k in ("shapes cannot be multiplied", "must match the size", "same reduction dim",
                               "expected input", "size mismatch", "Expected size")):
        hints.append("the example inputs' shapes do not fit the model's layers: check each input's shape")
    if "data-dependent" in text.lower() or "GuardOnDataDependentSymNode" in text:
        hints.append("replace data-dependent Python control flow with torch.cond and avoid .item()/.tolist() "
                     "on tensors that decide shapes")
    return hints


def capture(model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
            dynamic_shapes: Any, training: TrainingMode = TrainingMode.EVAL) -> ExportedProgram:
    """torch.export.export(strict=False), with its failure turned into a CaptureError."""
    try:
        with model_mode(model, training), _quiet_torch_logs():
            return torch.export.export(model, args, kwargs=kwargs, dynamic_shapes=dynamic_shapes, strict=False)
    except Exception as exc:  # torch raises many types here; all mean "could not capture"
        text = str(exc).strip()
        lines = [line for line in text.splitlines() if line.strip()][:_MAX_DETAIL_LINES] or [type(exc).__name__]
        hints = _hints(text) or ["make forward() traceable by torch.export: replace data-dependent Python control "
                                 "flow with torch.cond, avoid .item()/.tolist() on tensors that decide shapes, and "
                                 "check that the example inputs match forward()'s signature"]
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__}: {type(exc).__name__}: " + "\n".join(lines)
            + "\nHint: " + "; ".join(hints) + ". The full torch error is chained below."
        ) from exc


def decomposition_table(opset: int) -> dict[Any, Any]:
    """torch's default decompositions minus every op that has a mapping at `opset` (kept whole)."""
    table = torch.export.default_decompositions()
    for name in registry.supported_ops(opset):
        # a custom symbolic may name a whole op (`aten::gelu`): keep every overload of it
        overloads = [name] if "." in name.split("::", 1)[-1] else [f"{name}.{o}" for o in overload_names(name)]
        for overload in overloads:
            op = resolve_overload(overload)
            if op is not None and op in table:
                table.pop(op)
    return table


def decompose(program: ExportedProgram, opset: int) -> ExportedProgram:
    return program.run_decompositions(decomposition_table(opset))
