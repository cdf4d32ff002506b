"""Hugging Face `transformers` models built from small configs with random weights (no downloads).

Each factory returns a `ZooCase`: the transformers model itself in eval mode (use_cache off),
called with keyword inputs as one would call it (`model(input_ids=..., attention_mask=...)`),
the dynamic_shapes natural for it (batch and sequence for text, batch for images and audio, by
input name) and inputs at a second size. Outputs are the model's ModelOutput, which torch.export
flattens like torch.utils._pytree does. `small=False` gives the full published configuration
with random weights (the benchmarks use it). Import this module only when transformers is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import transformers
from torch import nn
from torch.export import Dim

from models.classic import ZooCase


def _build(model_class: type, config: Any) -> nn.Module:
    torch.manual_seed(0)
    return model_class(config).eval()


def _ids(vocab: int, batch: int, seq: int) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, seq))


def _mask(batch: int, seq: int) -> torch.Tensor:
    """An attention mask with right padding on the first row, so masking is exercised."""
    mask = torch.ones(batch, seq, dtype=torch.int64)
    mask[0, seq - 2:] = 0
    return mask


def _text_case(model: nn.Module, vocab: int, input_names: Sequence[str], max_positions: int,
               sizes: tuple[tuple[int, int], tuple[int, int]] = ((2, 8), (3, 13))) -> ZooCase:
    def inputs(batch: int, seq: int) -> dict[str, torch.Tensor]:
        make = {"input_ids": lambda: _ids(vocab, batch, seq), "attention_mask": lambda: _mask(batch, seq),
                "token_type_ids": lambda: torch.randint(0, 2, (batch, seq))}
        return {name: make[name]() for name in input_names}

    batch, sequence = Dim("batch", min=1, max=64), Dim("sequence", min=2, max=max_positions)
    dims = {name: {0: batch, 1: sequence} for name in input_names}
    return ZooCase(model, kwargs=inputs(*sizes[0]), dynamic_shapes=dims, other_kwargs=inputs(*sizes[1]))


# ------------------------------------------------------------------------------------- text
def bert(small: bool = True) -> ZooCase:
    """BertModel (bert-base-uncased's architecture when full): last hidden state and pooled output."""
    small_config = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    config = transformers.BertConfig(**(small_config if small else {}))
    model = _build(transformers.BertModel, config)
    return _text_case(model, config.vocab_size, ["input_ids", "attention_mask", "token_type_ids"],
                      config.max_position_embeddings)


def gpt2(small: bool = True) -> ZooCase:
    """GPT2LMHeadModel (gpt2's architecture, 124M parameters when full): next-token logits."""
    small_config = dict(vocab_size=128, n_positions=128, n_embd=32, n_layer=2, n_head=4, bos_token_id=0,
                        eos_token_id=0)
    config = transformers.GPT2Config(use_cache=False, **(small_config if small else {}))
    model = _build(transformers.GPT2LMHeadModel, config)
    return _text_case(model, config.vocab_size, ["input_ids", "attention_mask"], config.n_positions)


def _decoder_only(model_class: type, config: Any) -> ZooCase:
    return _text_case(_build(model_class, config), config.vocab_size, ["input_ids", "attention_mask"],
                      config.max_position_embeddings)


_SMALL_DECODER = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, use_cache=False)


def llama_1b_config() -> Any:
    """A LLaMA-style model of about 1.1B parameters (TinyLlama-1.1B's shape: 22 layers, GQA 32/4)."""
    return transformers.LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                                    num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                                    max_position_embeddings=2048, rms_norm_eps=1e-5, use_cache=False)


def llama(small: bool = True) -> ZooCase:
    """LlamaForCausalLM with grouped-query attention (4 query heads, 2 key/value heads) and RoPE."""
    config = transformers.LlamaConfig(**_SMALL_DECODER) if small else llama_1b_config()
    return _decoder_only(transformers.LlamaForCausalLM, config)


def qwen2(small: bool = True) -> ZooCase:
    """Qwen2ForCausalLM: GQA with biased q/k/v projections and RoPE."""
    config = transformers.Qwen2Config(**_SMALL_DECODER) if small else transformers.Qwen2Config(use_cache=False)
    return _decoder_only(transformers.Qwen2ForCausalLM, config)


