"""export_hf(verify=True): greedy generation in eager PyTorch and in ONNX Runtime, compared.

Two prompts of different lengths, left-padded into one batch, generate the same number of new
tokens both ways (aten2onnx.exporter.tools.hf.generate). The token ids must be identical; the logits of the first
step (the prompt, empty past) and of the last step (one token, a long past) must match within
the dtype's tolerance. Features without generation (feature-extraction, text-generation without
past) compare the outputs of one run on the same batch.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any

import torch

from aten2onnx.exporter.api.verify import TOLERANCES
from aten2onnx.exporter.errors import VerificationError
from aten2onnx.exporter.tools.hf import generate, wrappers
from aten2onnx.exporter.tools.hf.tasks import decoder_start_token, speech_features

PROMPT_LENGTHS = (5, 3)


@dataclass(frozen=True)
class GreedyCheck:
    eager: generate.Generation
    onnx: generate.Generation
    logit_errors: tuple[float, ...]   # max abs error of the first and the last step's logits
    tolerance: tuple[float, float]    # (atol, rtol)

    @property
    def same_tokens(self) -> bool:
        return torch.equal(self.eager.tokens, self.onnx.tokens)


def _logit_error(want: torch.Tensor, got: torch.Tensor, atol: float, rtol: float) -> tuple[float, bool]:
    want, got = want.double(), got.double()
    diff = (want - got).abs()
    return float(diff.max()), bool((diff <= atol + rtol * want.abs()).all())


def greedy_check(result: Any, new_tokens: int, prompt_lengths: tuple[int, ...] = PROMPT_LENGTHS,
                 seed: int = 0) -> GreedyCheck:
    """Generate both ways from a left-padded batch of prompts; nothing raised, just the numbers."""
    model = result.model
    vocab = model.config.get_text_config(decoder=True).vocab_size
    input_ids, attention_mask = generate.left_padded_prompts(min(vocab, 1000), prompt_lengths, seed)
    if result.task == "automatic-speech-recognition-with-past":  # two random utterances
        features = speech_features(model, len(prompt_lengths), seed)
        eager = generate.eager_greedy(model, None, None, new_tokens, input_features=features)
        onnx = generate.onnx_seq2seq_greedy(result.files["encoder"], result.files["decoder"],
                                            {"input_features": features}, decoder_start_token(model), new_tokens)
    elif result.task == "text2text-generation-with-past":
        eager = generate.eager_greedy(model, input_ids, attention_mask, new_tokens)
        onnx = generate.onnx_seq2seq_greedy(result.files["encoder"], result.files["decoder"],
                                            {"input_ids": input_ids, "attention_mask": attention_mask},
                                            decoder_start_token(model), new_tokens)
    else:
        eager = generate.eager_greedy(model, input_ids, attention_mask, new_tokens)
        onnx = generate.onnx_greedy(result.files["decoder"], input_ids, attention_mask, new_tokens)
    atol, rtol = TOLERANCES[model.dtype]
    errors = tuple(_logit_error(eager.step_logits[i], onnx.step_logits[i], atol, rtol)[0] for i in (0, -1))
    return GreedyCheck(eager, onnx, errors, (atol, rtol))


def _echo(lines: list[str], echo: bool) -> None:
    if echo:
        for line in lines:
            print(f"aten2onnx: {line}", file=sys.stderr)


@dataclass(frozen=True)
class OutputCheck:
    """A model output compared between eager PyTorch and ONNX Runtime at the real tokens."""
    name: str
    error: float      # max abs error
    relative: float   # max relative error
    ok: bool          # within the dtype's tolerance


def output_check(result: Any) -> OutputCheck:
    """A task without generation: its output on a left-padded batch of prompts, eager against ONNX
    Runtime at the real tokens (padded positions hold arbitrary values)."""
    model = result.model
    vocab = model.config.get_text_config(decoder=True).vocab_size
    input_ids, attention_mask = generate.left_padded_prompts(min(vocab, 1000), PROMPT_LENGTHS)
    session = generate.session(result.files["model"])
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    names = [item.name for item in session.get_inputs()]
    if "position_ids" in names:
        inputs["position_ids"] = generate.positions(attention_mask)
    if "token_type_ids" in names:
        inputs["token_type_ids"] = torch.zeros_like(input_ids)
    name = session.get_outputs()[0].name
    (got,) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    module = wrappers.feature_model(model) if result.task == "feature-extraction" else model
    extra = {"use_cache": False} if "use_cache" in inspect.signature(module.forward).parameters else {}
    with torch.no_grad():
        want = getattr(module(**inputs, **extra), name)
    real = attention_mask.bool()
    got_real, want_real = generate._to_torch(got)[real].double(), want[real].double()
    atol, rtol = TOLERANCES[model.dtype]
    diff = (got_real - want_real).abs()
    relative = float((diff / want_real.abs().clamp_min(atol)).max())
    return OutputCheck(name, float(diff.max()), relative, bool((diff <= atol + rtol * want_real.abs()).all()))


def verify_generation(result: Any, new_tokens: int = 8, echo: bool = False) -> GreedyCheck | OutputCheck:
    """greedy_check, printed side by side; VerificationError unless the tokens are identical. A task
    without generation compares its output instead (output_check)."""
    if not result.task.endswith("-with-past"):
        check_output = output_check(result)
        name, error, relative, ok = check_output.name, check_output.error, check_output.relative, check_output.ok
        _echo([f"{name} on {len(PROMPT_LENGTHS)} left-padded prompts of {' and '.join(map(str, PROMPT_LENGTHS))} "
               f"tokens: max abs error {error:.3g}, max rel error {relative:.3g} "
               + ("ok" if ok else "MISMATCH")], echo)
        if not ok:
            raise VerificationError(f"{name} differs between eager PyTorch and ONNX Runtime beyond tolerance "
                                    f"(max abs error {error:.3g})", [])
        return check_output
    check = greedy_check(result, new_tokens)
    given = ("2 random utterances" if result.task == "automatic-speech-recognition-with-past" else
             f"{len(PROMPT_LENGTHS)} prompts of {' and '.join(map(str, PROMPT_LENGTHS))} tokens, left-padded")
    lines = [f"greedy generation of {new_tokens} tokens from {given} in one batch; ONNX Runtime feeds "
             "present.* back as past_key_values.*, starting from an empty past"]
    lines += generate.side_by_side(check.eager, check.onnx)
    lines.append(f"logits max abs error: first step {check.logit_errors[0]:.3g}, last step "
                 f"{check.logit_errors[1]:.3g} (atol {check.tolerance[0]:g}, rtol {check.tolerance[1]:g})")
    _echo(lines, echo)
    if not check.same_tokens:
        raise VerificationError("greedy generation differs between eager PyTorch and ONNX Runtime:\n"
                                + "\n".join(lines), [])
    return check
