"""One measurement in a fresh process: export a model with one tool, report time and memory.

    python -m bench.measure --model resnet50 --tool aten2onnx --out result.json --onnx model.onnx [--quick]

The libraries (torch, onnx, onnx_ir, onnxscript, exporter) are imported and the model is built
before the clock starts; wall time covers the export call alone (for the ONNX exporters it
includes writing the file, as both do when given a path). Peak RSS is this process's
ru_maxrss right after the export, its high-water mark reset once the model is built (so
construction transients do not count): it includes the interpreter, the libraries and the
model's weights; `rss_before_mb` (after building the model) shows that floor.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import re
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

TOOLS = ("torch.export", "torch.onnx", "aten2onnx")


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak_rss() -> bool:
    """Start ru_maxrss afresh (Linux: `5` to /proc/self/clear_refs resets the RSS high-water mark), so
    the peak is the export's and not the model construction's transient; the weights stay resident."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_tool(tool: str, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], onnx_path: Path,
             opset: int) -> Any:
    """Export with `tool`; returns aten2onnx's ONNXProgram (None for the others)."""
    import torch

    if tool == "torch.export":
        from bench.models import has_cache

        if has_cache(kwargs):  # torch.export knows no DynamicCache: the baseline uses aten2onnx's pytree nodes
            from aten2onnx.exporter.capture import kv_cache

            kv_cache.register()
        torch.export.export(model, args, kwargs=kwargs or None, strict=False)
    elif tool == "torch.onnx":
        torch.onnx.export(model, args, str(onnx_path), kwargs=kwargs or None, dynamo=True, opset_version=opset,
                          external_data=True, verbose=False)
    elif tool == "aten2onnx":
        import aten2onnx

        return aten2onnx.export(model, args, onnx_path, kwargs=kwargs or None, opset_version=opset)
    else:
        raise ValueError(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")
    return None


def _first_line(error: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()  # torch.onnx colours its messages
    return (text.splitlines() or [""])[0][:400]


def _timing_saves(result: dict[str, Any]) -> None:
    """Record how long aten2onnx's ONNXProgram.save takes inside the export call (`save_s`), so the
    report can tell converting from writing the file; the call itself is unchanged."""
    from aten2onnx.exporter.api.program import ONNXProgram

    save = ONNXProgram.save

    def timed(self: Any, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        try:
            save(self, *args, **kwargs)
        finally:
            result["save_s"] = result.get("save_s", 0.0) + time.perf_counter() - start

    ONNXProgram.save = timed  # type: ignore[method-assign]


def onnx_facts(path: Path) -> dict[str, Any]:
    """Node count (subgraphs and local functions included) and bytes on disk (with external data)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def count(graph: onnx.GraphProto) -> int:
        total = 0
        for node in graph.node:
            total += 1
            for attribute in node.attribute:
                total += sum(count(g) for g in ([attribute.g] if attribute.HasField("g") else []))
                total += sum(count(g) for g in attribute.graphs)
        return total

    nodes = count(model.graph) + sum(len(f.node) for f in model.functions)
    data_files = {entry.value for init in model.graph.initializer for entry in init.external_data
                  if entry.key == "location"}
    size = path.stat().st_size + sum((path.parent / name).stat().st_size for name in data_files)
    return {"nodes": nodes, "file_mb": size / 2**20, "opset": next(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)}


_STAGES_OF_TORCH = {("export", "__init__.py"), ("run_decompositions", "exported_program.py"),
                    ("save_model", "__init__.py"), ("SerializeToString", "")}


def _profile_breakdown(profile: cProfile.Profile, top: int = 15, floor: float = 0.02) -> list[tuple[str, float]]:
    """Where aten2onnx.export spends its time: aten2onnx's own functions and torch.export's stages
    (cumulative seconds, nested stages included in their callers), largest first."""
    stats = pstats.Stats(profile)
    entries = stats.stats.items()  # type: ignore[attr-defined]
    total = max((timing[3] for _, timing in entries), default=0.0)
    rows: list[tuple[str, float]] = []
    for (filename, line, function), timing in entries:
        path = Path(filename)
        ours = bool({"exporter", "generated"} & set(path.parts)) and "site-packages" not in filename
        torch_stage = "torch" in path.parts and (function, path.name) in _STAGES_OF_TORCH
        if (ours or torch_stage) and timing[3] >= floor * total and not function.startswith("<"):
            rows.append((f"{function} ({path.parent.name}/{path.name}:{line})", timing[3]))
    rows.sort(key=lambda row: -row[1])
    return rows[:top]


def preimport() -> None:
    """Import every tool's libraries before the clock, the same set for each tool, so wall time and
    the RSS floor compare exports rather than imports (torch.onnx loads onnxscript lazily, and
    torch.export its tracer with torch._dynamo; transformers imports torch._dynamo itself, so
    without this only the CNN's exports would carry that second of importing)."""
    import onnx  # noqa: F401
    import onnx_ir  # noqa: F401
    import onnxscript  # noqa: F401
    import torch.export  # noqa: F401
    import torch.export._trace  # noqa: F401  (torch.export imports its tracer and torch._dynamo on first use: 1 s)
    import torch.onnx  # noqa: F401

    import aten2onnx

    aten2onnx.export  # noqa: B018  (resolves the package's lazy attribute)


def measure(model_name: str, tool: str, quick: bool, onnx_path: Path, opset: int, profile: bool) -> dict[str, Any]:
    from bench import models

    preimport()

    model = models.build(model_name, quick)
    args, kwargs = models.call_arguments(model_name, quick)
    result: dict[str, Any] = {
        "model": model_name, "tool": tool, "quick": quick, "opset": opset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "rss_before_mb": _rss_now_mb(),
    }
    if tool == "aten2onnx":
        _timing_saves(result)
    gc.collect()
    result["peak_reset"] = _reset_peak_rss()
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    try:
        if profiler:
            profiler.enable()
        program = run_tool(tool, model, args, kwargs, onnx_path, opset)
    except Exception as exc:  # the report shows the error class instead of numbers
        result["error"] = type(exc).__name__
        result["message"] = _first_line(exc)
        root = exc
        while root.__cause__ is not None:
            root = root.__cause__
        if root is not exc:  # torch.onnx wraps the reason (an unsupported input type) in a generic error
            result["message"] += f" Cause: {type(root).__name__}: {_first_line(root)}"
        uses = getattr(exc, "uses", None)  # UnsupportedOpsError: every op without a mapping
        if uses:
            result["unsupported"] = sorted({getattr(use, "overload", str(use)) for use in uses})
        result["traceback"] = traceback.format_exc(limit=6)[-3000:]
        return result
    finally:
        if profiler:
            profiler.disable()
        result["wall_s"] = time.perf_counter() - start
        result["peak_rss_mb"] = _peak_rss_mb()
    if profiler:
        result["profile"] = _profile_breakdown(profiler)
    written = getattr(program, "saved_weights", None)
    if written is not None:  # weights in memory: all written (none referenced), some computed while saving
        result.update(referenced_bytes=written.referenced_bytes, copied_bytes=written.copied_bytes,
                      computed_bytes=written.computed_bytes)
    if tool != "torch.export":
        result.update(onnx_facts(onnx_path))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--tool", required=True, choices=TOOLS)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--onnx", required=True, type=Path, help="where the ONNX exporters write the model")
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true", help="run under cProfile (timings inflate)")
    options = parser.parse_args(argv)
    result = measure(options.model, options.tool, options.quick, options.onnx, options.opset, options.profile)
    options.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
