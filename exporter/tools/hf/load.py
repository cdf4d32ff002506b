"""A transformers model for a task, from a local checkpoint folder or a config.json (nothing downloaded).

A folder with weights (`*.safetensors`, `pytorch_model*.bin`) loads them; a folder with only
`config.json`, or a config.json itself, builds the model with random weights (seeded, so two
exports of one config are the same model).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.tools.hf.tasks import TASKS, Task

if TYPE_CHECKING:
    from transformers import PreTrainedModel

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


class HFExportError(ExportArgumentError):
    """A task, model or checkpoint export_hf cannot use: says which, and what it can."""


def task_named(name: str) -> Task:
    if name not in TASKS:
        raise HFExportError(f"unknown task '{name}'; supported tasks: {', '.join(TASKS)}")
    return TASKS[name]


def dtype_named(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise HFExportError(f"unsupported dtype {dtype!r}; supported: {', '.join(DTYPES)}")


def _config(source: Path) -> Any:
    import transformers

    path = source / "config.json" if source.is_dir() else source
    if not path.is_file():
        raise HFExportError(f"'{source}' is neither a checkpoint folder with a config.json nor a config.json file")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HFExportError(f"cannot read '{path}' as a transformers config: {exc}") from None
    model_type = values.pop("model_type", None) if isinstance(values, dict) else None
    if not model_type:
        raise HFExportError(f"'{path}' has no \"model_type\"; a transformers config.json names its model type")
    try:
        return transformers.AutoConfig.for_model(model_type, **values)
    except ValueError as exc:
        raise HFExportError(f"'{path}': transformers does not know model type '{model_type}' ({exc})") from None


def _auto_class(task: Task) -> Any:
    import transformers

    return getattr(transformers, task.auto_class)


def _fits(config: Any, task: Task) -> bool:
    """The task's auto class builds a model of this config, and that model reads what the task gives
    (token ids; audio features for speech recognition)."""
    mapping = _auto_class(task)._model_mapping
    if type(config) not in mapping:
        return False
    model_class = mapping[type(config)]
    model_class = model_class[0] if isinstance(model_class, (tuple, list)) else model_class
    wanted = "input_features" if task.auto_class == "AutoModelForSpeechSeq2Seq" else "input_ids"
    return getattr(model_class, "main_input_name", "input_ids") == wanted


def tasks_for(config: Any) -> list[str]:
    """The tasks that fit a model of this config."""
    return [name for name, task in TASKS.items() if _fits(config, task)]


def check_fits(config: Any, task: Task) -> None:
    if not _fits(config, task):
        fitting = tasks_for(config)
        raise HFExportError(
            f"model type '{config.model_type}' ({type(config).__name__}) does not fit task '{task.name}', which needs "
            f"{task.needs} ({task.auto_class}); tasks that fit '{config.model_type}': {', '.join(fitting) or 'none'}")


def check_model_fits(model: nn.Module, task: Task) -> PreTrainedModel:
    """A model given as an object: its class must be one the task's auto class would build. Returns it."""
    import transformers

    config: Any = model.config  # a transformers config; nn.Module types unknown attributes as Tensor | Module
    check_fits(config, task)
    expected = _auto_class(task)._model_mapping[type(config)]
    classes = expected if isinstance(expected, (tuple, list)) else (expected,)
    # every auto class builds PreTrainedModels: the first test only tells the type checker so
    if not isinstance(model, transformers.PreTrainedModel) or not isinstance(model, tuple(classes)):
        raise HFExportError(
            f"{type(model).__name__} does not fit task '{task.name}', which needs {task.needs}: "
            f"{', '.join(c.__name__ for c in classes)} for model type '{config.model_type}'")
    return model


def load_model(source: str | os.PathLike[str], task: Task, dtype: torch.dtype) -> PreTrainedModel:
    """The task's model of the checkpoint or config at `source`, in eval mode and `dtype`."""
    source = Path(source)
    config = _config(source)
    check_fits(config, task)
    auto = _auto_class(task)
    has_weights = source.is_dir() and any(any(source.glob(p)) for p in _WEIGHT_PATTERNS)
    if has_weights:
        model = auto.from_pretrained(source, config=config, dtype=dtype, local_files_only=True)
    else:
        torch.manual_seed(0)
        model = auto.from_config(config, dtype=dtype)
    return model.eval()
