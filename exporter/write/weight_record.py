"""Which weights an exported model holds, and applying a checkpoint to them (ONNXProgram.apply_weights).

The record is taken from the translated model before any pass: every SourceTensor, by state-dict
path. Tensors that are one tensor of the model under several paths (tied weights, such as an LM
head sharing the embedding) form a group: a checkpoint that holds one of the paths (as
transformers saves them) serves all. Applying checks every name, dtype and shape first and
raises one CheckpointMismatchError listing every problem; only a checkpoint that fits is applied.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import onnx_ir as ir

from aten2onnx.exporter.errors import CheckpointMismatchError
from aten2onnx.exporter.write.checkpoints import Checkpoint, describe_entry, open_checkpoint
from aten2onnx.exporter.write.weight_sources import SourceTensor, initializer_tensors

# Kinds a checkpoint is expected to hold (state_dict() holds them); the others it never does.
_SAVED_KINDS = ("parameter", "buffer")


def _type_text(expected: tuple[Any, tuple[int, ...]]) -> str:
    dtype, shape = expected
    return f"{str(dtype).removeprefix('torch.')} {list(shape)}"


@dataclass(frozen=True)
class WeightRecord:
    groups: tuple[tuple[SourceTensor, ...], ...]   # one per tensor of the model, its paths in graph order

    @classmethod
    def of(cls, model: ir.Model) -> WeightRecord:
        by_origin: dict[int, list[SourceTensor]] = {}
        for _, tensor in initializer_tensors(model):
            if isinstance(tensor, SourceTensor):
                by_origin.setdefault(tensor.origin, []).append(tensor)
        return cls(tuple(tuple(group) for group in by_origin.values()))

    @property
    def sources(self) -> list[SourceTensor]:
        return [source for group in self.groups for source in group]

    def apply(self, weights: Mapping[str, Any] | str | os.PathLike[str], strict: bool = True) -> int:
        """Give every weight its tensor from `weights`; returns how many were applied.

        strict=True: every parameter and persistent buffer must be in the checkpoint and nothing else
        may be. strict=False: weights left out keep what they hold (an error if that is nothing, as in
        fake mode), tensors the model does not have are ignored. A wrong dtype or shape is always an
        error. On any error nothing is applied.
        """
        checkpoint = open_checkpoint(weights)
        entries = checkpoint.entries
        missing: list[str] = []
        mismatched: list[str] = []
        plan = []
        for group in self.groups:
            present = [s.key for s in group if s.key in entries]
            for source in group:
                name = source.key if source.key in entries else (present[0] if present else None)
                if name is None:
                    if not source.has_data or strict and source.kind in _SAVED_KINDS:
                        missing.append(_missing_text(source))
                    continue
                entry = entries[name]
                if (entry.dtype, entry.shape) != source.expected:
                    mismatched.append(f"{name}: the checkpoint has {_type_text((entry.dtype, entry.shape))} "
                                      f"(in {entry.where}), the model {_type_text(source.expected)}")
                    continue
                plan.append((source, entry))
        known = {source.key for source in self.sources}
        unexpected = [describe_entry(e) for n, e in entries.items() if n not in known] if strict else []
        if missing or mismatched or unexpected:
            raise CheckpointMismatchError(checkpoint.description, missing, unexpected, mismatched,
                                          _hint(self, checkpoint, missing))
        for source, entry in plan:
            opened = entry.open()
            source.set_data(opened.tensor, opened.file_range, opened.release)
        return len(plan)


def _missing_text(source: SourceTensor) -> str:
    text = f"{source.key} ({source.kind}, {_type_text(source.expected)})"
    if source.kind not in _SAVED_KINDS:
        text += (": checkpoints do not hold it (state_dict() leaves it out); pass it in a state dict, or build the "
                 "model in aten2onnx.enable_fake_mode(), which keeps buffers real")
    return text


def _hint(record: WeightRecord, checkpoint: Checkpoint, missing: list[str]) -> str:
    """A prefix the checkpoint's names have, or lack, compared with the model's (`model.` and the like)."""
    if not missing:
        return ""
    keys = {s.key for s in record.sources}
    extra = [n for n in checkpoint.entries if n not in keys]
    prefixes: Counter[tuple[str, str]] = Counter()
    for key in keys:
        for name in extra:
            if key.endswith("." + name):
                prefixes[("lack", key[: len(key) - len(name)])] += 1
            elif name.endswith("." + key):
                prefixes[("have", name[: len(name) - len(key)])] += 1
    if not prefixes:
        return ""
    (how, prefix), count = prefixes.most_common(1)[0]
    if count < max(1, len(missing) // 2):
        return ""
    if how == "lack":
        return (f"{count} of the checkpoint's names are the model's without the prefix '{prefix}': rename them "
                f"(prefix each with '{prefix}') before applying")
    return f"{count} of the checkpoint's names are the model's with an extra prefix '{prefix}': strip it first"
