"""The benchmark harness end to end in quick mode, on one small model (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("torch.export", "torch.onnx", "aten2onnx")


def test_quick_bench_writes_table_chart_and_results(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.run", "--quick", "--models", "resnet50", "--output-dir", str(tmp_path),
               "--repeat", "5", "--budget", "2", "--timeout", "300", "--runs", "2"]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]

    data = json.loads((tmp_path / "benchmarks.json").read_text())
    assert data["environment"]["quick"] is True
    results = data["results"]["resnet50"]
    assert set(results) == set(TOOLS)
    table = (tmp_path / "benchmarks.md").read_text()
    assert "quick mode" in table and "| model | tool | export (s) |" in table
    assert (tmp_path / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    for tool in ("torch.export", "torch.onnx"):
        assert "error" not in results[tool], results[tool]
        assert results[tool]["wall_s"] > 0 and results[tool]["peak_rss_mb"] > 0
        assert len(results[tool]["wall_runs"]) == 2 and min(results[tool]["wall_runs"]) <= results[tool]["wall_s"]
    reference = results["torch.onnx"]
    assert reference["nodes"] > 0 and reference["file_mb"] > 0 and reference["latency_ms"] > 0
    assert "| torch.onnx.export(dynamo=True) | " in table and "1.00×" in table
    assert "torch.onnx.export(dynamo=True): export runs " in table

    ours = results["aten2onnx"]
    if ours.get("error"):
        # a failed export shows its error class in the table, never numbers
        assert f"| aten2onnx aten2onnx.export | `{ours['error']}` | — |" in table
        if ours["error"] == "UnsupportedOpsError":
            pytest.xfail(f"aten2onnx cannot export the quick ResNet-50 yet: {ours.get('message')}")
        pytest.fail(f"aten2onnx failed with {ours['error']}: {ours.get('message')}\n{ours.get('traceback', '')}")
    assert ours["nodes"] > 0 and ours["file_mb"] > 0 and 0 < ours["save_s"] < ours["wall_s"]
    assert "latency_error" not in ours, ours.get("latency_message")
    assert ours["latency_ms"] > 0


def test_unknown_model_is_refused() -> None:
    completed = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--models", "resnet5"], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and "unknown model" in completed.stderr and "resnet50" in completed.stderr


def test_report_shows_error_class_instead_of_numbers() -> None:
    from bench.report import markdown

    results = {"resnet50": {
        "torch.export": {"wall_s": 2.0, "peak_rss_mb": 900.0, "parameters": 25_557_032, "rss_before_mb": 500.0},
        "torch.onnx": {"wall_s": 10.0, "peak_rss_mb": 1500.0, "nodes": 120, "file_mb": 97.5, "latency_ms": 40.0},
        "aten2onnx": {"error": "UnsupportedOpsError", "message": "aten::foo.default", "wall_s": 1.0,
                      "peak_rss_mb": 800.0},
    }}
    environment = {"command": "make bench", "date": "2026-01-01", "cpus": 2, "memory_gib": 24.0, "platform": "Linux",
                   "python": "3.11", "torch": "2.13.0", "onnx": "1", "onnxscript": "0", "onnxruntime": "1",
                   "commit": "abc", "opset": 18, "quick": False}
    table = markdown(results, environment)
    row = next(line for line in table.splitlines() if "aten2onnx aten2onnx.export" in line)
    assert "`UnsupportedOpsError`" in row and "800" not in row and "1.0" not in row
    assert "| ResNet-50 (25.6M params, 1x3x224x224) | torch.export.export alone | 2.00 | 0.20× | 900 | 0.60× |" in table
    assert "n/a (`UnsupportedOpsError`)" in table and "aten::foo.default" in table


def test_llama_with_past_inputs_line_up_with_the_exported_model() -> None:
    """The decoding-step model: aten2onnx exports the DynamicCache call, and the latency run's feeds
    (bench.models.inputs) are exactly the ONNX inputs, by name."""
    pytest.importorskip("transformers")
    import aten2onnx
    from bench import models

    model = models.build("llama-past", quick=True)
    args, kwargs = models.call_arguments("llama-past", quick=True)
    program = aten2onnx.export(model, args, kwargs=kwargs)
    feeds = models.inputs("llama-past", quick=True)
    assert [v.name for v in program.model.graph.inputs if not v.is_initializer()] == list(feeds)
    logits, *present = program.initialize_inference_session().run(None, {k: v.numpy() for k, v in feeds.items()})
    assert logits.shape == (1, 1, 128) and present[0].shape == (1, 2, models.SEQUENCE[True] + 1, 8)


def test_quick_big_model_bench_exports_in_fake_mode_from_its_checkpoint(tmp_path: Path) -> None:
    """The big-model harness on the quick LLaMA (float16): checkpoint written into the cache and kept,
    aten2onnx and torch.onnx in fake mode, ONNX Runtime's step, the section of the report."""
    command = [sys.executable, "-m", "bench.run", "--quick", "--models", "llama7b", "--output-dir", str(tmp_path),
               "--runs", "1", "--timeout", "300", "--cache-dir", str(tmp_path / "cache")]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    big = json.loads((tmp_path / "benchmarks.json").read_text())["big_models"]["llama7b"]
    checkpoint = Path(big["checkpoint"])
    assert (checkpoint / "model.safetensors.index.json").is_file() and big["checkpoint_written"]["shards"] == 1
    ours = big["aten2onnx"]
    assert "error" not in ours, ours
    assert ours["referenced_bytes"] > 0 and ours["wall_s"] > ours["export_s"] > 0 and ours["peak_rss_mb"] > 0
    assert "error" not in big["ort"] and big["ort"]["ort_step_s"] > 0, big["ort"]
    assert not list(checkpoint.glob("aten2onnx-bench.onnx*"))  # the exported model is removed, the checkpoint kept
    theirs = big["torch.onnx"]
    assert theirs.get("error") or theirs["wall_s"] > 0
    table = (tmp_path / "benchmarks.md").read_text()
    assert "## Big models in fake mode" in table and "| aten2onnx aten2onnx.export in fake mode | " in table
