"""genai_config.json: what a runtime needs to drive the exported model(s), in onnxruntime-genai's layout.

`model` holds the sizes and special tokens and, per ONNX file (`decoder`, `encoder`), the file
name and the input and output names as onnxruntime-genai spells them (`past_key_names`:
`past_key_values.%d.key`); `search` the greedy defaults. `aten2onnx.io` lists every input and
output of every file with its dtype and dims (`batch_size`, `past_sequence_length`, ...), the
task and the opset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aten2onnx.exporter.dtypes import to_torch_dtype
from aten2onnx.exporter.tools.hf.tasks import Task, decoder_start_token

if TYPE_CHECKING:
    from transformers import PreTrainedModel

FILE_NAME = "genai_config.json"


def _io(program: Any) -> dict[str, list[dict[str, Any]]]:
    def describe(value: Any) -> dict[str, Any]:
        dims = [d if isinstance(d, int) else str(d) for d in value.shape] if value.shape is not None else None
        dtype = str(to_torch_dtype(value.dtype)).removeprefix("torch.") if value.dtype is not None else None
        return {"name": value.name, "dtype": dtype, "dims": dims}

    graph = program.model.graph
    return {"inputs": [describe(v) for v in graph.inputs if not v.is_initializer()],
            "outputs": [describe(v) for v in graph.outputs]}


def _sizes(model: PreTrainedModel) -> dict[str, Any]:
    config = model.config.get_text_config(decoder=True)

    def first(*names: str) -> Any:
        return next((getattr(config, n) for n in names if isinstance(getattr(config, n, None), int)), None)

    heads = first("num_attention_heads", "n_head", "decoder_attention_heads", "num_heads")
    hidden = first("hidden_size", "n_embd", "d_model")
    return {"num_hidden_layers": first("num_hidden_layers", "n_layer", "decoder_layers", "num_decoder_layers",
                                       "num_layers"),
            "num_attention_heads": heads, "num_key_value_heads": first("num_key_value_heads") or heads,
            "hidden_size": hidden, "head_size": first("head_dim", "d_kv") or (hidden // heads if hidden and heads
                                                                                 else None)}


def _names(program: Any, kind: str) -> dict[str, Any]:
    inputs = [v.name for v in program.model.graph.inputs if not v.is_initializer()]
    outputs = [v.name for v in program.model.graph.outputs]
    section: dict[str, Any] = {"inputs": {}, "outputs": {}}
    for name in ("input_ids", "input_features", "attention_mask", "position_ids", "encoder_attention_mask",
                 "token_type_ids"):
        if name in inputs:
            section["inputs"][name] = name
    for name in ("logits", "last_hidden_state"):
        if name in outputs:
            section["outputs"][name] = name
    for side, prefix, names in (("inputs", "past", inputs), ("outputs", "present", outputs)):
        source = "past_key_values" if side == "inputs" else "present"
        if any(n.startswith(f"{source}.0.decoder.") for n in names):
            section[side][f"{prefix}_key_names"] = f"{source}.%d.decoder.key"
            section[side][f"{prefix}_value_names"] = f"{source}.%d.decoder.value"
        elif any(n == f"{source}.0.key" for n in names):
            section[side][f"{prefix}_key_names"] = f"{source}.%d.key"
            section[side][f"{prefix}_value_names"] = f"{source}.%d.value"
        if any(n.startswith(f"{source}.0.encoder.") for n in names):
            section[side][f"cross_{prefix}_key_names"] = f"{source}.%d.encoder.key"
            section[side][f"cross_{prefix}_value_names"] = f"{source}.%d.encoder.value"
    return section


def write(folder: Path, model: PreTrainedModel, task: Task, programs: dict[str, Any], opset: int) -> Path:
    """Write genai_config.json for the exported parts into `folder`; returns its path."""
    config = model.config
    text = config.get_text_config(decoder=True)
    generation = getattr(model, "generation_config", None)
    eos = getattr(generation, "eos_token_id", None) or getattr(text, "eos_token_id", None)
    sections = {}
    for part in task.parts:
        program = programs[part.kind]
        sections[part.kind] = {"filename": part.file_name, **_sizes(model), **_names(program, part.kind)}
    lengths = ("max_position_embeddings", "n_positions", "n_ctx", "max_target_positions")
    context = next((getattr(text, n) for n in lengths if isinstance(getattr(text, n, None), int)), None)
    document = {
        "model": {
            "type": config.model_type,
            "vocab_size": text.vocab_size,
            "context_length": context,
            "bos_token_id": getattr(text, "bos_token_id", None),
            "eos_token_id": eos,
            "pad_token_id": getattr(text, "pad_token_id", None),
            **({"decoder_start_token_id": decoder_start_token(model)} if config.is_encoder_decoder else {}),
            **sections,
        },
        "search": {"do_sample": False, "num_beams": 1, "max_length": context, "past_present_share_buffer": False},
        "aten2onnx": {
            "task": task.name, "opset": opset, "dtype": str(model.dtype).removeprefix("torch."),
            "io": {part.file_name: _io(programs[part.kind]) for part in task.parts},
        },
    }
    path = folder / FILE_NAME
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
