"""The modules a task exports: a transformers model behind the inputs and outputs ONNX Runtime expects.

Each wrapper has a plain positional forward (torch.export orders the graph inputs by it) and
returns a dict, so the outputs are named by their keys; a cache among the inputs or outputs is
flattened by aten2onnx.exporter.capture.kv_cache into `past_key_values.{i}.key` / `present.{i}.key`.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def cache_argument(model: nn.Module) -> str:
    """The keyword a model takes its cache by: `cache` (transformers 5) or `past_key_values`."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def takes(model: nn.Module, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


def returned_cache(output: Any) -> Any:
    """The cache a ModelOutput carries (`cache` in transformers 5, `past_key_values` before)."""
    found = getattr(output, "cache", None)
    return found if found is not None else getattr(output, "past_key_values", None)


class _Wrapper(nn.Module):
    def __init__(self, model: PreTrainedModel):
        super().__init__()
        self.model = model
        self.cache_argument = cache_argument(model)


class CausalLM(nn.Module):
    """text-generation: (input_ids, attention_mask[, position_ids]) -> logits, no cache."""

    def __init__(self, model: PreTrainedModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits}


class CausalLMWithPositions(CausalLM):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,  # type: ignore[override]
                position_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                     use_cache=False).logits}


class CausalLMWithPast(_Wrapper):
    """text-generation-with-past: (input_ids, attention_mask[, position_ids], past) -> logits, present."""

    def step(self, past: Any, **inputs: torch.Tensor) -> dict[str, Any]:
        output = self.model(**inputs, **{self.cache_argument: past}, use_cache=True)
        return {"logits": output.logits, "present": returned_cache(output)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, past_key_values: Any) -> dict[str, Any]:
        return self.step(past_key_values, input_ids=input_ids, attention_mask=attention_mask)


class CausalLMWithPastAndPositions(CausalLMWithPast):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,  # type: ignore[override]
                position_ids: torch.Tensor, past_key_values: Any) -> dict[str, Any]:
        return self.step(past_key_values, input_ids=input_ids, attention_mask=attention_mask,
                         position_ids=position_ids)


def feature_model(model: PreTrainedModel) -> nn.Module:
    """The module whose hidden states feature-extraction gives: an encoder-decoder model's encoder."""
    return model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else model


class FeatureExtraction(nn.Module):
    """feature-extraction: (input_ids, attention_mask[, token_type_ids]) -> last_hidden_state (of the
    encoder, for an encoder-decoder model, as Optimum exports it)."""

    def __init__(self, model: PreTrainedModel):
        super().__init__()
        self.model = feature_model(model)
        self.extra = {"use_cache": False} if takes(self.model, "use_cache") else {}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, **self.extra)
        return {"last_hidden_state": output.last_hidden_state}


class FeatureExtractionWithTokenTypes(FeatureExtraction):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,  # type: ignore[override]
                token_type_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            **self.extra)
        return {"last_hidden_state": output.last_hidden_state}


def _empty_encoder_decoder_cache() -> Any:
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    return EncoderDecoderCache(DynamicCache(), DynamicCache())


class Seq2SeqEncoder(_Wrapper):
    """The encoder of text2text-generation-with-past: (input_ids, attention_mask) -> last_hidden_state and
    the cross-attention keys and values of every decoder layer (`present.{i}.encoder.key`).

    The decoder computes those keys and values from the encoder's states once, on its first step;
    computing them here lets one decoder graph serve every step, the first included (its own past
    empty). They come from one decoder step on the start token, whose other results are unused
    (and pruned from the graph), so every architecture's own projections make them.
    """

    def __init__(self, model: PreTrainedModel, start_token_id: int):
        super().__init__(model)
        self.start_token_id = start_token_id

    def encode(self, **inputs: torch.Tensor) -> dict[str, Any]:
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        encoder_outputs = self.model.get_encoder()(**inputs)
        batch = next(iter(inputs.values())).shape[0]
        start = torch.full((batch, 1), self.start_token_id, dtype=torch.long, device=encoder_outputs[0].device)
        mask = {"attention_mask": inputs["attention_mask"]} if "attention_mask" in inputs else {}
        output = self.model(encoder_outputs=encoder_outputs, decoder_input_ids=start, **mask,
                            **{self.cache_argument: _empty_encoder_decoder_cache()}, use_cache=True)
        cross = returned_cache(output).cross_attention_cache
        return {"last_hidden_state": encoder_outputs.last_hidden_state,
                "present": EncoderDecoderCache(DynamicCache(), cross)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, Any]:
        return self.encode(input_ids=input_ids, attention_mask=attention_mask)


class SpeechEncoder(Seq2SeqEncoder):
    """The encoder of automatic-speech-recognition-with-past (Whisper): input_features -> the same."""

    def forward(self, input_features: torch.Tensor) -> dict[str, Any]:  # type: ignore[override]
        return self.encode(input_features=input_features)


class Seq2SeqDecoder(_Wrapper):
    """The decoder of text2text-generation-with-past: (input_ids, encoder_attention_mask, past) ->
    logits, present. The past holds the decoder's own keys and values (empty on the first step)
    and the cross-attention ones the encoder model made; present passes the latter through."""

    def __init__(self, model: PreTrainedModel, hidden_size: int):
        super().__init__(model)
        self.hidden_size = hidden_size

    def decode(self, input_ids: torch.Tensor, encoder_attention_mask: torch.Tensor | None,
               past_key_values: Any) -> dict[str, Any]:
        from transformers.modeling_outputs import BaseModelOutput

        # The cross-attention keys and values are in the past: the decoder does not read the encoder's
        # states, but the model wants them; a stand-in of their shape is pruned from the graph.
        cross_keys = past_key_values.cross_attention_cache.layers[0].keys
        stand_in = cross_keys.new_zeros(input_ids.shape[0], cross_keys.shape[2], self.hidden_size)
        mask = {} if encoder_attention_mask is None else {"attention_mask": encoder_attention_mask}
        output = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=stand_in), decoder_input_ids=input_ids,
                            **mask, **{self.cache_argument: past_key_values}, use_cache=True)
        return {"logits": output.logits, "present": returned_cache(output)}

    def forward(self, input_ids: torch.Tensor, encoder_attention_mask: torch.Tensor,
                past_key_values: Any) -> dict[str, Any]:
        return self.decode(input_ids, encoder_attention_mask, past_key_values)


class SpeechDecoder(Seq2SeqDecoder):
    """The decoder of automatic-speech-recognition-with-past: (input_ids, past) -> logits, present
    (Whisper's cross-attention reads every encoder frame: no encoder mask)."""

    def forward(self, input_ids: torch.Tensor, past_key_values: Any) -> dict[str, Any]:  # type: ignore[override]
        return self.decode(input_ids, None, past_key_values)
