"""Exporting for an onnxruntime release: its newest opset, its kernel gaps, and a clear error
when the installed runtime cannot run a model (exporter/rewrite/runtime_versions.py).

Version-dependent behaviour is tested by naming releases (runtime_version=...) or by standing
in for the installed version, so these tests mean the same under any onnxruntime installed.
"""

from __future__ import annotations

import onnxruntime
import pytest
import torch

import aten2onnx
from aten2onnx.exporter import options
from aten2onnx.exporter.errors import ExportArgumentError, RuntimeVersionError
from aten2onnx.exporter.rewrite import runtime_versions
from aten2onnx.exporter.rewrite.ort_kernel_gaps import parse_version


class _Relu(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


class _Linear(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 + 1


def test_newest_opset_per_release() -> None:
    assert runtime_versions.max_opset("1.20.1") == 21
    assert runtime_versions.max_opset("1.21") == 22
    assert runtime_versions.max_opset("1.24.4") == 25
    assert runtime_versions.max_opset("1.31.1") == 26
    assert runtime_versions.max_opset("1.40.0") == 28  # newer than measured: the newest known
    assert runtime_versions.oldest_running(20) == runtime_versions.OLDEST_SUPPORTED
    assert runtime_versions.oldest_running(26) == runtime_versions.OLDEST_SUPPORTED
    assert runtime_versions.oldest_running(29) is None


def test_installed_version_is_the_imported_module() -> None:
    assert runtime_versions.installed_version() == onnxruntime.__version__


def test_default_opset_never_exceeds_the_target(monkeypatch: pytest.MonkeyPatch) -> None:
    assert options.resolve_runtime("onnxruntime", "1.26", None) == ("1.26", 20)
    assert options.resolve_runtime("onnxruntime", "1.26", 26) == ("1.26", 26)
    monkeypatch.setattr(runtime_versions, "max_opset", lambda version: 18)
    assert options.resolve_runtime("onnxruntime", "1.26", None) == ("1.26", 18)


def test_default_target_is_the_installed_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_versions, "installed_version", lambda: "1.28.0")
    assert options.resolve_runtime("onnxruntime", None, None) == ("1.28.0", 20)
    # an opset newer than it runs: the model is for another machine, with that machine's gaps
    monkeypatch.setattr(runtime_versions, "max_opset", lambda version: 22 if version == "1.28.0" else 26)
    assert options.resolve_runtime("onnxruntime", None, 23) == (runtime_versions.OLDEST_SUPPORTED, 23)
    monkeypatch.setattr(runtime_versions, "installed_version", lambda: None)
    assert options.resolve_runtime("onnxruntime", None, None) == (runtime_versions.OLDEST_SUPPORTED, 20)
    assert options.resolve_runtime(None, None, None) == (None, 20)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"runtime_version": "1.24"}, r"older than the oldest onnxruntime aten2onnx supports \(1.26\)"),
    ({"runtime_version": "latest"}, r"such as '1.28' or '1.28.0'"),
    ({"runtime_version": "1.26", "target_runtime": None}, "needs target_runtime='onnxruntime'"),
])
def test_bad_runtime_version_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ExportArgumentError, match=message):
        aten2onnx.export(_Linear(), (torch.ones(2),), **kwargs)


def test_gaps_follow_the_target_release() -> None:
    """ONNX Runtime has no int8 Where up to 1.30 (relu of an int8 is Where(Less(x, 0), 0, x)); 1.31
    has it. Each model runs where it is meant to and matches torch."""
    x = torch.tensor([-128, -1, 0, 5, 127], dtype=torch.int8)
    old = aten2onnx.export(_Relu(), (x,), opset_version=18, runtime_version="1.30")
    new = aten2onnx.export(_Relu(), (x,), opset_version=18, runtime_version="1.32")
    assert "ort-kernel-gaps: Where(BOOL, INT8, INT8)" in old.rewrites
    assert not any(r.startswith("ort-kernel-gaps: Where") for r in new.rewrites)
    torch.testing.assert_close(old(x)[0], torch.relu(x))
    if parse_version(runtime_versions.installed_version() or "0") >= (1, 31):
        torch.testing.assert_close(new(x)[0], torch.relu(x))


def test_call_says_when_the_installed_runtime_is_too_old(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.ones(3)
    program = aten2onnx.export(_Linear(), (x,), opset_version=23, runtime_version="1.26")
    monkeypatch.setattr(runtime_versions, "installed_version", lambda: "1.20.1")  # runs opsets up to 21
    with pytest.raises(RuntimeVersionError, match=r"opset 23, and the installed onnxruntime 1.20.1 runs opsets "
                                                  r"up to 21.*opset_version=21.*onnxruntime>=1.26"):
        program(x)
    monkeypatch.setattr(runtime_versions, "installed_version", lambda: None)
    with pytest.raises(RuntimeVersionError, match="needs onnxruntime, which is not installed"):
        program(x)


def test_verify_says_when_the_installed_runtime_is_too_old(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(runtime_versions, "installed_version", lambda: "1.20.1")
    target = tmp_path / "model.onnx"
    with pytest.raises(RuntimeVersionError, match="installed onnxruntime 1.20.1 runs opsets up to 21"):
        aten2onnx.export(_Linear(), (torch.ones(3),), target, opset_version=22, verify=True)
    assert not target.exists()  # nothing written when verification could not run


def test_newest_opset_of_the_installed_runtime_is_measured() -> None:
    """The table's entry for the installed release is what a session actually loads (one-node models)."""
    import onnx.defs

    from scripts import probe_ort_kernels

    installed = runtime_versions.installed_version()
    assert installed is not None
    known = min(runtime_versions.max_opset(installed), onnx.defs.onnx_opset_version())
    assert probe_ort_kernels.max_opset() == known
