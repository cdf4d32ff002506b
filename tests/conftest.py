"""Hypothesis profiles (tests/hypothesis_profiles.py: `ci` by default, HYPOTHESIS_PROFILE picks another);
opsets newer than the installed onnxruntime runs are skipped; OP_SLICE=k/n keeps the op tests of
one n-th of the specs (make test-thorough-slice)."""

import os
import zlib

import hypothesis_profiles
import pytest

hypothesis_profiles.load()


# Tests parametrized by an `opset` that the installed onnxruntime cannot run are skipped, saying
# so (exporter/rewrite/runtime_versions.py knows each release's newest opset); tests marked
# `builds_only` never run a model and keep every opset.
def _runtime_max_opset() -> tuple[str, int]:
    from aten2onnx.codegen.model import MAX_OPSET
    from aten2onnx.exporter.rewrite import runtime_versions

    version = runtime_versions.installed_version()
    return (version or "not installed"), (min(MAX_OPSET, runtime_versions.max_opset(version)) if version else 0)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "builds_only: builds models without running them (every opset is tested)")


def _op_slice() -> tuple[int, int] | None:
    """OP_SLICE=k/n: (k, n), or None when unset."""
    text = os.environ.get("OP_SLICE", "")
    if not text:
        return None
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise pytest.UsageError(f"OP_SLICE={text!r}: give k/n with 0 <= k < n, e.g. OP_SLICE=3/40")
    return int(k), int(n)


def _outside_slice(item: pytest.Item, k: int, n: int) -> bool:
    """An op test whose spec falls in another slice: specs are split by a stable hash of their name,
    so every opset of one spec lands in the same slice and a slice is the same on every machine."""
    callspec = getattr(item, "callspec", None)
    spec = callspec.params.get("spec") if callspec is not None else None
    aten = getattr(spec, "aten", None)
    return isinstance(aten, str) and zlib.crc32(aten.encode()) % n != k


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from aten2onnx.codegen.model import MAX_OPSET

    chosen = _op_slice()
    if chosen is not None:
        dropped = [item for item in items if _outside_slice(item, *chosen)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            kept = set(map(id, dropped))
            items[:] = [item for item in items if id(item) not in kept]

    version, newest = _runtime_max_opset()
    skip = pytest.mark.skip(reason=f"onnxruntime {version} runs opsets up to {newest}")
    for item in items:
        callspec = getattr(item, "callspec", None)
        opset = callspec.params.get("opset") if callspec is not None else None
        if type(opset) is int and newest < opset <= MAX_OPSET and item.get_closest_marker("builds_only") is None:
            item.add_marker(skip)
