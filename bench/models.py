"""The benchmark's models, random weights: full published configs, or small ones with --quick.

Inputs are built without the model (the latency process only needs them), from a fixed seed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))  # the zoo's model definitions live in tests/models


@dataclass(frozen=True)
class BenchModel:
    name: str
    title: str        # the full configuration
    shape: str        # its example input
    quick_title: str  # the small configuration --quick uses (from the test zoo)
    quick_shape: str


MODELS: dict[str, BenchModel] = {
    "resnet50": BenchModel("resnet50", "ResNet-50", "1x3x224x224", "ResNet-50 at width/8", "1x3x64x64"),
    "bert": BenchModel("bert", "BERT-base", "1x128 tokens", "BERT, 2 layers of 32", "1x16 tokens"),
    "gpt2": BenchModel("gpt2", "GPT-2", "1x128 tokens", "GPT-2, 2 layers of 32", "1x16 tokens"),
    "llama": BenchModel("llama", "LLaMA-style 1.1B", "TinyLlama's shape, GQA 32/4, 1x128 tokens",
                        "LLaMA, 2 layers of 32", "GQA 4/2, 1x16 tokens"),
    "llama-past": BenchModel("llama-past", "LLaMA-style 1.1B decoding with a KV cache",
                             "1 new token after 128 cached, DynamicCache in and out; latency per token",
                             "LLaMA with a KV cache, 2 layers of 32",
                             "1 new token after 16 cached; latency per token"),
}
WITH_PAST = {"llama-past"}  # models called with a transformers DynamicCache (aten2onnx.exporter.capture.kv_cache flattens it)

SEQUENCE = {False: 128, True: 16}


def build(name: str, quick: bool) -> torch.nn.Module:
    """The model in eval mode with random weights (seeded)."""
    torch.manual_seed(0)
    if name == "resnet50":
        from models.classic import resnet50

        return (resnet50(num_classes=10, width=0.125) if quick else resnet50()).eval()
    from models import transformers_zoo as zoo

    factory = {"bert": zoo.bert, "gpt2": zoo.gpt2, "llama": zoo.llama, "llama-past": zoo.llama}[name]
    model = factory(small=quick).model
    if name in WITH_PAST:
        model.config.use_cache = True  # returns the grown cache (present.*) beside the logits
    return model


def _cache_shape(quick: bool) -> tuple[int, int, int]:
    """(layers, key/value heads, head size) of the LLaMA-style model."""
    return (2, 2, 8) if quick else (22, 4, 64)


def vocab_size(model_name: str, quick: bool) -> int:
    return 128 if quick else {"bert": 30522, "gpt2": 50257, "llama": 32000, "llama-past": 32000}[model_name]


def inputs(name: str, quick: bool) -> dict[str, torch.Tensor]:
    """Example inputs by name, in the model's forward order."""
    generator = torch.Generator().manual_seed(1)
    if name == "resnet50":
        size = 64 if quick else 224
        return {"x": torch.randn(1, 3, size, size, generator=generator)}
    seq = SEQUENCE[quick]
    if name in WITH_PAST:  # one decoding step: a new token after `seq` cached ones
        layers, heads, head_size = _cache_shape(quick)
        feeds = {"input_ids": torch.randint(0, vocab_size(name, quick), (1, 1), generator=generator),
                 "attention_mask": torch.ones(1, seq + 1, dtype=torch.int64),
                 "position_ids": torch.tensor([[seq]])}
        for layer in range(layers):
            for part in ("key", "value"):
                feeds[f"past_key_values.{layer}.{part}"] = torch.randn(1, heads, seq, head_size, generator=generator)
        return feeds
    return {"input_ids": torch.randint(0, vocab_size(name, quick), (1, seq), generator=generator),
            "attention_mask": torch.ones(1, seq, dtype=torch.int64)}


def call_arguments(name: str, quick: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(args, kwargs) for export: the CNN takes a positional image, transformers take keywords."""
    feeds = inputs(name, quick)
    if name == "resnet50":
        return tuple(feeds.values()), {}
    if name in WITH_PAST:
        from transformers import DynamicCache

        layers = _cache_shape(quick)[0]
        cache = DynamicCache([(feeds[f"past_key_values.{i}.key"], feeds[f"past_key_values.{i}.value"])
                              for i in range(layers)])
        return (), {k: v for k, v in feeds.items() if not k.startswith("past_key_values.")} | {"cache": cache}
    return (), feeds


def has_cache(kwargs: dict[str, Any]) -> bool:
    return any(type(value).__name__.endswith("Cache") for value in kwargs.values())
