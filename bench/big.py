"""Big models exported in fake mode, saved pointing into their checkpoint; ONNX Runtime runs one step.

    python -m bench.big write --model llama7b --cache DIR [--quick]       # the checkpoint, once (kept)
    python -m bench.big export --model llama7b --tool aten2onnx --checkpoint DIR --onnx PATH --out JSON
    python -m bench.big ort --model llama7b --checkpoint DIR --onnx PATH --out JSON

Each command runs in a fresh process (bench.run starts them). The checkpoint is the model's random
weights as transformers lays them out (sharded safetensors of at most 2 GB, their index and
config.json), written once into the cache folder and reused while its fingerprint matches.
`export` builds the model without weights and exports it: aten2onnx with aten2onnx.enable_fake_mode,
then apply_weights(checkpoint folder) and save beside the checkpoint; torch.onnx with the
FakeTensorMode its enable_fake_mode used (torch 2.13 no longer has the function), then its
apply_weights with the checkpoint's tensors (memory-mapped by safetensors) and save. Times: building
the model, the export call, applying and saving; peak RSS over all of them (ru_maxrss, reset
after importing the libraries). `ort` loads the aten2onnx model in ONNX Runtime and runs one
forward step on an 8-token prompt; for a float32 model it also compares the logits with eager
transformers loaded from the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.measure import _peak_rss_mb, _reset_peak_rss, _rss_now_mb, preimport

SHARD_BYTES = 2 * 10**9
PROMPT = 8
FORMAT = 1  # bump when the checkpoint's layout or values change


@dataclass(frozen=True)
class BigModel:
    name: str
    title: str
    quick_title: str
    dtype: torch.dtype
    compare_eager: bool  # float32: eager transformers checks ORT's logits (float16 on CPU is too slow)

    def config(self, quick: bool) -> Any:
        import transformers
        from models.transformers_zoo import _SMALL_DECODER, llama_1b_config

        if quick:
            return transformers.LlamaConfig(**_SMALL_DECODER)
        if self.name == "llama1b":
            return llama_1b_config()
        return transformers.LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                                        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                                        max_position_embeddings=4096, rms_norm_eps=1e-5, use_cache=False)


BIG_MODELS = {
    "llama7b": BigModel("llama7b", "LLaMA-style 7B (Llama-2-7B's shape, float16)", "LLaMA, 2 layers of 32, float16",
                        torch.float16, False),
    "llama1b": BigModel("llama1b", "LLaMA-style 1.1B (TinyLlama's shape, float32)", "LLaMA, 2 layers of 32, float32",
                        torch.float32, True),
}


def _build(spec: BigModel, quick: bool) -> torch.nn.Module:
    """The transformers model from its config, parameters created in spec.dtype (the caller picks the mode)."""
    import transformers

    default = torch.get_default_dtype()
    torch.set_default_dtype(spec.dtype)
    try:
        return transformers.LlamaForCausalLM(spec.config(quick)).eval()
    finally:
        torch.set_default_dtype(default)


def prompt(spec: BigModel, quick: bool) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    vocab = spec.config(quick).vocab_size
    return {"input_ids": torch.randint(0, vocab, (1, PROMPT), generator=generator),
            "attention_mask": torch.ones(1, PROMPT, dtype=torch.int64)}


# -- the checkpoint ------------------------------------------------------------------------------------------
def checkpoint_folder(spec: BigModel, cache: Path, quick: bool) -> Path:
    return cache / f"{spec.name}{'-quick' if quick else ''}"


def _fingerprint(spec: BigModel, quick: bool) -> dict[str, Any]:
    return {"format": FORMAT, "config": spec.config(quick).to_dict(), "dtype": str(spec.dtype)}


def checkpoint_ready(folder: Path, spec: BigModel, quick: bool) -> bool:
    marker = folder / "aten2onnx-bench.json"
    try:
        return json.loads(marker.read_text()) == json.loads(json.dumps(_fingerprint(spec, quick)))
    except (OSError, ValueError):
        return False


def write_checkpoint(spec: BigModel, folder: Path, quick: bool) -> dict[str, Any]:
    """Random weights (normal, std 0.02; norms near 1) in shards of at most 2 GB, one shard in memory at a time."""
    from safetensors.torch import save_file

    import aten2onnx

    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "aten2onnx-bench.json").unlink(missing_ok=True)
    with aten2onnx.enable_fake_mode():
        model = _build(spec, quick)  # names, dtypes and shapes only
    state = [(name, tuple(t.shape), t.dtype) for name, t in model.state_dict().items()]
    shards: list[list[tuple[str, tuple[int, ...], torch.dtype]]] = [[]]
    size = 0
    for item in state:
        nbytes = item[2].itemsize * int(torch.Size(item[1]).numel())
        if shards[-1] and size + nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append(item)
        size += nbytes
    weight_map = {}
    generator = torch.Generator().manual_seed(0)
    for number, shard in enumerate(shards, 1):
        file = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for name, shape, dtype in shard:
            tensor = torch.empty(shape, dtype=dtype)
            if name.endswith("norm.weight"):
                tensor.normal_(1.0, 0.02, generator=generator)
            else:
                tensor.normal_(0.0, 0.02, generator=generator)
            tensors[name] = tensor
            weight_map[name] = file
        save_file(tensors, str(folder / file), metadata={"format": "pt"})
        del tensors
    total = sum(dtype.itemsize * int(torch.Size(shape).numel()) for _, shape, dtype in state)
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    config = spec.config(quick)
    config.torch_dtype = str(spec.dtype).removeprefix("torch.")
    config.to_json_file(str(folder / "config.json"))
    (folder / "aten2onnx-bench.json").write_text(json.dumps(_fingerprint(spec, quick)))
    return {"checkpoint_bytes": total, "shards": len(shards), "write_s": time.perf_counter() - start}


# -- exporting -----------------------------------------------------------------------------------------------
def _onnx_facts(path: Path) -> dict[str, Any]:
    """Bytes the model's own files hold, bytes it points at in other files, and that every range is inside its file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    own = path.stat().st_size
    pointed: dict[str, int] = {}
    for tensor in model.graph.initializer:
        entries = {e.key: e.value for e in tensor.external_data}
        if not entries:
            continue
        location = path.parent / entries["location"]
        offset, length = int(entries.get("offset", 0)), int(entries.get("length", 0))
        if offset + length > location.stat().st_size:
            raise ValueError(f"{tensor.name}: bytes [{offset}, {offset + length}) are outside {location}")
        pointed[entries["location"]] = pointed.get(entries["location"], 0) + length
    data = path.with_name(path.name + ".data")
    own += data.stat().st_size if data.exists() else 0
    return {"nodes": len(model.graph.node), "own_files_mb": own / 2**20,
            "external_mb": sum(n for f, n in pointed.items() if f != data.name) / 2**20}


