"""`make bench`: each model exported by torch.export.export alone, torch.onnx.export(dynamo=True)
and aten2onnx, each in a fresh process; ONNX Runtime latency of both ONNX models; then the big
models (bench/big.py) exported in fake mode from their checkpoint; a Markdown table and a chart in docs/.

    python -m bench.run                                # full configs: ResNet-50, BERT-base, GPT-2, LLaMA 1.1B (and with past);
                                                       # LLaMA 7B and 1.1B in fake mode from their checkpoints
    python -m bench.run --quick --models resnet50      # small configs: checks the harness in a minute
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.big import BIG_MODELS, checkpoint_folder, checkpoint_ready
from bench.measure import TOOLS
from bench.models import MODELS, ROOT
from bench.report import chart, markdown


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _child(module: str, arguments: list[str], out: Path, timeout: float) -> dict[str, Any]:
    """Run `python -m module ...` in a fresh process; its JSON result, or the way it failed."""
    command = [sys.executable, "-m", module, *arguments, "--out", str(out)]
    environment = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        completed = subprocess.run(command, cwd=ROOT, env=environment, timeout=timeout, capture_output=True,
                                   text=True)
    except subprocess.TimeoutExpired:
        return {"error": "Timeout", "message": f"no result after {timeout:.0f} s"}
    if out.exists():
        return json.loads(out.read_text())
    tail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or [""]
    killed = completed.returncode < 0 or completed.returncode == 137
    return {"error": "Killed" if killed else "Crashed",
            "message": f"exit code {completed.returncode}: {tail[0][:300]}"}


def _combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One tool's runs as one result: the median wall time and peak RSS, every run's time kept; the
    first failure instead, if any run failed."""
    failed = [run for run in runs if run.get("error")]
    if failed:
        return failed[0]
    result = dict(runs[-1])
    for key in ("wall_s", "peak_rss_mb", "rss_before_mb", "save_s", "build_s", "export_s"):
        if all(key in run for run in runs):
            result[key] = statistics.median(run[key] for run in runs)
    result["wall_runs"] = [run["wall_s"] for run in runs]
    return result


def measure_model(name: str, options: argparse.Namespace, work: Path) -> dict[str, dict[str, Any]]:
    """Each tool's export in its own process, `--runs` times in turns (tool after tool, round after
    round, so a change in the machine's load touches every tool alike); then one process timing the
    ONNX models in turns."""
    quick = ["--quick"] if options.quick else []
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
    exported: dict[str, Path] = {}
    for round_ in range(options.runs):
        for tool in TOOLS:
            folder = work / f"{name}-{tool}-{round_}"
            folder.mkdir()
            onnx_path = folder / "model.onnx"
            common = ["--model", name, "--onnx", str(onnx_path), "--opset", str(options.opset), *quick]
            _log(f"{name}: {tool} (run {round_ + 1} of {options.runs}) ...")
            os.sync()  # the last export's file, still being written back, would slow this one's writes down
            result = _child("bench.measure", [*common, "--tool", tool], folder / "export.json", options.timeout)
            summary = result.get("error") or f"{result['wall_s']:.2f} s, peak RSS {result['peak_rss_mb']:,.0f} MB"
            _log(f"{name}: {tool}: {summary}")
            runs[tool].append(result)
            if tool in exported:  # keep one file per tool for the latency run
                shutil.rmtree(exported.pop(tool).parent, ignore_errors=True)
            if tool != "torch.export" and not result.get("error") and onnx_path.exists():
                exported[tool] = onnx_path
    results = {tool: _combined(tool_runs) for tool, tool_runs in runs.items()}
    if options.profile and not results["aten2onnx"].get("error"):
        folder = work / f"{name}-profile"
        folder.mkdir()
        profiled = _child("bench.measure", ["--model", name, "--onnx", str(folder / "model.onnx"), "--opset",
                                            str(options.opset), *quick, "--tool", "aten2onnx", "--profile"],
                          folder / "profile.json", options.timeout)
        results["aten2onnx"]["profile"] = (profiled.get("profile")
                                           or [(f"profiling failed: {profiled.get('error')}", 0.0)])
    if exported:
        _log(f"{name}: ONNX Runtime latency of {', '.join(exported)} ...")
        latency = _child("bench.latency", ["--model", name, *quick, "--repeat", str(options.repeat),
                                           "--budget", str(options.budget),
                                           *[f"--onnx={tool}={path}" for tool, path in exported.items()]],
                         work / f"{name}-latency.json", options.timeout)
        for tool in exported:
            if latency.get("error"):  # the latency process itself died
                results[tool].update(latency_error=latency["error"], latency_message=latency.get("message", ""))
            else:
                results[tool].update(latency.get(tool, {}))
            measured = results[tool]
            _log(f"{name}: {tool}: ORT latency "
                 f"{measured.get('latency_error') or format(measured.get('latency_ms', float('nan')), '.2f') + ' ms'}")
    for folder in work.glob(f"{name}-*"):  # full-size models are gigabytes
        shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink()
    return results


