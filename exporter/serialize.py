"""Writing an onnx_ir model to a file with its weights streamed from their tensors.

onnx_ir's serializer copies every weight into the ModelProto and SerializeToString copies it
again; here the graph is serialized without the weights' bytes and each weight is written from
its own memory, by a background thread, so the disk works while the next weight is prepared.
"""

from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

import numpy as np
import onnx
import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import TorchTensor

# Protobuf cannot hold a message over 2 GiB: larger models must keep weights outside.
PROTOBUF_LIMIT = 2 * 1024**3


def weights_bytes(model: ir.Model) -> int:
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


# A weight that must be copied to be written (a folded transpose) goes out in pieces of about this
# size, through two reusable buffers: the extra memory stays under 2 pieces whatever the weight.
_PIECE_BYTES = 4 * 2**20


class _Writer:
    """Writes to `stream` in order on one background thread, so the disk works while the caller
    prepares the next piece: a non-contiguous array is copied piece by piece into one of two
    buffers (torch copies a transposed array about 2.5x faster than numpy), each written while
    the other fills. Reports the first failed write when closed."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
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

    def write(self, data: Any) -> None:
        """Queue bytes-like `data`; it must not change until written (the queue holds a reference)."""
        self._writes.append(self._thread.submit(self._stream.write, data))

    def write_tensor(self, tensor: Any, size: int) -> None:
        """A weight's raw bytes: from the torch tensor's own memory where possible (no copy)."""
        array: Any
        if isinstance(tensor, TorchTensor):
            raw = tensor.raw.detach().cpu().contiguous().reshape(-1)
            array = raw.view(torch.uint8).numpy() if raw.numel() else np.empty(0, np.uint8)
        elif isinstance(tensor.raw, np.ndarray):  # a folded constant, often a transposed view of a weight
            array = tensor.raw
        else:
            array = np.frombuffer(tensor.tobytes(), np.uint8)
        if array.nbytes != size:
            raise ValueError(f"weight '{tensor.name}' holds {array.nbytes} bytes, its type and shape say {size}")
        if array.flags.c_contiguous:
            self.write(array.reshape(-1).view(np.uint8))
            return
        rows = max(1, _PIECE_BYTES * array.shape[0] // array.nbytes)  # non-contiguous: not 0-d, not empty
        for start in range(0, array.shape[0], rows):
            self._write_copy(array[start:start + rows])

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
    with _Writer(data_stream) as out:
        for tensor in streamed.values():
            out.write_tensor(tensor, tensor.nbytes)


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
    with _Writer(stream) as out:
        out.write(proto.SerializeToString())
        out.write(_field_prefix(_MODEL_GRAPH, graph_size))
        out.write(graph_body)
        for head, size, tensor in pieces:
            out.write(head)
            if size:
                out.write_tensor(tensor, size)


def model_bytes(model: ir.Model) -> bytes:
    buffer = io.BytesIO()
    write_model(model, buffer)
    return buffer.getvalue()
