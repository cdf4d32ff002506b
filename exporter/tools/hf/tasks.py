"""The tasks export_hf knows: which transformers model class serves each, and what each ONNX model takes.

A task names the auto class that builds the model (AutoModelForCausalLM, ...) and one or two
`Part`s, each one ONNX file: its wrapper module (aten2onnx.exporter.tools.hf.wrappers), example inputs made
from the model itself and the dynamic dimensions, named as ONNX Runtime tooling names them.

Example sizes are at least 2 on every dynamic axis: torch.export fixes a size of 0 or 1 (its
"0/1 specialization"). The past is 5 tokens long in the example and declared `Dim(min=0)`:
torch traces the general case (sizes it cannot tell from 0 are assumed not 0) and records the
range [0, ...], so the one graph also runs the first step, whose past is empty. That is proven
by running it (aten2onnx.exporter.tools.hf.generate starts every generation from an empty past), not assumed.
Two other ways were tried and not taken: an example past of 0 specializes the graph to an empty
past; torch.fx.experimental._config.backed_size_oblivious with an example of 0 traces too, but
changes how every size of the trace is reasoned about, through a process-wide private switch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from aten2onnx.exporter.capture import kv_cache
from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.tools.hf import wrappers

if TYPE_CHECKING:
    from transformers import PreTrainedModel

BATCH, SEQUENCE, PAST, ENCODER_SEQUENCE = 2, 3, 5, 6

# The names ONNX Runtime tooling gives the dynamic dimensions. Given as names (Dim.DYNAMIC to
# torch.export): a model's incidental guards (a stride check that a length is not the head size)
# then narrow nothing, where a Dim with a range would refuse the capture. export_hf checks that
# each stayed dynamic, and generation proves the sizes the ranges cannot state (a past of 0,
# one new token, a batch of 1).
BATCH_DIM, SEQUENCE_DIM, PAST_DIM = "batch_size", "sequence_length", "past_sequence_length"
ENCODER_DIM, TOTAL = "encoder_sequence_length", "total_sequence_length"


@dataclass(frozen=True)
class Example:
    """What one ONNX model is exported from: the wrapper, its positional example inputs and dims."""

    module: nn.Module
    args: tuple[Any, ...]
    dynamic_shapes: tuple[Any, ...]
    output_names: tuple[str, ...] | None = None  # None: named by aten2onnx.exporter.capture.kv_cache (logits, present.*)

    def __post_init__(self) -> None:
        self.module.eval()  # a new module trains by default; the model inside is in eval mode


@dataclass(frozen=True)
class Part:
    """One ONNX file of a task."""

    file_name: str
    kind: str  # "decoder" (takes and gives a cache), "encoder", or "model" (no cache)
    example: Callable[[PreTrainedModel], Example]


@dataclass(frozen=True)
class Task:
    name: str
    auto_class: str                 # the transformers auto class that builds the model
    needs: str                      # what kind of model fits, for the error when one does not
    parts: tuple[Part, ...]
    with_past: bool


# -- example inputs -------------------------------------------------------------------------------
def _vocab(model: PreTrainedModel) -> int:
    return int(model.config.get_text_config(decoder=True).vocab_size)


def _ids(model: PreTrainedModel, batch: int, length: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(length)
    return torch.randint(3, min(_vocab(model), 1000), (batch, length), generator=generator)


def _left_padded_mask(batch: int, length: int, padding: int = 1) -> torch.Tensor:
    """Ones, but the first row starts with `padding` zeros: left padding, as batched prompts have."""
    mask = torch.ones(batch, length, dtype=torch.int64)
    mask[0, :padding] = 0
    return mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """position_ids as transformers' generate makes them: counting real tokens, padding at 0."""
    return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)


