"""ONNX Runtime latency of the exported models of one benchmark model, in a fresh process.

    python -m bench.latency --model resnet50 --onnx torch.onnx=a.onnx --onnx aten2onnx=b.onnx --out latency.json

Every session gets the same options: CPU provider, all graph optimizations, sequential execution,
one intra-op thread per core. After warm-up runs the models run in turns, one run each per round,
so a change in machine load affects them alike (models too large to hold together run one after
the other); rounds go on until `--repeat` runs or `--budget` seconds (at least 3 rounds). Each
model's median is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def session_options() -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


def feeds_for(session: Any, named: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Match the model's inputs by name, else by position (exporters may rename inputs)."""
    inputs = session.get_inputs()
    if all(i.name in named for i in inputs):
        return {i.name: named[i.name] for i in inputs}
    values = list(named.values())
    if len(values) != len(inputs):
        raise ValueError(f"the model takes {[i.name for i in inputs]}, the benchmark has {list(named)}")
    return {i.name: value for i, value in zip(inputs, values)}


def _onnx_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.name))


def _fits_together(paths: Any) -> bool:
    """Whether every session fits in memory at once (weights, with room for ORT's prepacked copies)."""
    try:
        with open("/proc/meminfo") as meminfo:
            available = next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return True
    return sum(_onnx_bytes(Path(p)) for p in paths) * 2.5 < available


def measure_latency(model_name: str, onnx_paths: dict[str, Path], quick: bool, repeat: int, budget: float,
                    warmup: int) -> dict[str, dict[str, Any]]:
    import onnxruntime

    from bench import models

    named = {name: tensor.numpy() for name, tensor in models.inputs(model_name, quick).items()}
    if len(onnx_paths) > 1 and not _fits_together(onnx_paths.values()):
        # models too large to hold side by side (a 1B model is 4.4 GB a copy): one after the other
        merged: dict[str, dict[str, Any]] = {}
        for tool, path in onnx_paths.items():
            merged.update(measure_latency(model_name, {tool: path}, quick, repeat, budget, warmup))
            merged[tool]["latency_in_turns"] = False
        return merged
    results: dict[str, dict[str, Any]] = {}
    sessions: dict[str, tuple[Any, dict[str, np.ndarray]]] = {}
    for tool, path in onnx_paths.items():
        try:
            start = time.perf_counter()
            session = onnxruntime.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
            results[tool] = {"session_load_s": time.perf_counter() - start}
            feeds = feeds_for(session, named)
            for _ in range(warmup):
                session.run(None, feeds)
            sessions[tool] = (session, feeds)
        except Exception as exc:  # shown in the table as the error class
            results[tool] = {"latency_error": type(exc).__name__, "latency_message": str(exc).strip()[:400]}
    times: dict[str, list[float]] = {tool: [] for tool in sessions}
    deadline = time.perf_counter() + budget
    rounds = 0
    while sessions and rounds < repeat and (rounds < 3 or time.perf_counter() < deadline):
        for tool, (session, feeds) in sessions.items():
            begin = time.perf_counter()
            session.run(None, feeds)
            times[tool].append(time.perf_counter() - begin)
        rounds += 1
    for tool, runs in times.items():
        results[tool].update({"latency_ms": statistics.median(runs) * 1000, "latency_runs": len(runs),
                              "latency_min_ms": min(runs) * 1000, "ort_version": onnxruntime.__version__})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--onnx", action="append", required=True, metavar="TOOL=PATH",
                        help="an exported model, named by the tool that made it (repeat the option)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=30, help="timed rounds at most")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds of timed rounds at most (after 3)")
    parser.add_argument("--warmup", type=int, default=3)
    options = parser.parse_args(argv)
    paths = dict(item.split("=", 1) for item in options.onnx)
    result = measure_latency(options.model, {tool: Path(path) for tool, path in paths.items()}, options.quick,
                             options.repeat, options.budget, options.warmup)
    options.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