BIG_TOOLS = ("aten2onnx", "torch.onnx")


def measure_big(name: str, options: argparse.Namespace, work: Path) -> dict[str, Any]:
    """A big model from its checkpoint (written into the cache once): aten2onnx `--runs` times and torch.onnx
    once (it writes every weight), each building the model in fake mode in a fresh process; then ONNX
    Runtime loads aten2onnx's model and runs one step."""
    spec = BIG_MODELS[name]
    quick = ["--quick"] if options.quick else []
    checkpoint = checkpoint_folder(spec, options.cache_dir, options.quick)
    results: dict[str, Any] = {"checkpoint": str(checkpoint)}
    if not checkpoint_ready(checkpoint, spec, options.quick):
        _log(f"{name}: writing its random weights to {checkpoint} (once; kept for the next runs) ...")
        results["checkpoint_written"] = _child("bench.big", ["write", "--model", name, "--checkpoint",
                                                             str(checkpoint), *quick], work / f"{name}-write.json",
                                               options.timeout)
        if results["checkpoint_written"].get("error"):
            return {**results, **{tool: results["checkpoint_written"] for tool in BIG_TOOLS}}
    ours = checkpoint / "aten2onnx-bench.onnx"  # beside the checkpoint, so it can point into it
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in BIG_TOOLS}
    for round_ in range(options.runs):
        for tool in BIG_TOOLS:
            if tool == "torch.onnx" and round_:
                continue  # it writes every weight: once is enough to compare
            onnx_path = ours if tool == "aten2onnx" else work / f"{name}-torch.onnx" / "model.onnx"
            onnx_path.parent.mkdir(exist_ok=True)
            _log(f"{name}: {tool} in fake mode (run {round_ + 1}) ...")
            os.sync()
            result = _child("bench.big", ["export", "--model", name, "--tool", tool, "--checkpoint", str(checkpoint),
                                          "--onnx", str(onnx_path), "--opset", str(options.opset), *quick],
                            work / f"{name}-{tool}-{round_}.json", options.timeout)
            _log(f"{name}: {tool}: " + (f"{result['error']}: {result.get('message', '')[:200]}" if result.get("error")
                                         else f"{result['wall_s']:.1f} s, peak RSS {result['peak_rss_mb']:,.0f} MB"))
            runs[tool].append(result)
            if tool == "torch.onnx":
                shutil.rmtree(onnx_path.parent, ignore_errors=True)
    for tool in BIG_TOOLS:
        results[tool] = _combined(runs[tool]) if runs[tool] else {"error": "not run"}
    if not results["aten2onnx"].get("error"):
        _log(f"{name}: ONNX Runtime loads aten2onnx's model and runs one step ...")
        results["ort"] = _child("bench.big", ["ort", "--model", name, "--checkpoint", str(checkpoint), "--onnx",
                                              str(ours), *quick], work / f"{name}-ort.json", options.timeout)
        _log(f"{name}: ONNX Runtime: {results['ort'].get('ort_error') or results['ort'].get('error') or 'ok'}")
    for leftover in checkpoint.glob("aten2onnx-bench.onnx*"):
        leftover.unlink()
    return results


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:  # not installed, or no version attribute
        return "not installed"


