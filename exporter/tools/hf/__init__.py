"""export_hf: a transformers model to the ONNX file(s) a runtime needs for a task, with a JSON beside them.

    from aten2onnx.exporter.tools.hf import export_hf
    result = export_hf("path/to/checkpoint_or_config.json", "text-generation-with-past", "out/")

Tasks (aten2onnx.exporter.tools.hf.tasks): text-generation, text-generation-with-past, text2text-generation-with-past
and automatic-speech-recognition-with-past (encoder_model.onnx and decoder_model.onnx),
feature-extraction. Inputs and outputs carry the names
ONNX Runtime tooling (Optimum, onnxruntime-genai) uses: input_ids, attention_mask, position_ids,
past_key_values.{i}.key/.value -> logits, present.{i}.key/.value; dims batch_size, sequence_length,
past_sequence_length, total_sequence_length, encoder_sequence_length. `genai_config.json` beside
the model says which file is which, the names and dims of every input and output, and the model's
sizes. `verify=True` generates greedily in eager PyTorch and in ONNX Runtime and compares the tokens.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from aten2onnx.exporter import progress
from aten2onnx.exporter.tools.hf.load import (
    DTYPES,
    HFExportError,
    check_model_fits,
    dtype_named,
    load_model,
    task_named,
)
from aten2onnx.exporter.tools.hf.tasks import TASKS, TOTAL, Part, Task

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["export_hf", "HFExport", "HFExportError", "TASKS", "DTYPES"]


@dataclass
class HFExport:
    """What export_hf wrote: the files by part kind, the model, and the verification when asked."""

    task: str
    output_dir: Path
    files: dict[str, Path]                      # "model" / "decoder" / "encoder" -> path
    config_path: Path
    model: PreTrainedModel
    programs: dict[str, Any] = field(default_factory=dict)
    verification: Any = None                     # aten2onnx.exporter.tools.hf.verify.GreedyCheck or OutputCheck, when verified


def _name_total_length(program: Any) -> None:
    """present.* of the decoder's own attention are past + new tokens long: total_sequence_length."""
    import onnx_ir as ir

    for value in program.model.graph.outputs:
        if value.name.startswith("present.") and ".encoder." not in value.name and value.shape is not None:
            dims = list(value.shape)
            dims[2] = TOTAL
            value.shape = ir.Shape(dims)


def _export_part(model: PreTrainedModel, part: Part, opset: int) -> Any:
    import aten2onnx

    example = part.example(model)
    with torch.no_grad():
        program = aten2onnx.export(example.module, example.args, None, opset_version=opset,
                                  dynamic_shapes=example.dynamic_shapes, output_names=example.output_names)
    _check_dynamic(program, example.dynamic_shapes, part)
    if part.kind == "decoder":
        _name_total_length(program)
        _total_length_from_one(program)
    return program


def _total_length_from_one(program: Any) -> None:
    """torch.export records total_sequence_length >= 4: it traces past and new tokens as at least 2
    each (0/1 specialization) and cannot state that the mask is their sum. The graph runs a total
    of 1 (an empty past and one token: tests/test_llm.py), so the rule ONNXProgram checks and the
    model's metadata say so rather than warn on every first step."""
    from aten2onnx.exporter.api import input_checks

    program.size_rules = [dataclasses.replace(rule, low=None) if rule.symbol == TOTAL else rule
                          for rule in program.size_rules]
    text = input_checks.metadata_text(program.size_rules)
    if text:
        program.model.metadata_props["aten2onnx.size_rules"] = text


def _check_dynamic(program: Any, dynamic_shapes: Any, part: Part) -> None:
    """Every dimension named dynamic stayed dynamic (torch fixes a size the model computes with as a constant)."""
    wanted = {leaf for leaf in torch.utils._pytree.tree_leaves(dynamic_shapes) if isinstance(leaf, str)}
    found = {str(d) for v in program.model.graph.inputs if v.shape is not None for d in v.shape
             if not isinstance(d, int)}
    fixed = sorted(wanted - found)
    if fixed:
        raise HFExportError(f"{part.file_name}: torch.export fixed the size of {', '.join(fixed)} (the model "
                            "computes with it as a constant), so the graph would only run at the example's size; "
                            "this model cannot be exported for generation yet")


def export_hf(source: str | os.PathLike[str] | nn.Module, task: str, output_dir: str | os.PathLike[str], *,
              dtype: str | torch.dtype | None = None, opset: int | None = None, verify: bool = False,
              new_tokens: int = 8) -> HFExport:
    """Export the model at `source` (a checkpoint folder, a config.json, or a transformers model) for `task`.

    `dtype` (float32, float16, bfloat16; default: a given model's own, float32 for a checkpoint) is the
    exported model's: weights and float inputs and outputs keep it. A model object is not changed (a
    copy is converted when `dtype` differs from its own).
    Writes the task's ONNX file(s) and genai_config.json into `output_dir` (created). With `verify`,
    generates `new_tokens` greedily for two left-padded prompts in eager PyTorch and ONNX Runtime,
    prints the token ids side by side and raises VerificationError if they differ.
    """
    from aten2onnx.exporter.api.export import DEFAULT_OPSET
    from aten2onnx.exporter.tools.hf import genai_config

    spec: Task = task_named(task)
    if isinstance(source, nn.Module):
        given = check_model_fits(source, spec)
        torch_dtype = given.dtype if dtype is None else dtype_named(dtype)
        # transformers wraps PreTrainedModel.to in a decorator whose type loses `self`
        model = given if torch_dtype == given.dtype else copy.deepcopy(given).to(torch_dtype)  # type: ignore[arg-type]
        model.eval()
    else:
        model = load_model(source, spec, dtype_named("float32" if dtype is None else dtype))
    target = Path(output_dir)
    opset = DEFAULT_OPSET if opset is None else opset
    programs = {part.kind: _export_part(model, part, opset) for part in spec.parts}
    target.mkdir(parents=True, exist_ok=True)
    files = {}
    for part in spec.parts:  # written once every part exported: a failure leaves no partial set
        with progress.stage(f"saving {target / part.file_name}"):
            programs[part.kind].save(target / part.file_name)
        files[part.kind] = target / part.file_name
    config_path = genai_config.write(target, model, spec, programs, opset)
    result = HFExport(spec.name, target, files, config_path, model, programs)
    if verify:
        from aten2onnx.exporter.tools.hf.verify import verify_generation

        with progress.stage("verifying in ONNX Runtime against eager PyTorch"):
            result.verification = verify_generation(result, new_tokens=new_tokens, echo=True)
    return result
