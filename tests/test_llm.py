"""Language models with a KV cache (issue 12): caches in and out of export, export_hf's tasks, and greedy
generation in eager PyTorch against an ONNX Runtime loop that feeds present.* back as past_key_values.*.

Every family (tests/models/llm_zoo.py) generates 16 tokens from a batch of two prompts of different
lengths, left-padded: the ONNX loop starts from an empty past (the same graph as every later step),
the token ids must be identical to `model.generate`'s, and the logits of the first and the last
step must match within float32 tolerance. Whisper generates from two random utterances (its
features have no padding). LLaMA and BART run by default; every family with `-m slow`.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
pytestmark = pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers is not installed")

if HAS_TRANSFORMERS:
    import transformers
    from models import llm_zoo

    import aten2onnx
    from aten2onnx.exporter.api.verify import TOLERANCES
    from aten2onnx.exporter.capture import kv_cache
    from aten2onnx.exporter.tools.hf import HFExportError, export_hf, generate
    from aten2onnx.exporter.tools.hf.verify import greedy_check

NEW_TOKENS = 16
FAST = {"llama", "bart"}  # the default run; the other families with `-m slow`


def _task(name: str) -> str:
    if name in llm_zoo.SPEECH:
        return "automatic-speech-recognition-with-past"
    return "text-generation-with-past" if name in llm_zoo.DECODERS else "text2text-generation-with-past"


def _config(name: str) -> Any:
    return {**llm_zoo.DECODERS, **llm_zoo.ENCODER_DECODERS, **llm_zoo.SPEECH}[name]()


def _checkpoint(tmp_path: Path, name: str) -> Path:
    """A config-only checkpoint folder, as a user would have (random weights when loaded)."""
    folder = tmp_path / name
    _config(name).save_pretrained(folder)
    return folder


def _assert_greedy_equal(check: Any, dtype: torch.dtype = torch.float32) -> None:
    assert check.eager.tokens.shape == (2, NEW_TOKENS)
    assert torch.equal(check.eager.tokens, check.onnx.tokens), "\n".join(
        generate.side_by_side(check.eager, check.onnx))
    # the generation depends on its context (a model repeating one token would hide a broken cache)
    assert all(len(set(row.tolist())) >= 3 for row in check.eager.tokens), check.eager.tokens
    atol, rtol = TOLERANCES[dtype]
    for step in (0, NEW_TOKENS - 1):
        torch.testing.assert_close(check.onnx.step_logits[step].float(), check.eager.step_logits[step].float(),
                                   atol=atol, rtol=rtol, msg=lambda m, s=step: f"logits of step {s}: {m}")


def _families() -> list[Any]:
    names = [*llm_zoo.DECODERS, *llm_zoo.ENCODER_DECODERS, *llm_zoo.SPEECH] if HAS_TRANSFORMERS else []
    return [pytest.param(name, marks=[] if name in FAST else [pytest.mark.slow], id=name) for name in names]


@pytest.mark.parametrize("name", _families())
def test_family_greedy_generation_matches_eager(name: str, tmp_path: Path) -> None:
    result = export_hf(_checkpoint(tmp_path, name), _task(name), tmp_path / "onnx")
    names = {kind: [v.name for v in program.model.graph.inputs] for kind, program in result.programs.items()}
    assert any(n.startswith("past_key_values.0.") for n in names["decoder"])
    document = json.loads(result.config_path.read_text())["model"]
    for kind, path in result.files.items():  # genai_config.json names every file and its main input
        assert document[kind]["filename"] == path.name
        assert document[kind]["inputs"].get("input_ids") or document[kind]["inputs"].get("input_features")
    _assert_greedy_equal(greedy_check(result, NEW_TOKENS))


# -- caches through plain export() ----------------------------------------------------------------
def _tiny_llama() -> Any:
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(llm_zoo.llama()).eval()


def _past(batch: int, length: int) -> Any:
    generator = torch.Generator().manual_seed(length)
    return transformers.DynamicCache([(torch.randn(batch, 2, length, 8, generator=generator),
                                       torch.randn(batch, 2, length, 8, generator=generator)) for _ in range(2)])


@pytest.fixture(scope="module")
def llama_with_cache() -> tuple[Any, Any]:
    """LlamaForCausalLM exported by plain export(): a DynamicCache in, a DynamicCache out."""
    model = _tiny_llama()
    kwargs = {"input_ids": torch.randint(3, 128, (2, 3)), "attention_mask": torch.ones(2, 8, dtype=torch.int64),
              "cache": _past(2, 5)}
    dims = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
            "cache": [{0: "batch_size", 2: "past_sequence_length"}] * 4}
    program = aten2onnx.export(model, (), kwargs=kwargs, dynamic_shapes=dims, verify=True)
    return model, program


def test_dynamic_cache_in_and_out_of_export_is_flattened_and_named(llama_with_cache: tuple[Any, Any]) -> None:
    _, program = llama_with_cache
    graph = program.model.graph
    assert [v.name for v in graph.inputs] == ["input_ids", "attention_mask", "past_key_values.0.key",
                                             "past_key_values.0.value", "past_key_values.1.key",
                                             "past_key_values.1.value"]
    assert [v.name for v in graph.outputs] == ["logits", "present.0.key", "present.0.value", "present.1.key",
                                              "present.1.value"]
    assert [str(d) for d in graph.inputs[2].shape] == ["batch_size", "2", "past_sequence_length", "8"]
    assert all(c.passed for c in program.verification) and len(program.verification) == 5


@pytest.mark.parametrize(("batch", "sequence", "past"), [(1, 1, 0), (2, 4, 0), (1, 1, 1), (3, 1, 7)])
def test_one_graph_runs_any_past_length_including_empty(llama_with_cache: tuple[Any, Any], batch: int,
                                                        sequence: int, past: int) -> None:
    """Exported with a past of 5 tokens, the graph runs an empty past, one new token and a batch of 1."""
    model, program = llama_with_cache
    ids = torch.randint(3, 128, (batch, sequence))
    mask = torch.ones(batch, past + sequence, dtype=torch.int64)
    mask[0, : min(2, past)] = 0  # left padding in the past
    cache = _past(batch, past)
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    feeds.update({f"past_key_values.{i}.{part}": getattr(layer, part + "s").numpy()
                  for i, layer in enumerate(cache.layers) for part in ("key", "value")})
    session = program._session or program.initialize_inference_session()
    logits, *present = session.run(None, feeds)
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, cache=_past(batch, past), use_cache=True)
    np.testing.assert_allclose(logits, expected.logits.numpy(), atol=1e-4, rtol=1e-3)
    assert present[0].shape == (batch, 2, past + sequence, 8)
    np.testing.assert_allclose(present[0], expected.cache.layers[0].keys.numpy(), atol=1e-5)


def test_encoder_decoder_cache_flattens_per_layer_decoder_then_encoder() -> None:
    kv_cache.register()
    own = transformers.DynamicCache([(torch.full((1, 1, 2, 1), 10.0 * i), torch.full((1, 1, 2, 1), 10.0 * i + 1))
                                     for i in range(2)])
    cross = transformers.DynamicCache([(torch.full((1, 1, 3, 1), 10.0 * i + 2), torch.full((1, 1, 3, 1), 10.0 * i + 3))
                                       for i in range(2)])
    cache = transformers.EncoderDecoderCache(own, cross)
    flat, spec = torch.utils._pytree.tree_flatten_with_path({"past_key_values": cache})
    assert [float(leaf[0, 0, 0, 0]) for _, leaf in flat] == [0, 1, 2, 3, 10, 11, 12, 13]
    assert kv_cache.input_names([("x", True)] * 8, [("past_key_values", cache)]) == [
        f"past_key_values.{i}.{side}.{part}" for i in range(2) for side in ("decoder", "encoder")
        for part in ("key", "value")]
    rebuilt = torch.utils._pytree.tree_unflatten([leaf for _, leaf in flat], spec)["past_key_values"]
    assert type(rebuilt) is transformers.EncoderDecoderCache
    assert rebuilt.get_seq_length() == 2 and rebuilt.cross_attention_cache.get_seq_length() == 3
    assert rebuilt.is_updated == {0: True, 1: True}


def test_sliding_window_layers_keep_their_window_after_export() -> None:
    """While exporting, sliding layers hold every token (the mask applies the window); after, as before."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    update = DynamicSlidingWindowLayer.update
    with kv_cache.exporting_caches():
        assert DynamicSlidingWindowLayer.update is DynamicLayer.update
    assert DynamicSlidingWindowLayer.update is update