def export_big(spec: BigModel, tool: str, checkpoint: Path, onnx_path: Path, quick: bool, opset: int) -> dict[str, Any]:
    preimport()
    import transformers  # noqa: F401  (imported before the clock, like the other libraries)

    inputs = prompt(spec, quick)
    result: dict[str, Any] = {"model": spec.name, "tool": tool, "quick": quick, "rss_before_mb": _rss_now_mb()}
    result["peak_reset"] = _reset_peak_rss()
    stage = "building the model"
    start = time.perf_counter()
    try:
        if tool == "aten2onnx":
            import aten2onnx

            with aten2onnx.enable_fake_mode():
                model = _build(spec, quick)
            result["build_s"] = time.perf_counter() - start
            stage = "exporting"
            program = aten2onnx.export(model, (), kwargs=inputs, opset_version=opset)
            result["export_s"] = time.perf_counter() - start - result["build_s"]
            stage = "applying the weights and saving"
            program.apply_weights(checkpoint)
            program.save(onnx_path)
            written = program.saved_weights
            result.update(referenced_bytes=written.referenced_bytes, copied_bytes=written.copied_bytes,
                          computed_bytes=written.computed_bytes, copies=written.copied[:10])
        else:
            from safetensors import safe_open
            from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

            with FakeTensorMode(allow_non_fake_inputs=True):  # what torch.onnx.enable_fake_mode did
                model = _build(spec, quick)
            result["build_s"] = time.perf_counter() - start
            stage = "exporting"
            onnx_program = torch.onnx.export(model, (), kwargs=inputs, dynamo=True, opset_version=opset,
                                              optimize=False, verbose=False)
            result["export_s"] = time.perf_counter() - start - result["build_s"]
            stage = "applying the weights and saving"
            index = json.loads((checkpoint / "model.safetensors.index.json").read_text())
            state = {}
            for file in sorted(set(index["weight_map"].values())):
                with safe_open(str(checkpoint / file), framework="pt") as shard:  # memory-mapped tensors
                    state.update({name: shard.get_tensor(name) for name in shard.keys()})
            onnx_program.apply_weights(state)
            # FakeTensorMode made the rotary frequencies (non-persistent buffers, in no checkpoint) fake too:
            # torch.onnx cannot save them. Recorded, then given from a real rotary embedding so it can go on.
            fake = [name for name, value in onnx_program.model.graph.initializers.items()
                    if isinstance(getattr(value.const_value, "raw", None), FakeTensor)]
            if fake:
                result["fake_after_apply"] = fake
                from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

                rotary = LlamaRotaryEmbedding(spec.config(quick))
                onnx_program.apply_weights({f"model.rotary_emb.{n}": b for n, b in rotary.named_buffers()})
            onnx_program.save(str(onnx_path), external_data=True)
    except Exception as exc:  # the table shows the error class and where it happened, and the root cause
        root: BaseException = exc
        while root.__cause__ is not None:
            root = root.__cause__
        cause = f" (caused by {type(root).__name__}: {(str(root).strip().splitlines() or [''])[0][:300]})" \
            if root is not exc else ""
        result.update(error=type(exc).__name__, stage=stage,
                      message=(str(exc).strip().splitlines() or [""])[0][:300] + cause,
                      traceback=traceback.format_exc(limit=6)[-3000:])
    result["wall_s"] = time.perf_counter() - start
    result["peak_rss_mb"] = _peak_rss_mb()
    if "error" not in result:
        result["save_s"] = result["wall_s"] - result["build_s"] - result["export_s"]
        result.update(_onnx_facts(onnx_path))
    return result


