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
}

SEQUENCE = {False: 128, True: 16}


def build(name: str, quick: bool) -> torch.nn.Module:
    """The model in eval mode with random weights (seeded)."""
    torch.manual_seed(0)
    if name == "resnet50":
        from models.classic import resnet50

        return (resnet50(num_classes=10, width=0.125) if quick else resnet50()).eval()
    from models import transformers_zoo as zoo

    factory = {"bert": zoo.bert, "gpt2": zoo.gpt2, "llama": zoo.llama}[name]
    return factory(small=quick).model


def vocab_size(model_name: str, quick: bool) -> int:
    return 128 if quick else {"bert": 30522, "gpt2": 50257, "llama": 32000}[model_name]


def inputs(name: str, quick: bool) -> dict[str, torch.Tensor]:
    """Example inputs by name, in the model's forward order."""
    generator = torch.Generator().manual_seed(1)
    if name == "resnet50":
        size = 64 if quick else 224
        return {"x": torch.randn(1, 3, size, size, generator=generator)}
    seq = SEQUENCE[quick]
    return {"input_ids": torch.randint(0, vocab_size(name, quick), (1, seq), generator=generator),
            "attention_mask": torch.ones(1, seq, dtype=torch.int64)}


def call_arguments(name: str, quick: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(args, kwargs) for export: the CNN takes a positional image, transformers take keywords."""
    feeds = inputs(name, quick)
    if name == "resnet50":
        return tuple(feeds.values()), {}
    return (), feeds
