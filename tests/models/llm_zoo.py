"""Language models of every family export_hf is proven on, from tiny configs with random weights.

Hidden size 32, 2 layers, a vocabulary of 128: export and generation take seconds. The weights
are drawn wider than transformers' default (initializer_range 0.02 makes the logits nearly flat,
and greedy search then repeats one token whatever the context, so a broken cache would go
unnoticed); the tests check that the generated tokens vary. Sliding windows are shorter than a
generation (4 tokens), so the window is exercised. Import only when transformers is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import transformers

WIDE = 0.3  # std of the random weights (see above)
_DECODER = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=256, initializer_range=WIDE, pad_token_id=0,
                bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)


def llama() -> Any:
    return transformers.LlamaConfig(**_DECODER)


def mistral() -> Any:
    return transformers.MistralConfig(sliding_window=4, **_DECODER)


def qwen2() -> Any:
    return transformers.Qwen2Config(**_DECODER)


def qwen3() -> Any:
    return transformers.Qwen3Config(head_dim=8, **_DECODER)


def phi3() -> Any:
    return transformers.Phi3Config(**_DECODER)


def gemma() -> Any:
    return transformers.GemmaConfig(head_dim=8, **_DECODER)


def gemma2() -> Any:
    """Alternating sliding-window (4 tokens) and full layers, attention and final logit soft-capping."""
    return transformers.Gemma2Config(head_dim=8, sliding_window=4, attn_logit_softcapping=5.0,
                                     final_logit_softcapping=3.0, query_pre_attn_scalar=8, **_DECODER)


def gpt2() -> Any:
    return transformers.GPT2Config(vocab_size=128, n_positions=256, n_embd=32, n_layer=2, n_head=4,
                                   initializer_range=WIDE, bos_token_id=1, eos_token_id=2, pad_token_id=0)


def gpt_neox() -> Any:
    return transformers.GPTNeoXConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, max_position_embeddings=256, initializer_range=WIDE,
                                      bos_token_id=1, eos_token_id=2, pad_token_id=0)


def falcon() -> Any:
    """Falcon's newer architecture (40B/180B): grouped key/value heads, parallel attention and MLP."""
    return transformers.FalconConfig(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     new_decoder_architecture=True, num_kv_heads=2, tie_word_embeddings=False,
                                     initializer_range=WIDE, bos_token_id=1, eos_token_id=2, pad_token_id=0)


def mixtral() -> Any:
    """4 experts, 2 per token: routing, histc and transformers' grouped matmul."""
    return transformers.MixtralConfig(num_local_experts=4, num_experts_per_tok=2, **_DECODER)


def qwen2_moe() -> Any:
    """Qwen2-MoE: 4 routed experts (2 per token) and a gated shared expert."""
    return transformers.Qwen2MoeConfig(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                       shared_expert_intermediate_size=32, **_DECODER)


def olmoe() -> Any:
    """OLMoE: 4 experts, 2 per token, query/key norms."""
    return transformers.OlmoeConfig(num_experts=4, num_experts_per_tok=2, **_DECODER)


def bart() -> Any:
    return transformers.BartConfig(vocab_size=128, d_model=32, encoder_layers=2, decoder_layers=2,
                                   encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                                   decoder_ffn_dim=64, max_position_embeddings=256, init_std=WIDE,
                                   tie_word_embeddings=False,
                                   pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)


def t5() -> Any:
    return transformers.T5Config(vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                                 num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=16,
                                 initializer_factor=15.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)


def whisper() -> Any:
    """Whisper: 16 mel bins, 32 frames (the encoder's fixed length); its decoder generates."""
    return transformers.WhisperConfig(vocab_size=128, num_mel_bins=16, d_model=32, encoder_layers=2,
                                      decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                                      encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=16,
                                      max_target_positions=64, init_std=WIDE, tie_word_embeddings=False,
                                      pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
                                      suppress_tokens=None, begin_suppress_tokens=None)


DECODERS: dict[str, Callable[[], Any]] = {
    "llama": llama, "mistral": mistral, "qwen2": qwen2, "qwen3": qwen3, "phi3": phi3, "gemma": gemma,
    "gemma2": gemma2, "gpt2": gpt2, "gpt_neox": gpt_neox, "falcon": falcon, "mixtral": mixtral,
    "qwen2_moe": qwen2_moe, "olmoe": olmoe,
}
ENCODER_DECODERS: dict[str, Callable[[], Any]] = {"bart": bart, "t5": t5}
SPEECH: dict[str, Callable[[], Any]] = {"whisper": whisper}
