"""Writing an onnx_ir model to a file with its weights streamed from their tensors.

onnx_ir's serializer copies every weight into the ModelProto and SerializeToString copies it
again; here the graph is serialized without the weights' bytes and each weight is written from
its own memory, by a background thread, so the disk works while the next weight is prepared.
With external data, a weight whose bytes lie as stored in a checkpoint file inside the model's
folder is not written at all: its external-data entry points at them (`checkpoint_reference`).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeGuard

import numpy as np
import onnx
import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import TorchTensor

from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.progress import Meter, size_text
from aten2onnx.exporter.write.weight_sources import DerivedTensor, SourceTensor

# Protobuf cannot hold a message over 2 GiB: larger models must keep weights outside.
PROTOBUF_LIMIT = 2 * 1024**3


def weights_bytes(model: ir.Model) -> int:
    return sum(v.const_value.nbytes for v in model.graph.initializers.values() if v.const_value is not None)


# -- streaming serialization ------------------------------------------------------------------------
class Writable(Protocol):
    """Where a model is written: a binary file, or write/direct_file.py's DirectFile."""

    def write(self, data: bytes, /) -> int: ...


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


def _streamable(tensor: Any) -> TypeGuard[ir.Tensor | DerivedTensor]:
    """Tensors whose raw bytes can be written on their own (not strings, external or proto-backed)."""
    return (isinstance(tensor, (TorchTensor, ir.Tensor, DerivedTensor)) and tensor.dtype != ir.DataType.STRING
            and tensor.dtype.bitwidth >= 8)


@dataclass
class WeightsWritten:
    """What saving did with the weights: bytes pointed at in checkpoint files (nothing written),
    bytes written into the model's own files, and of those how many were computed while saving
    (folded weights). `copied` names every weight read from a checkpoint file that was written
    anyway, with the reason (ONNX Runtime's rules for external data, a transform)."""

    referenced_bytes: int = 0
    copied_bytes: int = 0
    computed_bytes: int = 0
    referenced_files: set[str] = field(default_factory=set)
    copied: list[tuple[str, int, str]] = field(default_factory=list)  # (initializer, bytes, why)

    def __str__(self) -> str:
        text = f"{size_text(self.referenced_bytes)} referenced in {len(self.referenced_files)} checkpoint file(s), " \
            if self.referenced_bytes else ""
        text += f"{size_text(self.copied_bytes)} written"
        if self.computed_bytes:
            text += f" ({size_text(self.computed_bytes)} of them computed from weights while saving)"
        return text

    def count(self, tensor: Any, size: int, reason: str | None) -> None:
        """A weight of `size` bytes written into the model's files; `reason` why it was not referenced."""
        self.copied_bytes += size
        if isinstance(tensor, DerivedTensor):
            self.computed_bytes += size
        if reason:
            self.copied.append((tensor.name or "", size, reason))


@dataclass(frozen=True)
class CheckpointBytes:
    """Where a saved model's external data points in a checkpoint file."""
    location: str  # relative to the model's folder, with '/'
    offset: int
    length: int


def checkpoint_reference(tensor: Any, model_folder: Path) -> CheckpointBytes | str | None:
    """How the saved model can point at `tensor`'s bytes in the checkpoint file they were read from;
    a reason when they cannot be pointed at; None when they come from no file.

    ONNX Runtime and onnx refuse external data outside the model's folder (after resolving links)
    and onnx refuses files with several hard links; ONNX Runtime maps data at any offset, but an
    offset that splits an element is refused here. A file changed since it was read is an error.
    """
    if not isinstance(tensor, SourceTensor) or tensor.file_range is None:
        return None
    where = tensor.file_range
    where.check_unchanged()
    location = os.path.relpath(where.path, os.path.realpath(model_folder))
    if location == os.pardir or location.startswith(os.pardir + os.sep):
        return "its checkpoint is outside the model's folder (ONNX Runtime refuses external data there)"
    if os.stat(where.path).st_nlink > 1:
        return "its checkpoint file has several hard links (onnx refuses such external data)"
    if where.offset % max(1, tensor.dtype.itemsize):
        return "its offset in the checkpoint splits an element"
    if where.length != tensor.nbytes:
        return "its bytes in the checkpoint differ in size from the initializer's"
    return CheckpointBytes(location.replace(os.sep, "/"), where.offset, where.length)


