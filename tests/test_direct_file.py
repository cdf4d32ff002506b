"""aten2onnx.exporter.write.direct_file: bytes land in order whatever the write sizes; models saved through it run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

import aten2onnx
import aten2onnx.exporter.api.program
from aten2onnx.exporter.write import direct_file


@pytest.fixture
def small_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_file, "_BUFFER", 2 * direct_file._BLOCK)  # many buffer switches


@pytest.mark.parametrize("sizes", [[1], [4096], [8192, 1], [3, 5000, 9000, 17, 0, 20000], [40000]])
def test_bytes_arrive_in_order(tmp_path: Path, small_buffers: None, sizes: list[int]) -> None:
    rng = np.random.default_rng(len(sizes))
    chunks = [rng.integers(0, 256, size, dtype=np.uint8) for size in sizes]
    path = tmp_path / "out.bin"
    with direct_file.open_for_writing(path, direct=True) as stream:
        if hasattr(os, "O_DIRECT"):
            assert isinstance(stream, direct_file.DirectFile)  # tmp_path's file system takes O_DIRECT here
        for chunk in chunks:
            stream.write(chunk if len(chunk) % 2 else chunk.tobytes())  # arrays and bytes alike
    assert path.read_bytes() == b"".join(chunk.tobytes() for chunk in chunks)


def test_a_file_system_without_o_direct_gets_a_buffered_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refusing(path: object, flags: int, *args: object) -> int:  # as file systems without O_DIRECT do
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(direct_file.os, "open", refusing)
    path = tmp_path / "out.bin"
    with direct_file.open_for_writing(path, direct=True) as stream:
        assert not isinstance(stream, direct_file.DirectFile)
        stream.write(b"abc")
    assert path.read_bytes() == b"abc"


@pytest.mark.parametrize("external_data", [False, True])
def test_saved_directly_the_model_runs(tmp_path: Path, small_buffers: None, monkeypatch: pytest.MonkeyPatch,
                                       external_data: bool) -> None:
    monkeypatch.setattr(aten2onnx.exporter.api.program, "DIRECT_WRITE_MIN", 0)  # a small model takes the direct path too
    model = torch.nn.Sequential(torch.nn.Linear(40, 60), torch.nn.ReLU(), torch.nn.Linear(60, 7)).eval()
    x = torch.randn(3, 5, 40)
    aten2onnx.export(model, (x,), tmp_path / "m.onnx", external_data=external_data)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), model(x).detach(), atol=1e-5, rtol=1e-5)