def environment(options: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
        commit += " (with uncommitted changes)" if dirty.strip() else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import onnx
    import onnxruntime
    import onnxscript
    import torch

    return {
        "command": "python -m bench.run " + " ".join(argv) if argv else "make bench",
        "date": datetime.date.today().isoformat(), "cpus": os.cpu_count(), "memory_gib": memory,
        "platform": f"{platform.system()} {platform.machine()}", "python": platform.python_version(),
        "torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
        "onnxscript": onnxscript.__version__, "transformers": _version("transformers"), "commit": commit,
        "opset": options.opset, "quick": options.quick, "runs": options.runs,
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join([*MODELS, *BIG_MODELS]),
                        help=f"comma-separated, from {', '.join([*MODELS, *BIG_MODELS])} (default: all; "
                             f"{', '.join(BIG_MODELS)} are exported in fake mode from a checkpoint)")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(os.environ.get("ATEN2ONNX_BENCH_CACHE", Path.home() / ".cache" / "aten2onnx-bench")),
                        help="where the big models' checkpoints are written once and kept "
                             "(default ~/.cache/aten2onnx-bench, or $ATEN2ONNX_BENCH_CACHE; LLaMA 7B takes 13.5 GB)")
    parser.add_argument("--quick", action="store_true", help="small configs: checks the harness, not the exporters")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "docs",
                        help="where benchmarks.md, .png and .json go (default: docs/)")
    parser.add_argument("--opset", type=int, default=18, help="opset for both ONNX exporters (default 18)")
    parser.add_argument("--runs", type=int, default=3,
                        help="export runs per tool, in turns; the table shows the median (default 3)")
    parser.add_argument("--repeat", type=int, default=30, help="timed ONNX Runtime rounds (default 30)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds of timed ORT rounds at most, after 3 (default 120)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per child process (default 3600)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile aten2onnx's export (one more process per model) for the notes")
    parser.add_argument("--work-dir", type=Path, default=None, help="scratch space for ONNX files (default: a temp dir)")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: rewrite benchmarks.md and .png from the output dir's benchmarks.json")
    options = parser.parse_args(argv)
    options.model_names = [m.strip() for m in options.models.split(",") if m.strip()]
    unknown = [m for m in options.model_names if m not in MODELS and m not in BIG_MODELS]
    if unknown or not options.model_names:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join([*MODELS, *BIG_MODELS])}")
    return options


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    options = parse(argv)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    if options.report_only:
        saved = json.loads((options.output_dir / "benchmarks.json").read_text())
        write_report(saved["results"], saved["environment"], options.output_dir, saved.get("big_models", {}))
        return 0
    load_before = os.getloadavg()[0]
    all_results: dict[str, dict[str, dict[str, Any]]] = {}
    big_results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="aten2onnx-bench-", dir=options.work_dir) as scratch:
        for name in options.model_names:
            if name in BIG_MODELS:
                big_results[name] = measure_big(name, options, Path(scratch))
            else:
                all_results[name] = measure_model(name, options, Path(scratch))
    env = environment(options, argv)
    env["load_average"] = (load_before, os.getloadavg()[0])  # other work on the machine skews the timings
    (options.output_dir / "benchmarks.json").write_text(json.dumps(
        {"environment": env, "results": all_results, "big_models": big_results}, indent=1))
    write_report(all_results, env, options.output_dir, big_results)
    return 0


def write_report(all_results: dict[str, dict[str, dict[str, Any]]], env: dict[str, Any], output_dir: Path,
                 big_results: dict[str, dict[str, Any]] | None = None) -> None:
    (output_dir / "benchmarks.md").write_text(markdown(all_results, env, big_results))
    if all_results:
        chart(all_results, output_dir / "benchmarks.png", bool(env.get("quick")))
    _log(f"wrote {output_dir / 'benchmarks.md'}, benchmarks.png and benchmarks.json")


if __name__ == "__main__":
    sys.exit(main())