def _prefill_cache(model: PreTrainedModel, batch: int, past: int) -> Any:
    """A real cache of `past` tokens: layer classes, head counts and dtypes as the model makes them."""
    mask = _left_padded_mask(batch, past)
    inputs: dict[str, Any] = {"input_ids": _ids(model, batch, past), "attention_mask": mask}
    if wrappers.takes(model, "position_ids"):
        inputs["position_ids"] = positions(mask)
    with torch.no_grad(), kv_cache.exporting_caches():
        return wrappers.returned_cache(model(**inputs, use_cache=True))


def _cache_dims(cache: Any, encoder_length: bool = True) -> list[dict[int, Any]]:
    """dynamic_shapes of a cache: one entry per key and value tensor, in flattening order. The
    cross-attention (encoder) ones are as long as the encoder's input, fixed for Whisper's."""
    leaves, _ = torch.utils._pytree.tree_flatten_with_path(cache)
    dims: list[dict[int, Any]] = []
    for path, _ in leaves:
        cross = ".encoder." in str(path)
        dims.append({0: BATCH_DIM, 2: ENCODER_DIM} if cross and encoder_length else
                    {0: BATCH_DIM} if cross else {0: BATCH_DIM, 2: PAST_DIM})
    return dims


def _causal(model: PreTrainedModel) -> Example:
    with_positions = wrappers.takes(model, "position_ids")
    module = (wrappers.CausalLMWithPositions if with_positions else wrappers.CausalLM)(model)
    mask = _left_padded_mask(BATCH, SEQUENCE)
    args: tuple[Any, ...] = (_ids(model, BATCH, SEQUENCE), mask)
    dims: tuple[Any, ...] = ({0: BATCH_DIM, 1: SEQUENCE_DIM}, {0: BATCH_DIM, 1: SEQUENCE_DIM})
    if with_positions:
        args, dims = args + (positions(mask),), dims + ({0: BATCH_DIM, 1: SEQUENCE_DIM},)
    return Example(module, args, dims, ("logits",))


def _causal_with_past(model: PreTrainedModel) -> Example:
    with_positions = wrappers.takes(model, "position_ids")
    module = (wrappers.CausalLMWithPastAndPositions if with_positions else wrappers.CausalLMWithPast)(model)
    cache = _prefill_cache(model, BATCH, PAST)
    mask = _left_padded_mask(BATCH, PAST + SEQUENCE)
    args: tuple[Any, ...] = (_ids(model, BATCH, SEQUENCE), mask)
    dims: tuple[Any, ...] = ({0: BATCH_DIM, 1: SEQUENCE_DIM}, {0: BATCH_DIM, 1: TOTAL})
    if with_positions:
        args, dims = args + (positions(mask)[:, PAST:].clone(),), dims + ({0: BATCH_DIM, 1: SEQUENCE_DIM},)
    return Example(module, args + (cache,), dims + (_cache_dims(cache),))


def _feature_extraction(model: PreTrainedModel) -> Example:
    token_types = wrappers.takes(wrappers.feature_model(model), "token_type_ids") \
        and getattr(model.config, "type_vocab_size", 0) > 0
    module = (wrappers.FeatureExtractionWithTokenTypes if token_types else wrappers.FeatureExtraction)(model)
    args: tuple[Any, ...] = (_ids(model, BATCH, SEQUENCE), torch.ones(BATCH, SEQUENCE, dtype=torch.int64))
    dims: tuple[Any, ...] = ({0: BATCH_DIM, 1: SEQUENCE_DIM},) * 2
    if token_types:
        args, dims = args + (torch.zeros(BATCH, SEQUENCE, dtype=torch.int64),), dims + (dims[0],)
    return Example(module, args, dims, ("last_hidden_state",))


def decoder_start_token(model: PreTrainedModel) -> int:
    config = model.config
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        start = getattr(getattr(model, "generation_config", None), "decoder_start_token_id", None)
    return int(start if start is not None else getattr(config, "pad_token_id", 0) or 0)