# -- ONNX Runtime ----------------------------------------------------------------------------------------
def _available_bytes() -> int:
    with open("/proc/meminfo") as meminfo:
        return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))


def _casts_float16_weights() -> bool:
    """Whether ONNX Runtime's CPU provider runs a float16 MatMul by casting its weight to float32 at load
    (it has no float16 kernel for it: its InsertCastTransformer then keeps a float32 copy of the weight)."""
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper

    weight = helper.make_tensor("W", TensorProto.FLOAT16, [4, 4], np.ones((4, 4), np.float16).tobytes(), raw=True)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 4])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.optimized_model_filepath = os.path.join(folder, "probe.onnx")
        onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        optimized = onnx.load(options.optimized_model_filepath)
    return any(t.data_type == TensorProto.FLOAT and t.dims == [4, 4] for t in optimized.graph.initializer)


# ONNX Runtime's CPU provider has no float16 MatMul: by default it converts every float16 weight to a float32
# copy when loading (FuseFp16InitializerToFp32NodeTransformer), and folds the Transposes of weights into
# copies (ConstantFolding). Without both, the float16 weights stay in the checkpoint's mapped pages and are
# cast while running; without the arena, those float32 temporaries are freed after use.
_IN_PLACE_OPTIMIZERS = ["FuseFp16InitializerToFp32NodeTransformer", "ConstantFolding"]


def ort_step(spec: BigModel, checkpoint: Path, onnx_path: Path, quick: bool) -> dict[str, Any]:
    import numpy as np
    import onnxruntime

    from bench.latency import session_options

    weights = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors"))
    result: dict[str, Any] = {"ort_version": onnxruntime.__version__}
    options, disabled = session_options(), []
    available = _available_bytes()
    if spec.dtype == torch.float16 and _casts_float16_weights():
        result["float16_cast"] = True
        if 3 * weights > available * 0.9:  # the weights mapped plus a float32 copy of each
            disabled = _IN_PLACE_OPTIMIZERS
            options.enable_cpu_mem_arena = False
            options.enable_mem_pattern = False
            result["ort_mode"] = (
                f"default options would need about {3 * weights / 2**30:.0f} GiB ({available / 2**30:.0f} GiB "
                "available): its CPU provider has no float16 MatMul, so it keeps a float32 copy of every weight "
                "(measured on a probe model). Run with " + " and ".join(disabled) + " disabled and no memory "
                "arena: the float16 weights stay in the checkpoint's mapped pages and are cast while running")
    if weights + 4 * 2**30 > available:
        result.update(ort_error="NotEnoughMemory", ort_message=(
            f"not run: the weights alone ({weights / 2**30:.1f} GiB, mapped by ONNX Runtime) and room to compute "
            f"exceed the {available / 2**30:.1f} GiB available"))
        return result
    start = time.perf_counter()
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"],
                                           disabled_optimizers=disabled)
    result["ort_load_s"] = time.perf_counter() - start
    feeds = {k: v.numpy() for k, v in prompt(spec, quick).items()}
    start = time.perf_counter()
    logits = session.run(None, feeds)[0]
    result["ort_step_s"] = time.perf_counter() - start
    result["ort_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["logits_finite"] = bool(np.isfinite(logits).all())
    del session
    if spec.compare_eager:
        import transformers

        model = transformers.LlamaForCausalLM.from_pretrained(str(checkpoint), dtype=spec.dtype).eval()
        with torch.no_grad():
            expected = model(**prompt(spec, quick)).logits.numpy()
        result["max_abs_diff_vs_eager"] = float(np.abs(logits - expected).max())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["write", "export", "ort"])
    parser.add_argument("--model", required=True, choices=list(BIG_MODELS))
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tool", choices=["aten2onnx", "torch.onnx"], default="aten2onnx")
    parser.add_argument("--onnx", type=Path)
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args(argv)
    spec = BIG_MODELS[options.model]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the zoo's configs
    if options.command == "write":
        result = write_checkpoint(spec, options.checkpoint, options.quick)
    elif options.command == "export":
        result = export_big(spec, options.tool, options.checkpoint, options.onnx, options.quick, options.opset)
    else:
        result = ort_step(spec, options.checkpoint, options.onnx, options.quick)
    options.out.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
