"""Greedy generation two ways: transformers' `model.generate` in eager PyTorch, and an ONNX Runtime
loop over the exported model(s) that feeds every `present.*` output back as `past_key_values.*`.

The ONNX loop is what a runtime does: the first step runs the prompt with an empty past (length
0), each later step one token, with the attention mask grown by one and position_ids counting
real tokens (padding at 0), as `generate` makes them. An encoder-decoder model runs its encoder
once (which also gives the cross-attention keys and values), then the decoder from the start token.
Both sides record the logits of every step, so tests compare them as well as the tokens.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aten2onnx.exporter.tools.hf.tasks import decoder_start_token, positions

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass
class Generation:
    """New token ids (batch, steps) and the logits of each step (batch, vocab)."""

    tokens: torch.Tensor
    step_logits: list[torch.Tensor] = field(default_factory=list)


_ONNX_TO_NUMPY = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _numpy_dtype(onnx_type: str) -> Any:
    if onnx_type == "tensor(bfloat16)":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return _ONNX_TO_NUMPY[onnx_type]


def _to_torch(array: np.ndarray) -> torch.Tensor:
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array))


def session(path: str | Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _empty_past(session: Any, batch: int, pattern: str) -> dict[str, np.ndarray]:
    """A zero-length past for every input matching `pattern` (batch, heads, 0, head_dim)."""
    past = {}
    for item in session.get_inputs():
        if re.fullmatch(pattern, item.name):
            heads, head_dim = item.shape[1], item.shape[3]
            past[item.name] = np.zeros((batch, heads, 0, head_dim), dtype=_numpy_dtype(item.type))
    return past


def _as_past(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """present.{i}... -> past_key_values.{i}...: what a step gives is what the next one takes."""
    return {"past_key_values." + name[len("present."):]: value for name, value in outputs.items()
            if name.startswith("present.")}


def onnx_greedy(model_path: str | Path, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                new_tokens: int, follow: torch.Tensor | None = None) -> Generation:
    """Greedy decoding with a decoder-only model exported with past (text-generation-with-past).

    `follow` (batch, new_tokens): feed these tokens instead of the argmax (teacher forcing), so the
    logits of every step can be compared with eager's even where a near tie in float16 picks another."""
    decoder = session(model_path)
    names = [item.name for item in decoder.get_inputs()]
    output_names = [item.name for item in decoder.get_outputs()]
    batch = input_ids.shape[0]
    past = _empty_past(decoder, batch, r"past_key_values\.\d+\.(key|value)")
    ids, mask = input_ids.numpy(), attention_mask.numpy().astype(np.int64)
    position_ids = positions(attention_mask).numpy()
    result = Generation(torch.empty(batch, 0, dtype=torch.long))
    for _ in range(new_tokens):
        feeds = {"input_ids": ids, "attention_mask": mask, **past}
        if "position_ids" in names:
            feeds["position_ids"] = position_ids
        outputs = dict(zip(output_names, decoder.run(None, feeds)))
        logits = _to_torch(outputs["logits"][:, -1, :])
        token = logits.float().argmax(-1)
        result.step_logits.append(logits)
        result.tokens = torch.cat([result.tokens, token[:, None]], dim=1)
        past = _as_past(outputs)
        ids = (token if follow is None else follow[:, len(result.step_logits) - 1])[:, None].numpy()
        mask = np.concatenate([mask, np.ones((batch, 1), dtype=np.int64)], axis=1)
        position_ids = position_ids[:, -1:] + 1
    return result


def onnx_seq2seq_greedy(encoder_path: str | Path, decoder_path: str | Path, encoder_inputs: dict[str, torch.Tensor],
                        start_token: int, new_tokens: int) -> Generation:
    """Greedy decoding with an encoder-decoder model exported as two files: its encoder runs once on
    `encoder_inputs` (input_ids and attention_mask, or Whisper's input_features) and gives the
    cross-attention keys and values; the decoder starts from the start token and an empty past."""
    encoder, decoder = session(encoder_path), session(decoder_path)
    feeds = {name: value.numpy() for name, value in encoder_inputs.items()}
    batch = next(iter(feeds.values())).shape[0]
    encoded = dict(zip([o.name for o in encoder.get_outputs()], encoder.run(None, feeds)))
    past = {**_empty_past(decoder, batch, r"past_key_values\.\d+\.decoder\.(key|value)"), **_as_past(encoded)}
    mask = {"encoder_attention_mask": feeds["attention_mask"].astype(np.int64)} \
        if "encoder_attention_mask" in [i.name for i in decoder.get_inputs()] else {}
    output_names = [item.name for item in decoder.get_outputs()]
    ids = np.full((batch, 1), start_token, dtype=np.int64)
    result = Generation(torch.empty(batch, 0, dtype=torch.long))
    for _ in range(new_tokens):
        outputs = dict(zip(output_names, decoder.run(None, {"input_ids": ids, **mask, **past})))
        logits = _to_torch(outputs["logits"][:, -1, :])
        token = logits.float().argmax(-1)
        result.step_logits.append(logits)
        result.tokens = torch.cat([result.tokens, token[:, None]], dim=1)
        past = _as_past(outputs)
        ids = token[:, None].numpy()
    return result


