"""ONNXProgram: the exported model, its serialization and a way to run it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx
import onnx_ir as ir
import torch
from torch.export import ExportedProgram
from torch.utils._pytree import tree_leaves

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
        # graph input name -> the model's own tensor, fed when the caller does not
        # (weights exported as inputs with export_params=False)
        self.weight_feeds: dict[str, torch.Tensor] = {}
        self.verification: list[Any] = []   # verify.OutputComparison per output, when verified
        self.report_path: Path | None = None  # the Markdown report, when report=True

    def __repr__(self) -> str:
        opset = self.model.opset_imports.get("", "?")
        return (f"ONNXProgram(opset={opset}, nodes={len(self.model.graph)}, "
                f"inputs={[v.name for v in self.model.graph.inputs]}, "
                f"outputs={[v.name for v in self.model.graph.outputs]})")

    @property
    def model_proto(self) -> onnx.ModelProto:
        """The model as an onnx.ModelProto (weights serialized into it)."""
        return ir.serde.serialize_model(self.model)

    def save(self, destination: str | os.PathLike[str] | BinaryIO, *, external_data: bool | None = None) -> None:
        """Write the model; weights go to `<name>.data` beside it when asked or over 2 GB.

        The file is written to a temporary name first, so a failure leaves no partial model.
        A binary file object receives the whole model (weights included).
        """
        if hasattr(destination, "write") and not isinstance(destination, (str, os.PathLike)):
            if external_data:
                raise ValueError("external_data needs a file path to put the weights beside; got a file object")
            destination.write(self.model_proto.SerializeToString())
            return
        path = Path(destination)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot save the ONNX model to '{path}': folder '{path.parent}' does not exist")
        # Asked for explicitly, every weight goes to the data file; chosen for size, tiny
        # tensors (under onnx_ir's 256-byte threshold) stay inline as onnx does.
        threshold = 0 if external_data else 256
        if external_data is None:
            external_data = _weights_bytes(self.model) >= PROTOBUF_LIMIT
        data_name = path.name + ".data" if external_data else None
        with tempfile.TemporaryDirectory(dir=path.parent) as staging:
            staged = Path(staging) / path.name
            ir.save(self.model, staged, external_data=data_name, size_threshold_bytes=threshold)
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
        """Run the model in ONNX Runtime on torch tensors; returns torch tensors.

        Inputs are flattened as torch.export flattens them (args, then kwargs; tuples, lists
        and dicts to their tensors). Weight inputs (export_params=False) take the model's own
        weights unless passed; initializers that are also inputs keep their stored values.
        """
        session = self._session or self.initialize_inference_session()
        flat = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        graph = self.model.graph
        required = [v.name for v in graph.inputs if not v.is_initializer() and v.name not in self.weight_feeds]
        given = dict(zip(required, flat))
        if len(flat) > len(required) + len(self.weight_feeds):
            raise ValueError(f"the ONNX model takes {len(required)} inputs ({', '.join(required)}), got {len(flat)}")
        extra = flat[len(required):]
        for name, default in self.weight_feeds.items():
            given[name] = extra.pop(0) if extra else default
        missing = [name for name in required if name not in given]
        if missing:
            raise ValueError(f"the ONNX model takes {len(required)} inputs ({', '.join(required)}), got {len(flat)}")
        feeds = {name: _to_numpy(value) for name, value in given.items()}
        return [torch.from_numpy(np.asarray(out)) for out in session.run(None, feeds)]


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            import ml_dtypes

            return value.float().numpy().astype(ml_dtypes.bfloat16)
        return value.numpy()
    return np.asarray(value)
