"""Hypothesis profiles (tests/hypothesis_profiles.py: `ci` by default, HYPOTHESIS_PROFILE picks another);
opsets newer than the installed onnxruntime runs are skipped."""

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from aten2onnx.codegen.model import MAX_OPSET

    version, newest = _runtime_max_opset()
    skip = pytest.mark.skip(reason=f"onnxruntime {version} runs opsets up to {newest}")
    for item in items:
        callspec = getattr(item, "callspec", None)
        opset = callspec.params.get("opset") if callspec is not None else None
        if type(opset) is int and newest < opset <= MAX_OPSET and item.get_closest_marker("builds_only") is None:
            item.add_marker(skip)