def mistral(small: bool = True) -> ZooCase:
    """MistralForCausalLM: GQA, RoPE and a sliding attention window (shorter than the sequence here)."""
    config = (transformers.MistralConfig(sliding_window=6, **_SMALL_DECODER) if small
              else transformers.MistralConfig(use_cache=False))
    return _decoder_only(transformers.MistralForCausalLM, config)


def t5(small: bool = True) -> ZooCase:
    """T5ForConditionalGeneration (t5-small's architecture when full): logits and encoder states."""
    small_config = dict(vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                        num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=16)
    config = transformers.T5Config(use_cache=False, decoder_start_token_id=0, **(small_config if small else {}))
    model = _build(transformers.T5ForConditionalGeneration, config)
    batch, source, target = Dim("batch", min=1, max=64), Dim("source", min=2, max=512), Dim("target", min=2, max=512)
    dims = {"input_ids": {0: batch, 1: source}, "attention_mask": {0: batch, 1: source},
            "decoder_input_ids": {0: batch, 1: target}}

    def inputs(b: int, s: int, t: int) -> dict[str, torch.Tensor]:
        return {"input_ids": _ids(config.vocab_size, b, s), "attention_mask": _mask(b, s),
                "decoder_input_ids": _ids(config.vocab_size, b, t)}

    return ZooCase(model, kwargs=inputs(2, 9, 5), dynamic_shapes=dims, other_kwargs=inputs(3, 6, 7))


def clip_text(small: bool = True) -> ZooCase:
    """CLIPTextModel: causal text transformer, pooled at the end-of-text token."""
    small_config = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, max_position_embeddings=32, bos_token_id=0, eos_token_id=2)
    config = transformers.CLIPTextConfig(**(small_config if small else {}))
    model = _build(transformers.CLIPTextModel, config)
    return _text_case(model, config.vocab_size, ["input_ids", "attention_mask"], config.max_position_embeddings)


# ----------------------------------------------------------------------------- vision, audio
def _batch_only(model: nn.Module, name: str, shape: tuple[int, ...], batches: tuple[int, int] = (2, 3)) -> ZooCase:
    dims = {name: {0: Dim("batch", min=1, max=64)}}
    return ZooCase(model, kwargs={name: torch.randn(batches[0], *shape)}, dynamic_shapes=dims,
                   other_kwargs={name: torch.randn(batches[1], *shape)})


def vit(small: bool = True) -> ZooCase:
    """ViTForImageClassification (vit-base-patch16-224's architecture when full)."""
    small_config = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, num_labels=10)
    config = transformers.ViTConfig(**(small_config if small else {}))
    model = _build(transformers.ViTForImageClassification, config)
    return _batch_only(model, "pixel_values", (config.num_channels, config.image_size, config.image_size))


def clip_vision(small: bool = True) -> ZooCase:
    """CLIPVisionModel: patch embedding with class token, pre-LayerNorm transformer, pooled output."""
    small_config = dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4)
    config = transformers.CLIPVisionConfig(**(small_config if small else {}))
    model = _build(transformers.CLIPVisionModel, config)
    return _batch_only(model, "pixel_values", (config.num_channels, config.image_size, config.image_size))


def whisper_encoder(small: bool = True) -> ZooCase:
    """WhisperEncoder (whisper-tiny's shape when full). The mel length is fixed by the model
    (2 x max_source_positions frames), so only the batch is dynamic."""
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    small_config = dict(num_mel_bins=16, d_model=32, encoder_layers=2, encoder_attention_heads=4,
                        encoder_ffn_dim=64, max_source_positions=16, decoder_layers=2, decoder_attention_heads=4,
                        decoder_ffn_dim=64)
    config = transformers.WhisperConfig(**(small_config if small else {}))
    model = _build(WhisperEncoder, config)
    return _batch_only(model, "input_features", (config.num_mel_bins, 2 * config.max_source_positions))


TRANSFORMERS_ZOO: dict[str, Callable[..., ZooCase]] = {
    "bert": bert,
    "gpt2": gpt2,
    "llama": llama,
    "qwen2": qwen2,
    "mistral": mistral,
    "t5": t5,
    "vit": vit,
    "whisper_encoder": whisper_encoder,
    "clip_text": clip_text,
    "clip_vision": clip_vision,
}
