"""ONNXProgram: the exported model, its serialization and a way to run it."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx
import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import TorchTensor
from torch.export import ExportedProgram
from torch.utils._pytree import tree_leaves

from exporter import input_checks

# Protobuf cannot hold a message over 2 GiB: larger models must keep weights outside.
PROTOBUF_LIMIT = 2 * 1024**3


def _weights_bytes(model: ir.Model) -> int:
    return sum(v.const_value.nbytes for v in model.graph.initializers.values() if v.const_value is not None)


# -- streaming serialization ------------------------------------------------------------------------
# Protobuf wire format: a length-delimited field is (number << 3 | 2), the length as a varint, the bytes.
_MODEL_GRAPH, _GRAPH_INITIALIZER, _TENSOR_RAW_DATA = 7, 5, 9


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _field_prefix(field: int, length: int) -> bytes:
    return _varint(field << 3 | 2) + _varint(length)


class _Header:
    """Stands in for a weight while onnx_ir serializes the graph: name, type and shape, no data."""

    def __init__(self, tensor: Any):
        self.name, self.doc_string = tensor.name, tensor.doc_string
        self.dtype, self.shape, self.metadata_props = tensor.dtype, tensor.shape, tensor.metadata_props

    def tobytes(self) -> bytes:
        return b""


def _streamable(tensor: Any) -> bool:
    """Tensors whose raw bytes can be written on their own (not strings, external or proto-backed)."""
    return (isinstance(tensor, (TorchTensor, ir.Tensor)) and tensor.dtype != ir.DataType.STRING
            and tensor.dtype.bitwidth >= 8)


class _Scratch:
    """One reusable buffer for weights that must be copied to be written (a folded transpose).

    torch copies a transposed array into it about 2.5x faster than numpy (blocked, threaded), and
    reusing the buffer spares page-faulting fresh memory for every weight.
    """

    def __init__(self) -> None:
        self.buffer = torch.empty(0, dtype=torch.uint8)

    def contiguous(self, array: np.ndarray) -> np.ndarray:
        if array.flags.c_contiguous:
            return array
        if self.buffer.numel() < array.nbytes:
            self.buffer = torch.empty(array.nbytes, dtype=torch.uint8)
        out = self.buffer[:array.nbytes].numpy().view(array.dtype).reshape(array.shape)
        try:
            torch.from_numpy(out).copy_(torch.from_numpy(array))
        except TypeError:  # a dtype torch cannot view (ml_dtypes' float8 or bfloat16 arrays)
            np.copyto(out, array)
        return out


def _write_tensor(stream: BinaryIO, tensor: Any, size: int, scratch: _Scratch) -> None:
    """A weight's raw bytes: from the torch tensor's own memory where possible (no copy)."""
    if isinstance(tensor, TorchTensor):
        raw = tensor.raw.detach().cpu().contiguous().reshape(-1)
        data: Any = raw.view(torch.uint8).numpy() if raw.numel() else b""
    elif isinstance(tensor.raw, np.ndarray):  # a folded constant, often a transposed view of a weight
        data = scratch.contiguous(tensor.raw).reshape(-1).view(np.uint8)
    else:
        data = tensor.tobytes()
    if memoryview(data).nbytes != size:
        raise ValueError(f"weight '{tensor.name}' holds {memoryview(data).nbytes} bytes, its type and shape say {size}")
    stream.write(data)


def write_external(model: ir.Model, model_stream: BinaryIO, data_stream: BinaryIO, data_name: str,
                   threshold: int) -> None:
    """Write `model` with every weight of at least `threshold` bytes in `data_stream` (the file
    `data_name` beside the model), streamed from its tensor in initializer order.

    onnx_ir's ir.save converts each weight to bytes (a copy) before writing it; here the graph is
    serialized with each such weight replaced by an ExternalTensor that only records where its
    bytes go, then the bytes are written from the tensors' own memory.
    """
    graph = model.graph
    streamed: dict[str, Any] = {}
    offset = 0
    for value in graph.initializers.values():
        tensor = value.const_value
        if tensor is None or not _streamable(tensor) or tensor.nbytes < threshold:
            continue
        tensor.name = value.name
        streamed[value.name] = tensor
        value.const_value = ir.ExternalTensor(data_name, offset, tensor.nbytes, tensor.dtype, shape=tensor.shape,
                                              name=value.name, doc_string=tensor.doc_string,
                                              metadata_props=tensor.metadata_props)
        offset += tensor.nbytes
    try:
        proto = ir.serde.serialize_model(model)
    finally:
        for name, tensor in streamed.items():
            graph.initializers[name].const_value = tensor
    model_stream.write(proto.SerializeToString())
    scratch = _Scratch()
    for tensor in streamed.values():
        _write_tensor(data_stream, tensor, tensor.nbytes, scratch)


def write_model(model: ir.Model, stream: BinaryIO) -> None:
    """Write `model` as one ModelProto, weights streamed from their tensors.

    ir.serde.serialize_model would copy every weight into the proto and SerializeToString
    copies it again (twice the weights in memory). Here onnx_ir serializes the graph with each
    weight replaced by a data-less header, and the weights' bytes are written after it, each as
    its TensorProto's raw_data field: protobuf accepts a message's fields in any order, so the
    file parses to the same ModelProto.
    """
    graph = model.graph
    streamed: dict[str, Any] = {}
    for value in graph.initializers.values():
        if value.const_value is not None and _streamable(value.const_value):
            value.const_value.name = value.name
            streamed[value.name] = value.const_value
            value.const_value = _Header(value.const_value)
    try:
        proto = ir.serde.serialize_model(model)
    finally:
        for name, tensor in streamed.items():
            graph.initializers[name].const_value = tensor
    graph_proto = onnx.GraphProto()
    graph_proto.CopyFrom(proto.graph)
    proto.ClearField("graph")
    initializers = list(graph_proto.initializer)
    graph_proto.ClearField("initializer")
    pieces: list[tuple[bytes, int, Any]] = []  # (initializer field up to its data, data length, tensor)
    for entry in initializers:
        if entry.name not in streamed:
            body = entry.SerializeToString()
            pieces.append((_field_prefix(_GRAPH_INITIALIZER, len(body)) + body, 0, b""))
            continue
        entry.ClearField("raw_data")
        header = entry.SerializeToString()
        tensor = streamed[entry.name]
        size = tensor.nbytes
        raw_prefix = _field_prefix(_TENSOR_RAW_DATA, size)
        head = _field_prefix(_GRAPH_INITIALIZER, len(header) + len(raw_prefix) + size) + header + raw_prefix
        pieces.append((head, size, tensor))
    graph_body = graph_proto.SerializeToString()
    graph_size = len(graph_body) + sum(len(head) + size for head, size, _ in pieces)
    if graph_size >= PROTOBUF_LIMIT:  # checked before writing: such a file could not be read back
        raise ValueError(f"the model is {graph_size / 2**30:.1f} GiB, over protobuf's 2 GiB limit for one file; "
                         "save it to a file path with external_data=True (weights beside it in <name>.data)")
    stream.write(proto.SerializeToString())
    stream.write(_field_prefix(_MODEL_GRAPH, graph_size))
    stream.write(graph_body)
    scratch = _Scratch()
    for head, size, tensor in pieces:
        stream.write(head)
        if size:
            _write_tensor(stream, tensor, size, scratch)


def model_bytes(model: ir.Model) -> bytes:
    buffer = io.BytesIO()
    write_model(model, buffer)
    return buffer.getvalue()


def _move(source: Path, target: Path) -> None:
    """Rename `source` to `target`, removing an old `target` first: ext4 starts writing a file
    renamed over an existing one to disk inside the rename (auto_da_alloc), which stalls the save."""
    if target.is_file() and not target.is_symlink():
        target.unlink()
    os.replace(source, target)


class ONNXProgram:
    """An exported ONNX model (onnx_ir), with the ExportedProgram it came from.

    Complex tensors: ONNX Runtime has no complex types, so a complex input or output of the
    model is a real tensor of its component dtype (complex64 -> float32, complex128 -> float64)
    with a trailing dimension of 2 holding (real, imag), i.e. `torch.view_as_real(t)`; calling
    the program accepts complex tensors for such inputs. `torch.view_as_complex(out)` turns an
    output back into a complex tensor.
    """

    def __init__(self, model: ir.Model, exported_program: ExportedProgram | None = None):
        self.model = model
        self.exported_program = exported_program
        self._session: Any = None
        # graph input name -> the model's own tensor, fed when the caller does not
        # (weights exported as inputs with export_params=False)
        self.weight_feeds: dict[str, torch.Tensor] = {}
        self.verification: list[Any] = []   # verify.OutputComparison per output, when verified
        self.report_path: Path | None = None  # the Markdown report, when report=True
        # the input sizes torch.export proved the model for; ONNX cannot check them itself
        self.size_rules = input_checks.size_rules(
            exported_program, [v.shape for v in model.graph.inputs if not v.is_initializer()])
        if input_checks.metadata_text(self.size_rules):
            model.metadata_props["aten2onnx.size_rules"] = input_checks.metadata_text(self.size_rules)

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
            write_model(self.model, destination)  # type: ignore[arg-type]
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
            with open(staged, "wb") as stream:
                if data_name:
                    with open(Path(staging) / data_name, "wb") as data_stream:
                        write_external(self.model, stream, data_stream, data_name, threshold)
                else:
                    write_model(self.model, stream)
            if data_name:
                _move(Path(staging) / data_name, path.parent / data_name)
            _move(staged, path)

    def optimize(self) -> None:
        """Constant folding and dead-code elimination (onnxscript's optimizer), in place."""
        from exporter import passes

        passes.optimize(self.model)
        self._session = None

    def initialize_inference_session(self) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            model_bytes(self.model), options, providers=["CPUExecutionProvider"]
        )
        return self._session

    def __call__(self, *args: Any, **kwargs: Any) -> Sequence[torch.Tensor]:
        """Run the model in ONNX Runtime on torch tensors; returns torch tensors.

        Inputs are flattened as torch.export flattens them (args, then kwargs; tuples, lists
        and dicts to their tensors). Weight inputs (export_params=False) take the model's own
        weights unless passed; initializers that are also inputs keep their stored values.
        Complex inputs are fed as torch.view_as_real(input); complex outputs come back in that
        form too (float, trailing dimension 2 for (real, imag)). Input sizes outside what
        torch.export proved the model for (a Dim's range, dims that must be equal, static
        dims) raise ValueError before anything runs.
        """
        session = self._session or self.initialize_inference_session()
        flat = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        if not kwargs:  # torch.export orders keyword inputs by the signature: checked positionally only
            input_checks.check_sizes(self.size_rules, flat)
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
        if value.is_complex():  # the model takes (real, imag) pairs on a trailing axis
            value = torch.view_as_real(value.resolve_conj())
        if value.dtype == torch.bfloat16:
            import ml_dtypes

            return value.float().numpy().astype(ml_dtypes.bfloat16)
        return value.numpy()
    return np.asarray(value)
