"""ONNXProgram: the exported model, its serialization and a way to run it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import torch
from torch.export import ExportedProgram

# Protobuf cannot hold a message over 2 GiB: larger models must keep weights outside.
PROTOBUF_LIMIT = 2 * 1024**3


def _weights_bytes(model: ir.Model) -> int:
    return sum(v.const_value.nbytes for v in model.graph.initializers.values() if v.const_value is not None)


class ONNXProgram:
    """An exported ONNX model (onnx_ir), with the ExportedProgram it came from."""

    def __init__(self, model: ir.Model, exported_program: ExportedProgram | None = None):
        self.model = model
        self.exported_program = exported_program
        self._session: Any = None

    def __repr__(self) -> str:
        opset = self.model.opset_imports.get("", "?")
        return (f"ONNXProgram(opset={opset}, nodes={len(self.model.graph)}, "
                f"inputs={[v.name for v in self.model.graph.inputs]}, "
                f"outputs={[v.name for v in self.model.graph.outputs]})")

    @property
    def model_proto(self) -> onnx.ModelProto:
        """The model as an onnx.ModelProto (weights serialized into it)."""
        return ir.serde.serialize_model(self.model)

    def save(self, destination: str | os.PathLike[str], *, external_data: bool | None = None) -> None:
        """Write the model; weights go to `<name>.data` beside it when asked or over 2 GB.

        The file is written to a temporary name first, so a failure leaves no partial model.
        """
        path = Path(destination)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot save the ONNX model to '{path}': folder '{path.parent}' does not exist")
        if external_data is None:
            external_data = _weights_bytes(self.model) >= PROTOBUF_LIMIT
        data_name = path.name + ".data" if external_data else None
        with tempfile.TemporaryDirectory(dir=path.parent) as staging:
            staged = Path(staging) / path.name
            ir.save(self.model, staged, external_data=data_name)
            if data_name:
                os.replace(Path(staging) / data_name, path.parent / data_name)
            os.replace(staged, path)

    def optimize(self) -> None:
        """Constant folding and dead-code elimination (onnxscript's optimizer), in place."""
        import onnxscript.optimizer

        onnxscript.optimizer.optimize(self.model)
        self._session = None

    def initialize_inference_session(self) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            self.model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return self._session

    def __call__(self, *args: Any, **kwargs: Any) -> Sequence[torch.Tensor]:
        """Run the model in ONNX Runtime on torch tensors; returns torch tensors."""
        session = self._session or self.initialize_inference_session()
        flat = [a for a in (*args, *kwargs.values()) if a is not None]
        names = [i.name for i in session.get_inputs()]
        if len(flat) != len(names):
            raise ValueError(f"the ONNX model takes {len(names)} inputs ({', '.join(names)}), got {len(flat)}")
        feeds = {name: _to_numpy(value) for name, value in zip(names, flat)}
        return [torch.from_numpy(np.asarray(out)) for out in session.run(None, feeds)]


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            import ml_dtypes

            return value.float().numpy().astype(ml_dtypes.bfloat16)
        return value.numpy()
    return np.asarray(value)