# Settings a model's generation_config may carry that change which token greedy search picks or when
# it stops (BART forces an end token at max length, suppresses tokens, ...): all off.
_NEUTRAL = {"forced_bos_token_id": None, "forced_eos_token_id": None, "no_repeat_ngram_size": None,
            "encoder_no_repeat_ngram_size": None, "repetition_penalty": None, "encoder_repetition_penalty": None,
            "bad_words_ids": None, "suppress_tokens": None, "begin_suppress_tokens": None, "sequence_bias": None,
            "min_length": None, "min_new_tokens": None, "exponential_decay_length_penalty": None,
            "eos_token_id": None, "max_length": None, "stop_strings": None}


@contextlib.contextmanager
def _plain_greedy(model: PreTrainedModel, new_tokens: int) -> Iterator[Any]:
    """model.generation_config set to plain greedy search for exactly `new_tokens` tokens while inside:
    generate() fills what a config passed to it leaves unset from the model's own, so that one is edited."""
    saved = model.generation_config
    config = copy.deepcopy(saved)
    for name, value in _NEUTRAL.items():
        if hasattr(config, name):
            setattr(config, name, value)
    pad = getattr(model.config.get_text_config(decoder=True), "pad_token_id", None)
    config.update(do_sample=False, num_beams=1, max_new_tokens=new_tokens, output_logits=True,
                  return_dict_in_generate=True, pad_token_id=0 if pad is None else pad)
    if model.config.is_encoder_decoder:
        config.decoder_start_token_id = decoder_start_token(model)
    model.generation_config = config
    try:
        yield config
    finally:
        model.generation_config = saved


def eager_greedy(model: PreTrainedModel, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
                 new_tokens: int, **inputs: torch.Tensor) -> Generation:
    """transformers' model.generate, greedy: the tokens after the prompt (or the start token).

    Whisper's own generate() adds language detection, timestamps and long-form decoding on top;
    its plain greedy search is GenerationMixin.generate, which is what is called for it."""
    from transformers import GenerationMixin

    assert isinstance(model, GenerationMixin)  # the generation tasks' auto classes build generating models
    arguments: dict[str, torch.Tensor | None] = dict(inputs)
    if input_ids is not None:
        arguments = {"input_ids": input_ids, "attention_mask": attention_mask, **inputs}
    generate_with = GenerationMixin.generate if "input_features" in arguments else type(model).generate
    with torch.no_grad(), _plain_greedy(model, new_tokens) as config:
        output = generate_with(model, **arguments, generation_config=config)
    if model.config.is_encoder_decoder:
        start = 1
    else:
        assert input_ids is not None, "a decoder-only model generates after a prompt"
        start = input_ids.shape[1]
    tokens = output.sequences[:, start:]
    if tokens.shape[1] != new_tokens:
        raise RuntimeError(f"model.generate gave {tokens.shape[1]} new tokens, not {new_tokens}")
    return Generation(tokens, [logits for logits in output.logits])


def left_padded_prompts(vocab: int, lengths: Sequence[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of prompts of the given lengths, left-padded to the longest: (input_ids, attention_mask)."""
    generator = torch.Generator().manual_seed(seed)
    longest = max(lengths)
    ids = torch.zeros(len(lengths), longest, dtype=torch.long)
    mask = torch.zeros(len(lengths), longest, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, longest - length:] = torch.randint(3, vocab, (length,), generator=generator)
        mask[row, longest - length:] = 1
    return ids, mask


def _first_difference(want: list[int], got: list[int]) -> int | None:
    for step, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return step
    return None if len(want) == len(got) else min(len(want), len(got))


def side_by_side(eager: Generation, onnx: Generation) -> list[str]:
    """Two lines per prompt, the token ids from each side, and where they first differ."""
    lines = []
    for row in range(eager.tokens.shape[0]):
        want, got = eager.tokens[row].tolist(), onnx.tokens[row].tolist()
        step = _first_difference(want, got)
        lines.append(f"prompt {row}: eager        {want}")
        lines.append(f"prompt {row}: onnxruntime  {got}  " + ("same" if step is None else f"DIFFER from step {step}"))
    return lines