def _seq2seq_encoder(model: PreTrainedModel) -> Example:
    module = wrappers.Seq2SeqEncoder(model, decoder_start_token(model))
    args = (_ids(model, BATCH, ENCODER_SEQUENCE), _left_padded_mask(BATCH, ENCODER_SEQUENCE))
    return Example(module, args, ({0: BATCH_DIM, 1: ENCODER_DIM},) * 2)


def _seq2seq_decoder(model: PreTrainedModel) -> Example:
    encoder_ids, encoder_mask = _ids(model, BATCH, ENCODER_SEQUENCE), _left_padded_mask(BATCH, ENCODER_SEQUENCE)
    with torch.no_grad():
        cache = wrappers.returned_cache(model(input_ids=encoder_ids, attention_mask=encoder_mask,
                                              decoder_input_ids=_ids(model, BATCH, PAST), use_cache=True))
    module = wrappers.Seq2SeqDecoder(model, hidden_size(model))
    args = (_ids(model, BATCH, SEQUENCE), encoder_mask, cache)
    return Example(module, args, ({0: BATCH_DIM, 1: SEQUENCE_DIM}, {0: BATCH_DIM, 1: ENCODER_DIM}, _cache_dims(cache)))


def speech_features(model: PreTrainedModel, batch: int, seed: int = 0) -> torch.Tensor:
    """Random log-mel features of the length Whisper's encoder takes (2 x max_source_positions frames)."""
    config = model.config
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, config.num_mel_bins, 2 * config.max_source_positions, generator=generator,
                       dtype=model.dtype)


def _speech_encoder(model: PreTrainedModel) -> Example:
    module = wrappers.SpeechEncoder(model, decoder_start_token(model))
    return Example(module, (speech_features(model, BATCH),), ({0: BATCH_DIM},))


def _speech_decoder(model: PreTrainedModel) -> Example:
    with torch.no_grad():
        cache = wrappers.returned_cache(model(input_features=speech_features(model, BATCH),
                                              decoder_input_ids=_ids(model, BATCH, PAST), use_cache=True))
    module = wrappers.SpeechDecoder(model, hidden_size(model))
    args = (_ids(model, BATCH, SEQUENCE), cache)
    return Example(module, args, ({0: BATCH_DIM, 1: SEQUENCE_DIM}, _cache_dims(cache, encoder_length=False)))


def hidden_size(model: PreTrainedModel) -> int:
    config = model.config
    for name in ("d_model", "hidden_size", "n_embd"):
        if isinstance(getattr(config, name, None), int):
            return int(getattr(config, name))
    raise ExportArgumentError(f"{type(config).__name__} names no hidden size (d_model, hidden_size or n_embd), which "
                              "the decoder's wrapper needs; export_hf supports configs that name one")


_CAUSAL = "a causal language model reading token ids"
TASKS: dict[str, Task] = {
    "text-generation": Task("text-generation", "AutoModelForCausalLM", _CAUSAL,
                            (Part("model.onnx", "model", _causal),), with_past=False),
    "text-generation-with-past": Task("text-generation-with-past", "AutoModelForCausalLM", _CAUSAL,
                                      (Part("model.onnx", "decoder", _causal_with_past),), with_past=True),
    "text2text-generation-with-past": Task(
        "text2text-generation-with-past", "AutoModelForSeq2SeqLM", "an encoder-decoder model reading token ids",
        (Part("encoder_model.onnx", "encoder", _seq2seq_encoder), Part("decoder_model.onnx", "decoder", _seq2seq_decoder)),
        with_past=True),
    "automatic-speech-recognition-with-past": Task(
        "automatic-speech-recognition-with-past", "AutoModelForSpeechSeq2Seq",
        "an encoder-decoder model reading audio features",
        (Part("encoder_model.onnx", "encoder", _speech_encoder), Part("decoder_model.onnx", "decoder", _speech_decoder)),
        with_past=True),
    "feature-extraction": Task("feature-extraction", "AutoModel", "a transformers base model reading token ids",
                               (Part("model.onnx", "model", _feature_extraction),), with_past=False),
}
