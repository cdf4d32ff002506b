"""Fake-mode export, weights applied afterwards, and saved models that point into the checkpoint.

Every saved model is loaded by ONNX Runtime from its file and compared with eager PyTorch run with
the real weights; the external data of weights used as stored is checked byte for byte against the
checkpoint file it points into.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from safetensors.torch import save_file

import aten2onnx
from aten2onnx import CheckpointMismatchError, ExportArgumentError, WeightsNotAppliedError
from aten2onnx.exporter.write.weight_sources import DerivedTensor


class TiedLM(torch.nn.Module):
    """An embedding, Linears (Gemm on the weight as stored), a LayerNorm, a head tied to the embedding,
    a gain whose exp is folded at export (so computed from the checkpoint and written when saving)
    and a non-persistent buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(40, 128)
        self.up = torch.nn.Linear(128, 96)
        self.norm = torch.nn.LayerNorm(96)
        self.down = torch.nn.Linear(96, 128, bias=False)
        self.head = torch.nn.Linear(128, 40, bias=False)
        self.head.weight = self.embed.weight
        self.log_gain = torch.nn.Parameter(torch.zeros(40))
        self.register_buffer("temperature", torch.linspace(0.5, 1.5, 40), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden = self.down(torch.relu(self.norm(self.up(self.embed(ids)))))
        return self.head(hidden) * self.temperature * torch.exp(self.log_gain)


IDS = torch.tensor([[1, 5, 9, 30], [2, 2, 39, 0]])


def _real() -> TiedLM:
    torch.manual_seed(0)
    model = TiedLM().eval()
    with torch.no_grad():  # default ones/zeros would hide a weight applied wrongly
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.uniform_(-0.5, 0.5)
        model.log_gain.uniform_(-0.5, 0.5)
    return model


def _fake() -> TiedLM:
    with aten2onnx.enable_fake_mode():
        return TiedLM().eval()


def _saved_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as transformers saves it: the tied head left out."""
    return {k: v.contiguous() for k, v in model.state_dict().items() if k != "head.weight"}


def _ort(path: Path, ids: torch.Tensor = IDS) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: ids.numpy()})
    return out


def _assert_matches_eager(path: Path, model: torch.nn.Module) -> None:
    expected = model(IDS).detach().numpy()
    np.testing.assert_allclose(_ort(path), expected, atol=1e-5, rtol=1e-5)


def _external(path: Path) -> dict[str, dict[str, str]]:
    model = onnx.load(str(path), load_external_data=False)
    return {t.name: {e.key: e.value for e in t.external_data} for t in model.graph.initializer}


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _write_sharded(folder: Path, state: dict[str, torch.Tensor]) -> None:
    """Two safetensors shards and their index, as transformers' save_pretrained lays them out."""
    names = sorted(state)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for file, keys in shards.items():
        save_file({k: state[k] for k in keys}, str(folder / file), metadata={"format": "pt"})
    index = {"metadata": {"total_size": sum(t.nbytes for t in state.values())},
             "weight_map": {k: file for file, keys in shards.items() for k in keys}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


def test_fake_parameters_take_no_memory_and_export_as_placeholders(tmp_path: Path) -> None:
    model = _fake()
    assert all(isinstance(p, torch._subclasses.fake_tensor.FakeTensor) for p in model.parameters())
    assert model.embed.weight is model.head.weight  # ties survive
    assert not isinstance(model.temperature, torch._subclasses.fake_tensor.FakeTensor)  # buffers stay real
    program = aten2onnx.export(model, (IDS,))
    initializers = program.model.graph.initializers
    assert initializers["up.weight"].shape == onnx_ir_shape([96, 128])
    assert str(initializers["head.weight"].dtype) == "FLOAT"
    with pytest.raises(WeightsNotAppliedError, match="up.weight"):
        program.save(tmp_path / "m.onnx")
    with pytest.raises(WeightsNotAppliedError):
        program(IDS)
    assert _files(tmp_path) == []  # nothing written, not even a partial file


def onnx_ir_shape(dims: list[int]) -> object:
    import onnx_ir as ir

    return ir.Shape(dims)


def test_fake_model_cannot_be_written_or_verified_by_export(tmp_path: Path) -> None:
    with pytest.raises(ExportArgumentError, match="apply_weights"):
        aten2onnx.export(_fake(), (IDS,), tmp_path / "m.onnx")
    with pytest.raises(ExportArgumentError, match="verify"):
        aten2onnx.export(_fake(), (IDS,), verify=True)
    assert _files(tmp_path) == []


def test_graph_without_weights_is_saved_when_asked(tmp_path: Path) -> None:
    program = aten2onnx.export(_fake(), (IDS,))
    program.save(tmp_path / "graph.onnx", include_initializers=False, keep_initializers_as_inputs=True)
    graph = onnx.load(str(tmp_path / "graph.onnx")).graph
    assert not graph.initializer and {"up.weight", "head.weight"} <= {i.name for i in graph.input}
    # the initializers are back for the next save
    assert "up.weight" in program.model.graph.initializers and len(program.model.graph.inputs) == 1


def test_weights_from_a_state_dict(tmp_path: Path) -> None:
    real = _real()
    program = aten2onnx.export(_fake(), (IDS,))
    program.apply_weights(_saved_state(real))
    torch.testing.assert_close(program(IDS)[0], real(IDS).detach(), atol=1e-5, rtol=1e-5)
    program.save(tmp_path / "m.onnx")
    _assert_matches_eager(tmp_path / "m.onnx", real)
    assert program.saved_weights.referenced_bytes == 0  # tensors in memory: written


def _assert_points_into(model_path: Path, program: aten2onnx.ONNXProgram, state: dict[str, torch.Tensor],
                        used_as_stored: list[str]) -> None:
    """Each weight used as stored is an external-data range of a checkpoint file holding its bytes."""
    external = _external(model_path)
    for name in used_as_stored:
        entry = external[name]
        assert entry["location"].endswith((".safetensors", ".bin")), entry
        with open(model_path.parent / entry["location"], "rb") as file:
            file.seek(int(entry["offset"]))
            stored = file.read(int(entry["length"]))
        assert stored == _state_of(state, name).numpy().tobytes(), name
    assert program.saved_weights.referenced_bytes == sum(_state_of(state, n).nbytes for n in used_as_stored)


def _state_of(state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return state["embed.weight"] if name == "head.weight" else state[name]  # the checkpoint holds one of the pair


# torch.export names the tied pair's tensor head.weight (the Gather reads it); the checkpoint has embed.weight
AS_STORED = ["head.weight", "up.weight", "up.bias", "norm.weight", "norm.bias", "down.weight"]


@pytest.mark.parametrize("form", ["safetensors", "sharded", "torch.save"])
def test_weights_from_a_checkpoint_file_are_referenced_not_copied(tmp_path: Path, form: str) -> None:
    real = _real()
    state = _saved_state(real)
    checkpoint = {"safetensors": tmp_path / "model.safetensors", "sharded": tmp_path,
                  "torch.save": tmp_path / "pytorch_model.bin"}[form]
    if form == "safetensors":
        save_file(state, str(checkpoint))
    elif form == "sharded":
        _write_sharded(tmp_path, state)
    else:
        torch.save(state, checkpoint)
    program = aten2onnx.export(_fake(), (IDS,))
    program.apply_weights(checkpoint)
    program.save(tmp_path / "model.onnx")
    _assert_matches_eager(tmp_path / "model.onnx", real)
    _assert_points_into(tmp_path / "model.onnx", program, state, AS_STORED)
    external = _external(tmp_path / "model.onnx")
    # the transformed weight (exp of the gain, folded at export) and the buffer went to the model's own file
    assert external["exp"]["location"] == "model.onnx.data"
    assert external["temperature"]["location"] == "model.onnx.data"
    assert program.saved_weights.computed_bytes == 40 * 4
    assert os.path.getsize(tmp_path / "model.onnx.data") == 40 * 4 + 40 * 4


def test_saved_outside_the_checkpoint_folder_the_weights_are_copied_and_said_why(tmp_path: Path) -> None:
    real = _real()
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "out").mkdir()
    save_file(_saved_state(real), str(tmp_path / "ckpt" / "model.safetensors"))
    program = aten2onnx.export(_fake(), (IDS,))
    program.apply_weights(tmp_path / "ckpt")
    program.save(tmp_path / "out" / "model.onnx")
    _assert_matches_eager(tmp_path / "out" / "model.onnx", real)
    assert program.saved_weights.referenced_bytes == 0
    copied = {name: why for name, _, why in program.saved_weights.copied}
    assert set(copied) >= set(AS_STORED) and "outside the model's folder" in copied["up.weight"]
    # and copy_weights=True copies even where referencing would work
    program.save(tmp_path / "ckpt" / "model.onnx", external_data=True, copy_weights=True)
    assert all(e["location"] == "model.onnx.data" for e in _external(tmp_path / "ckpt" / "model.onnx").values())
    _assert_matches_eager(tmp_path / "ckpt" / "model.onnx", real)


def test_a_mismatched_checkpoint_is_one_error_listing_every_problem(tmp_path: Path) -> None:
    state = _saved_state(_real())
    state.pop("norm.bias")                                   # missing
    state["up.weight"] = state["up.weight"][:, :64].contiguous()   # wrong shape
    state["norm.weight"] = state["norm.weight"].double()     # wrong dtype
    state["extra.weight"] = torch.zeros(3)                   # not in the model
    save_file(state, str(tmp_path / "model.safetensors"))
    program = aten2onnx.export(_fake(), (IDS,))
    with pytest.raises(CheckpointMismatchError) as caught:
        program.apply_weights(tmp_path / "model.safetensors")
    message = str(caught.value)
    for expected in ("norm.bias (parameter, float32 [96])", "up.weight: the checkpoint has float32 [96, 64]",
                     "model float32 [96, 128]", "norm.weight: the checkpoint has float64 [96]",
                     "extra.weight (float32 [3], in model.safetensors)", "4 mismatch(es)"):
        assert expected in message, message
    assert len(caught.value.missing) == 1 and len(caught.value.mismatched) == 2 and len(caught.value.unexpected) == 1
    with pytest.raises(WeightsNotAppliedError):  # nothing was applied
        program.save(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_strict_false_keeps_weights_left_out_but_not_missing_data(tmp_path: Path) -> None:
    real, other = _real(), TiedLM().eval()
    program = aten2onnx.export(real, (IDS,))                 # a real export: every weight has data
    partial = {"up.weight": other.up.weight.detach(), "unknown": torch.zeros(1)}
    program.apply_weights(partial, strict=False)
    with torch.no_grad():
        real.up.weight.copy_(other.up.weight)
    torch.testing.assert_close(program(IDS)[0], real(IDS).detach(), atol=1e-5, rtol=1e-5)
    fake = aten2onnx.export(_fake(), (IDS,))
    with pytest.raises(CheckpointMismatchError, match="missing from the checkpoint"):
        fake.apply_weights(partial, strict=False)            # fake weights left out would have no data


def test_new_weights_reach_initializers_folded_at_export(tmp_path: Path) -> None:
    """A real export applied another model's weights: the folded exp is computed from them."""
    first, second = _real(), TiedLM().eval()
    program = aten2onnx.export(first, (IDS,))
    folded = program.model.graph.initializers["exp"].const_value
    assert isinstance(folded, DerivedTensor) and folded.recipe.describe() == "Exp(log_gain)"
    program.apply_weights(_saved_state(second))
    program.save(tmp_path / "m.onnx")
    _assert_matches_eager(tmp_path / "m.onnx", second)


def test_fake_and_real_exports_make_the_same_graph() -> None:
    real = aten2onnx.export(_real(), (IDS,))
    fake = aten2onnx.export(_fake(), (IDS,))
    assert [n.op_type for n in real.model.graph] == [n.op_type for n in fake.model.graph]
    assert list(real.model.graph.initializers) == list(fake.model.graph.initializers)


def test_meta_device_models_export_and_take_their_weights(tmp_path: Path) -> None:
    real = _real()
    with torch.device("meta"):
        model = TiedLM().eval()
    for inputs in (IDS, IDS.to("meta")):  # real or meta example inputs
        program = aten2onnx.export(model, (inputs,))
        assert all(p.device.type == "meta" for p in model.parameters())  # the model is left as it was
        with pytest.raises(CheckpointMismatchError, match="temperature .*non-persistent buffer"):
            program.apply_weights(_saved_state(real))       # a meta buffer is in no checkpoint
        program.apply_weights({**_saved_state(real), "temperature": real.temperature})
        program.save(tmp_path / "m.onnx")
        _assert_matches_eager(tmp_path / "m.onnx", real)


def test_parameters_on_meta_and_buffers_real(tmp_path: Path) -> None:
    """As accelerate's init_empty_weights leaves a model: parameters on meta, buffers on the CPU."""
    real = _real()
    model = TiedLM().eval()
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None:
                module._parameters[name] = torch.nn.Parameter(param.to("meta"), requires_grad=False)
    model.head.weight = model.embed.weight
    save_file(_saved_state(real), str(tmp_path / "model.safetensors"))
    program = aten2onnx.export(model, (IDS,))
    program.apply_weights(tmp_path / "model.safetensors")
    program.save(tmp_path / "model.onnx")
    _assert_matches_eager(tmp_path / "model.onnx", real)


def test_a_checkpoint_changed_after_apply_is_refused(tmp_path: Path) -> None:
    real = _real()
    save_file(_saved_state(real), str(tmp_path / "model.safetensors"))
    program = aten2onnx.export(_fake(), (IDS,))
    program.apply_weights(tmp_path / "model.safetensors")
    save_file(_saved_state(TiedLM()), str(tmp_path / "model.safetensors"))
    with pytest.raises(aten2onnx.OnnxExporterError, match="changed since apply_weights"):
        program.save(tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


class Scaled(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.gain = torch.nn.Parameter(torch.tensor(0.0))  # zero at init: a rule must not bake that in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * (self.gain + 1.0)


def test_optimize_never_bakes_in_the_values_weights_have_at_export() -> None:
    x = torch.randn(2, 4)
    torch.manual_seed(1)
    trained = Scaled().eval()
    with torch.no_grad():
        trained.gain.fill_(2.5)
        trained.fc.bias.fill_(0.25)
    with aten2onnx.enable_fake_mode():
        fake = Scaled().eval()
    for program in (aten2onnx.export(Scaled().eval(), (x,), optimize=True), aten2onnx.export(fake, (x,), optimize=True)):
        program.apply_weights(trained.state_dict())
        torch.testing.assert_close(program(x)[0], trained(x).detach(), atol=1e-6, rtol=1e-6)


def test_cli_exports_in_fake_mode_with_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aten2onnx.exporter.tools.cli import main

    real = _real()
    _write_sharded(tmp_path, _saved_state(real))
    factory = tmp_path / "factory.py"
    tests = str(Path(__file__).parent)
    factory.write_text(f"import sys\nsys.path.insert(0, {tests!r})\nfrom test_fake_mode import TiedLM, IDS\n\n"
                       "def make():\n    return TiedLM().eval(), (IDS,)\n")
    code = main(["export", f"{factory}:make", "--fake", "--weights", str(tmp_path), "-o", str(tmp_path / "m.onnx")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "referenced in 2 checkpoint file(s)" in captured.out and "in fake mode" in captured.err
    _assert_matches_eager(tmp_path / "m.onnx", real)
    code = main(["export", f"{factory}:make", "--fake", "-o", str(tmp_path / "n.onnx")])
    assert code == 2 and "--fake builds the model without weights" in capsys.readouterr().err


def test_save_progress_reports_bytes_and_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from aten2onnx.exporter import progress

    stream = io.StringIO()
    monkeypatch.setattr(progress, "METER_MIN_BYTES", 0)
    monkeypatch.setattr(progress.Meter, "__init__", _eager_meter(progress.Meter.__init__))
    progress.enable(stream)
    try:
        program = aten2onnx.export(_real(), (IDS,))
        program.save(tmp_path / "m.onnx", external_data=True)
    finally:
        progress.disable()
    lines = stream.getvalue().splitlines()
    assert any(" of " in line and "/s)" in line for line in lines), lines
    assert lines[-1].startswith("aten2onnx: writing m.onnx: ") and " in " in lines[-1], lines


def _eager_meter(init: object) -> object:
    def eager(self: object, label: str, total: int, stream: object, every: float = 2.0) -> None:
        init(self, label, total, stream, every=0.0)  # type: ignore[operator]
    return eager


def test_transformers_checkpoint_folder_from_save_pretrained(tmp_path: Path) -> None:
    """A LLaMA-style model saved by transformers (sharded safetensors, index, tied head left out),
    exported in fake mode from its config: the saved model points into the shards."""
    transformers = pytest.importorskip("transformers")
    from models.transformers_zoo import _SMALL_DECODER

    config = transformers.LlamaConfig(**{**_SMALL_DECODER, "tie_word_embeddings": True})
    torch.manual_seed(0)
    real = transformers.LlamaForCausalLM(config).eval()
    real.save_pretrained(tmp_path, max_shard_size="40KB", safe_serialization=True)
    assert (tmp_path / "model.safetensors.index.json").is_file()
    with aten2onnx.enable_fake_mode():
        fake = transformers.LlamaForCausalLM(config).eval()
    inputs = {"input_ids": torch.randint(0, config.vocab_size, (2, 6)), "attention_mask": torch.ones(2, 6, dtype=torch.int64)}
    program = aten2onnx.export(fake, (), kwargs=inputs)
    program.apply_weights(tmp_path)
    program.save(tmp_path / "model.onnx")
    locations = {e.get("location") for e in _external(tmp_path / "model.onnx").values()}
    assert any(location.startswith("model-0000") for location in locations), locations
    # every parameter is used as stored (Linears as Gemm); only what comes of the rotary frequencies is written
    assert program.saved_weights.copied == []
    assert program.saved_weights.referenced_bytes == sum(p.nbytes for p in real.parameters())
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits, *_) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    np.testing.assert_allclose(logits, real(**inputs).logits.detach().numpy(), atol=1e-4, rtol=1e-4)


class Gain(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain


def _unaligned_safetensors(path: Path, gain: torch.Tensor) -> None:
    """A safetensors file whose float32 tensor starts 2 bytes into the data: its offset splits an element
    (safetensors' own writer never does this; a hand-made or foreign file can)."""
    header = {"pad": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
              "gain": {"dtype": "F32", "shape": [4], "data_offsets": [2, 18]}}
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"\x00\x00" + gain.numpy().tobytes())


def test_weights_that_cannot_be_referenced_are_copied_with_the_reason(tmp_path: Path) -> None:
    gain = torch.tensor([1.5, -2.0, 0.25, 3.0])
    x = torch.randn(2, 4)
    with aten2onnx.enable_fake_mode():
        model = Gain()
    _unaligned_safetensors(tmp_path / "odd.safetensors", gain)
    program = aten2onnx.export(model, (x,))
    program.apply_weights(tmp_path / "odd.safetensors", strict=False)
    program.save(tmp_path / "m.onnx", external_data=True)
    assert [(n, why) for n, _, why in program.saved_weights.copied] == [
        ("gain", "its offset in the checkpoint splits an element")]
    torch.testing.assert_close(torch.from_numpy(_ort_run(tmp_path / "m.onnx", x)), x * gain)

    save_file({"gain": gain}, str(tmp_path / "linked.safetensors"))
    os.link(tmp_path / "linked.safetensors", tmp_path / "second_link.safetensors")
    program.apply_weights(tmp_path / "linked.safetensors")
    program.save(tmp_path / "m.onnx", external_data=True)
    assert "several hard links" in program.saved_weights.copied[0][2]
    torch.testing.assert_close(torch.from_numpy(_ort_run(tmp_path / "m.onnx", x)), x * gain)


def _ort_run(path: Path, x: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
