"""aten2onnx.exporter.write.serialize: weights streamed in order, copied pieces intact, write errors reported."""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnx_ir as ir
import pytest
import torch

from aten2onnx.exporter.write import serialize


def _model(*tensors: ir.TensorProtocol) -> ir.Model:
    graph = ir.Graph([], [], nodes=[], opset_imports={"": 18})
    for tensor in tensors:
        graph.register_initializer(ir.Value(name=tensor.name, const_value=tensor, type=ir.TensorType(tensor.dtype),
                                            shape=tensor.shape))
    return ir.Model(graph, ir_version=10)


@pytest.mark.parametrize("piece_bytes", [7, 64, 2**20])
def test_weights_round_trip_whatever_the_piece_size(monkeypatch: pytest.MonkeyPatch, piece_bytes: int) -> None:
    """A transposed (non-contiguous) array goes out in pieces through two reused buffers: pieces
    smaller than a row, a few rows, the whole array all give back the same numbers."""
    monkeypatch.setattr(serialize, "_PIECE_BYTES", piece_bytes)
    rng = np.random.default_rng(0)
    transposed = rng.standard_normal((6, 5)).astype(np.float32).T  # what folding Transpose(weight) leaves
    weight = torch.randn(4, 3)
    model = _model(ir.Tensor(transposed, name="folded"), ir.tensor(weight, name="weight"),
                   ir.Tensor(np.arange(3, dtype=np.int64)[::-1], name="reversed"))
    loaded = onnx.load_from_string(serialize.model_bytes(model))
    values = {t.name: onnx.numpy_helper.to_array(t) for t in loaded.graph.initializer}
    np.testing.assert_array_equal(values["folded"], transposed)
    np.testing.assert_array_equal(values["weight"], weight.numpy())
    np.testing.assert_array_equal(values["reversed"], [2, 1, 0])


def test_a_failed_write_is_reported() -> None:
    class FullDisk(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    model = _model(ir.tensor(torch.randn(8, 8), name="weight"))
    with pytest.raises(OSError, match="No space left"):
        serialize.write_model(model, FullDisk())