# -- export_hf: tasks, files, errors ----------------------------------------------------------------
@pytest.fixture(scope="module")
def llama_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("llama"), "llama")


def test_genai_config_describes_the_decoder(llama_checkpoint: Path, tmp_path: Path) -> None:
    result = export_hf(llama_checkpoint / "config.json", "text-generation-with-past", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genai_config.json", "model.onnx"]
    document = json.loads((tmp_path / "genai_config.json").read_text())
    decoder = document["model"]["decoder"]
    assert decoder["filename"] == "model.onnx"
    assert decoder["inputs"] == {"input_ids": "input_ids", "attention_mask": "attention_mask",
                                 "position_ids": "position_ids", "past_key_names": "past_key_values.%d.key",
                                 "past_value_names": "past_key_values.%d.value"}
    assert decoder["outputs"]["present_key_names"] == "present.%d.key"
    assert (decoder["num_hidden_layers"], decoder["num_key_value_heads"], decoder["head_size"]) == (2, 2, 8)
    io = document["aten2onnx"]["io"]["model.onnx"]
    dims = {item["name"]: item["dims"] for item in io["inputs"] + io["outputs"]}
    assert dims["attention_mask"] == ["batch_size", "total_sequence_length"]
    assert dims["past_key_values.1.value"] == ["batch_size", 2, "past_sequence_length", 8]
    assert dims["present.1.value"] == ["batch_size", 2, "total_sequence_length", 8]
    assert dims["logits"] == ["batch_size", "sequence_length", 128]
    model = onnx.load(result.files["decoder"])
    onnx.checker.check_model(model, full_check=True)
    rules = {p.key: p.value for p in model.metadata_props}["aten2onnx.size_rules"]  # by ONNX input names
    assert "past_key_values.0.key.shape[2] = past_sequence_length in [0, inf]" in rules
    assert "attention_mask.shape[1] = total_sequence_length in [0, inf]" in rules  # an empty past, one token


def test_text_generation_and_feature_extraction_tasks(llama_checkpoint: Path, tmp_path: Path) -> None:
    """The tasks without past: one run on a padded batch against eager."""
    ids, mask = generate.left_padded_prompts(128, (5, 3))
    for task, output in (("text-generation", "logits"), ("feature-extraction", "last_hidden_state")):
        result = export_hf(llama_checkpoint, task, tmp_path / task)
        program = result.programs["model"]
        assert [v.name for v in program.model.graph.outputs] == [output]
        assert not any(v.name.startswith("past") for v in program.model.graph.inputs)
        session = generate.session(result.files["model"])
        feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        if "position_ids" in [i.name for i in session.get_inputs()]:
            feeds["position_ids"] = generate.positions(mask).numpy()
        (got,) = session.run(None, feeds)
        with torch.no_grad():
            eager = result.model(**{k: torch.from_numpy(v) for k, v in feeds.items()}, use_cache=False)
        want = getattr(eager, output)
        rows = mask.bool()  # padded positions are not compared (their values are arbitrary)
        np.testing.assert_allclose(got[rows.numpy()], want[rows].numpy(), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("model_type", ["bert", "t5"])
def test_feature_extraction_of_encoders(model_type: str, tmp_path: Path) -> None:
    """BERT (with token_type_ids) and T5 (its encoder, as Optimum exports it): verify compares the
    hidden states of a padded batch."""
    from aten2onnx.exporter.tools.hf.verify import OutputCheck, verify_generation

    config = (transformers.BertConfig(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=64) if model_type == "bert" else llm_zoo.t5())
    config.save_pretrained(tmp_path / model_type)
    result = export_hf(tmp_path / model_type, "feature-extraction", tmp_path / "onnx", verify=False)
    inputs = [v.name for v in result.programs["model"].model.graph.inputs]
    assert inputs == (["input_ids", "attention_mask", "token_type_ids"] if model_type == "bert"
                      else ["input_ids", "attention_mask"])
    check = verify_generation(result)
    assert isinstance(check, OutputCheck)
    name, error, ok = check.name, check.error, check.ok
    assert name == "last_hidden_state" and ok and error < 1e-4


def test_unknown_task_names_the_supported_ones(llama_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(HFExportError, match=r"unknown task 'chat'; supported tasks: text-generation, "
                                            r"text-generation-with-past, text2text-generation-with-past, "
                                            r"automatic-speech-recognition-with-past, feature-extraction"):
        export_hf(llama_checkpoint, "chat", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_model_that_does_not_fit_the_task_names_the_tasks_it_fits(tmp_path: Path) -> None:
    with pytest.raises(HFExportError, match=r"model type 'llama' \(LlamaConfig\) does not fit task "
                                            r"'text2text-generation-with-past'.*tasks that fit 'llama': "
                                            r"text-generation, text-generation-with-past, feature-extraction"):
        export_hf(_checkpoint(tmp_path, "llama"), "text2text-generation-with-past", tmp_path / "out")
    with pytest.raises(HFExportError, match=r"LlamaModel does not fit task 'text-generation-with-past'.*"
                                            r"LlamaForCausalLM"):
        export_hf(transformers.LlamaModel(llm_zoo.llama()), "text-generation-with-past", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unsupported_cache_class_is_named_with_what_is_supported(tmp_path: Path) -> None:
    model = _tiny_llama()
    static = transformers.StaticCache(config=model.config, max_cache_len=16)
    with pytest.raises(kv_cache.UnsupportedCacheError,
                       match=r"cache class StaticCache is not supported .* supported: DynamicCache .*"
                             r"EncoderDecoderCache"):
        aten2onnx.export(model, (), kwargs={"input_ids": torch.randint(3, 128, (2, 3)), "cache": static},
                        f=tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    # refused only while exporting: transformers' own exporters register StaticCache themselves
    assert transformers.StaticCache not in torch.utils._pytree.SUPPORTED_NODES
    mamba = transformers.MambaForCausalLM(transformers.MambaConfig(vocab_size=128, hidden_size=32,
                                                                     num_hidden_layers=2, state_size=4)).eval()
    with pytest.raises(kv_cache.UnsupportedCacheError, match=r"layer 0 of class LinearAttentionLayer"):
        export_hf(mamba, "text-generation-with-past", tmp_path / "out")


# -- dtypes ---------------------------------------------------------------------------------------------
def _float_types(result: Any) -> set[str]:
    """The float dtypes of an exported model's weights, inputs and outputs. A constant of another
    dtype is allowed only where the model itself computes in float32 on purpose: a scalar (the mask's
    -inf, a norm's epsilon) or from a buffer (LLaMA's rotary frequencies, `inv_freq.float()`)."""
    graph = result.programs["decoder"].model.graph
    dtype = {torch.float16: "FLOAT16", torch.bfloat16: "BFLOAT16"}[result.model.dtype]
    buffer_shapes = {tuple(b.shape) for b in result.model.buffers()}
    floats = [v for v in graph.initializers.values() if v.dtype.is_floating_point()]
    assert sum(v.const_value.size for v in floats) >= sum(p.numel() for p in result.model.parameters())
    for value in floats:
        assert value.dtype.name == dtype or tuple(value.shape) in buffer_shapes | {()}, (
            f"{value.name} {value.dtype.name}{list(value.shape)} is neither {dtype} nor a buffer's constant")
    values = [*graph.inputs, *graph.outputs]
    return {v.dtype.name for v in values if v.dtype.is_floating_point()}


def test_float16_keeps_its_dtype_and_generates_as_eager(llama_checkpoint: Path, tmp_path: Path) -> None:
    """float16 rounds differently in torch's and ONNX Runtime's kernels, so where two logits nearly
    tie greedy search may pick differently; the ONNX loop is fed eager's tokens instead (teacher
    forcing) and every step's logits must match, and pick eager's token wherever it leads clearly."""
    result = export_hf(llama_checkpoint, "text-generation-with-past", tmp_path, dtype="float16")
    assert _float_types(result) == {"FLOAT16"}
    ids, mask = generate.left_padded_prompts(128, (5, 3))
    eager = generate.eager_greedy(result.model, ids, mask, NEW_TOKENS)
    onnx_run = generate.onnx_greedy(result.files["decoder"], ids, mask, NEW_TOKENS, follow=eager.tokens)
    clear = 0
    for step, (got, want) in enumerate(zip(onnx_run.step_logits, eager.step_logits)):
        assert got.dtype == torch.float16
        torch.testing.assert_close(got.float(), want.float(), atol=5e-2, rtol=2e-2, msg=lambda m, s=step: f"{s}: {m}")
        top2 = want.float().topk(2, dim=-1).values
        leads = (top2[:, 0] - top2[:, 1]) > 0.1
        assert torch.equal(got.float().argmax(-1)[leads], eager.tokens[leads, step])
        clear += int(leads.sum())
    assert clear >= NEW_TOKENS  # most steps compared a clear choice


def test_bfloat16_keeps_its_dtype_and_loads_in_onnxruntime(llama_checkpoint: Path, tmp_path: Path) -> None:
    """ONNX Runtime's CPU provider has no bfloat16 kernel for most ops (Mul, MatMul, ...): the
    kernel-gap pass computes those in float32 between casts, so the model loads, while its weights,
    inputs and outputs stay bfloat16 (no widened copy of a weight is folded in). Generation is not
    compared: onnxruntime's Python API returns no bfloat16 arrays (tests/test_ops.py compares the
    bfloat16 ops through OrtValues)."""
    result = export_hf(llama_checkpoint, "text-generation-with-past", tmp_path, dtype="bfloat16")
    assert _float_types(result) == {"BFLOAT16"}
    onnx.checker.check_model(onnx.load(result.files["decoder"]), full_check=True)
    decoder = generate.session(result.files["decoder"])
    assert {i.type for i in decoder.get_outputs() if i.name == "logits"} == {"tensor(bfloat16)"}


# -- the command line ---------------------------------------------------------------------------------
def test_cli_export_hf_verifies_generation(llama_checkpoint: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from aten2onnx.exporter.tools.cli import main

    code = main(["export-hf", str(llama_checkpoint / "config.json"), "--task", "text-generation-with-past",
                 "-o", str(tmp_path / "out"), "--opset", "18", "--verify", "--new-tokens", "6"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "out" / "model.onnx").is_file() and (tmp_path / "out" / "genai_config.json").is_file()
    assert "past_key_values.0.key" in captured.out
    eager = [line for line in captured.err.splitlines() if re.search(r"prompt \d: eager ", line)]
    onnx_lines = [line for line in captured.err.splitlines() if re.search(r"prompt \d: onnxruntime ", line)]
    assert len(eager) == len(onnx_lines) == 2 and all(line.endswith("same") for line in onnx_lines)
    assert onnx.load(tmp_path / "out" / "model.onnx").opset_import[0].version == 18


def test_cli_export_hf_errors(llama_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aten2onnx.exporter.tools.cli import main

    assert main(["export-hf", str(llama_checkpoint), "--task", "text2text-generation-with-past",
                 "-o", str(tmp_path / "out")]) == 1
    assert "does not fit task 'text2text-generation-with-past'" in capsys.readouterr().err
    assert main(["export-hf", str(tmp_path / "missing"), "-o", str(tmp_path / "out")]) == 2
    with pytest.raises(SystemExit):
        main(["export-hf", str(llama_checkpoint), "--task", "chat"])
    assert not (tmp_path / "out").exists()