# A weight that must be copied to be written (a folded transpose) goes out in pieces of about this
# size, through two reusable buffers: the extra memory stays under 2 pieces whatever the weight.
_PIECE_BYTES = 4 * 2**20


class _Writer:
    """Writes to `stream` in order on one background thread, so the disk works while the caller
    prepares the next piece: a non-contiguous array is copied piece by piece into one of two
    buffers (torch copies a transposed array about 2.5x faster than numpy), each written while
    the other fills. Reports the first failed write when closed."""

    def __init__(self, stream: Writable, meter: Meter | None = None):
        self._stream = stream
        self._meter = meter
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aten2onnx-save")
        self._writes: list[Future[Any]] = []
        self._buffers = [torch.empty(0, dtype=torch.uint8) for _ in range(2)]
        self._buffer_writes: list[Future[Any] | None] = [None, None]
        self._turn = 0

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.shutdown(wait=True)
        if exc_info[0] is None:
            for write in self._writes:
                write.result()  # the first error a write raised (a full disk), in order

    def write(self, data: Any, after: Callable[[], None] | None = None) -> None:
        """Queue bytes-like `data`; it must not change until written (the queue holds a reference).
        `after` runs once it is written (on the writer's thread)."""
        self._writes.append(self._thread.submit(self._write_now, data, after))

    def _write_now(self, data: Any, after: Callable[[], None] | None) -> None:
        self._stream.write(data)
        if self._meter is not None:
            self._meter.advance(memoryview(data).nbytes)
        if after is not None:
            after()

    def write_tensor(self, tensor: Any, size: int) -> None:
        """A weight's raw bytes: from the torch tensor's own memory where possible (no copy). A
        weight read from a checkpoint file gives its pages back once written (`release`)."""
        array: Any
        if isinstance(tensor, DerivedTensor):  # computed now, from the weights it is made of
            array = tensor.numpy()
        elif isinstance(tensor, TorchTensor):
            raw = tensor.raw.detach().cpu().contiguous().reshape(-1)
            array = raw.view(torch.uint8).numpy() if raw.numel() else np.empty(0, np.uint8)
        elif isinstance(tensor.raw, np.ndarray):  # a folded constant, often a transposed view of a weight
            array = tensor.raw
        else:
            array = np.frombuffer(tensor.tobytes(), np.uint8)
        if array.nbytes != size:
            raise ValueError(f"weight '{tensor.name}' holds {array.nbytes} bytes, its type and shape say {size}")
        release = tensor.release if isinstance(tensor, SourceTensor) else None
        if array.flags.c_contiguous:
            self.write(array.reshape(-1).view(np.uint8), release)
            return
        rows = max(1, _PIECE_BYTES * array.shape[0] // array.nbytes)  # non-contiguous: not 0-d, not empty
        for start in range(0, array.shape[0], rows):
            self._write_copy(array[start:start + rows])
        if release is not None:
            self.write(b"", release)

    def _write_copy(self, piece: np.ndarray) -> None:
        """Copy `piece` into the buffer whose last write has finished, and queue its write."""
        turn, self._turn = self._turn, 1 - self._turn
        pending = self._buffer_writes[turn]
        if pending is not None:
            pending.result()
        if self._buffers[turn].numel() < piece.nbytes:
            self._buffers[turn] = torch.empty(piece.nbytes, dtype=torch.uint8)
        out = self._buffers[turn][:piece.nbytes].numpy().view(piece.dtype).reshape(piece.shape)
        try:
            torch.from_numpy(out).copy_(torch.from_numpy(piece))
        except (TypeError, ValueError):  # what torch cannot view: ml_dtypes' float8/bfloat16, negative strides
            np.copyto(out, piece)
        self.write(out.reshape(-1).view(np.uint8))
        self._buffer_writes[turn] = self._writes[-1]


def write_external(model: ir.Model, model_stream: Writable, open_data: Callable[[], Any], data_name: str,
                   threshold: int, model_folder: Path | None = None, meter: Meter | None = None) -> WeightsWritten:
    """Write `model` with every weight of at least `threshold` bytes outside it: pointed at in its
    checkpoint file when `model_folder` is given and the file allows it (`checkpoint_reference`),
    else streamed from its tensor into the data file `data_name` beside the model, which
    `open_data()` opens (only when something goes there), in initializer order.

    onnx_ir's ir.save converts each weight to bytes (a copy) before writing it; here the graph is
    serialized with each such weight replaced by an ExternalTensor that only records where its
    bytes are, then the bytes are written from the tensors' own memory.
    """
    graph = model.graph
    summary = WeightsWritten()
    streamed: dict[str, Any] = {}
    replaced: dict[str, Any] = {}
    offset = 0
    for name, value in graph.initializers.items():
        tensor = value.const_value
        if tensor is None or not _streamable(tensor) or tensor.nbytes < threshold:
            if tensor is not None and tensor.nbytes and isinstance(tensor, SourceTensor | DerivedTensor):
                summary.count(tensor, tensor.nbytes, None)  # small enough to stay inside the model
            continue
        tensor.name = name
        reference = checkpoint_reference(tensor, model_folder) if model_folder is not None else None
        if isinstance(reference, CheckpointBytes):
            location, start, length = reference.location, reference.offset, reference.length
            summary.referenced_bytes += length
            summary.referenced_files.add(location)
        else:
            location, start, length = data_name, offset, tensor.nbytes
            offset += tensor.nbytes
            streamed[name] = tensor
            summary.count(tensor, length, reference)
        replaced[name] = tensor
        value.const_value = ir.ExternalTensor(location, start, length, tensor.dtype, shape=tensor.shape,
                                              name=name, doc_string=tensor.doc_string,
                                              metadata_props=tensor.metadata_props)
    try:
        proto = ir.serde.serialize_model(model)
    finally:
        for name, tensor in replaced.items():
            graph.initializers[name].const_value = tensor
    model_stream.write(proto.SerializeToString())
    if meter is not None:
        meter.total = offset
    with contextlib.ExitStack() as stack:
        if streamed:
            out = stack.enter_context(_Writer(stack.enter_context(open_data()), meter))
            for tensor in streamed.values():
                out.write_tensor(tensor, tensor.nbytes)
    return summary


def _why_copied(tensor: Any, model_folder: Path | None) -> str | None:
    """Why a weight read from a checkpoint file is written into a one-file model."""
    if not isinstance(tensor, SourceTensor) or tensor.file_range is None:
        return None
    reference = checkpoint_reference(tensor, model_folder) if model_folder is not None else None
    if isinstance(reference, str):
        return reference
    return "the model is saved as one file (external_data=True references checkpoint bytes)"


def write_model(model: ir.Model, stream: Writable, meter: Meter | None = None,
                model_folder: Path | None = None) -> WeightsWritten:
    """Write `model` as one ModelProto, weights streamed from their tensors.

    ir.serde.serialize_model would copy every weight into the proto and SerializeToString
    copies it again (twice the weights in memory). Here onnx_ir serializes the graph with each
    weight replaced by a data-less header, and the weights' bytes are written after it, each as
    its TensorProto's raw_data field: protobuf accepts a message's fields in any order, so the
    file parses to the same ModelProto.
    """
    graph = model.graph
    summary = WeightsWritten()
    streamed: dict[str, Any] = {}
    for name, value in graph.initializers.items():
        if isinstance(value.const_value, SourceTensor | DerivedTensor):
            summary.count(value.const_value, value.const_value.nbytes, _why_copied(value.const_value, model_folder))
        if value.const_value is not None and _streamable(value.const_value):
            value.const_value.name = name
            streamed[name] = value.const_value
            # a stand-in with just what serialize_model reads (name, dtype, shape, tobytes)
            value.const_value = _Header(value.const_value)  # type: ignore[assignment]
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
        raise ExportArgumentError(f"the model is {graph_size / 2**30:.1f} GiB, over protobuf's 2 GiB limit for one file; "
                         "save it to a file path with external_data=True (weights beside it in <name>.data)")
    with _Writer(stream, meter) as out:
        out.write(proto.SerializeToString())
        out.write(_field_prefix(_MODEL_GRAPH, graph_size))
        out.write(graph_body)
        for head, size, tensor in pieces:
            out.write(head)
            if size:
                out.write_tensor(tensor, size)
    return summary


def model_bytes(model: ir.Model) -> bytes:
    buffer = io.BytesIO()
    write_model(model, buffer)
    return buffer.getvalue()
