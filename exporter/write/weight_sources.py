"""Initializers that stand for the model's state, and initializers computed from them.

Each weight of a translated model (a parameter, a buffer, a tensor constant) is a `SourceTensor`
named by its state-dict path. It may hold no data yet (a model built in fake mode or on the meta
device), and when its data comes from a checkpoint file it knows where its bytes lie there
(`FileRange`), so that saving can point at them instead of copying them.

An initializer that the export computes from weights (a folded Cast, a reshaped bias) is a
`DerivedTensor`: the ONNX node that computes it, with its inputs. It is computed when it is
written, from whatever its sources hold then, so weights applied after the export reach every
initializer made from them, and a derived weight is produced once, while it is streamed out.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import TorchTensor
from torch._subclasses.fake_tensor import FakeTensor

from aten2onnx.exporter.errors import OnnxExporterError, WeightsNotAppliedError


def is_data_less(tensor: torch.Tensor) -> bool:
    """A tensor with metadata only: fake (aten2onnx.enable_fake_mode, torch's FakeTensorMode) or on meta."""
    return isinstance(tensor, FakeTensor) or tensor.device.type == "meta"


@dataclass(frozen=True)
class FileRange:
    """Where a tensor's bytes lie, as stored, in a checkpoint file; with the file's size and time of
    change when it was read, so a file changed since is noticed before anything points into it."""

    path: str      # absolute and resolved (no symbolic links)
    offset: int
    length: int
    file_size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str, offset: int, length: int) -> FileRange:
        resolved = os.path.realpath(path)
        status = os.stat(resolved)
        return cls(resolved, offset, length, status.st_size, status.st_mtime_ns)

    def check_unchanged(self) -> None:
        try:
            status = os.stat(self.path)
        except OSError as exc:
            raise OnnxExporterError(f"the checkpoint file {self.path} is gone since apply_weights read it "
                                    f"({exc.strerror}); apply the weights again") from exc
        if (status.st_size, status.st_mtime_ns) != (self.file_size, self.mtime_ns):
            raise OnnxExporterError(f"the checkpoint file {self.path} changed since apply_weights read it; apply "
                                    "the weights again so the saved model points at the bytes it holds now")


def _stored(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor as the initializer holds it: complex values as (real, imag) pairs on a trailing axis
    (ONNX Runtime has no complex types; see translate.set_type_from_meta)."""
    tensor = tensor.detach()
    return torch.view_as_real(tensor) if tensor.is_complex() else tensor


class SourceTensor(TorchTensor):
    """An initializer holding one tensor of the model's state, named by its state-dict path (`key`).

    `kind` says what it is in the model: "parameter", "buffer", "non-persistent buffer" (no
    checkpoint holds those) or "constant" (a tensor the forward creates). `origin` identifies the
    model's tensor, so tied weights (one tensor under two paths) are known as one. `file_range` is
    set when the data was read from a checkpoint file and is the file's bytes as they are.
    """

    def __init__(self, tensor: torch.Tensor, *, key: str, kind: str, origin: int, name: str | None = None):
        super().__init__(_stored(tensor), name=name)
        self.key, self.kind, self.origin = key, kind, origin
        self.expected = (tensor.dtype, tuple(int(d) for d in tensor.shape))  # as the model's state holds it
        self.file_range: FileRange | None = None
        self.release: Callable[[], None] | None = None  # drops checkpoint pages from memory once written

    @property
    def has_data(self) -> bool:
        return not is_data_less(self.raw)

    def set_data(self, tensor: torch.Tensor, file_range: FileRange | None = None,
                 release: Callable[[], None] | None = None) -> None:
        """Hold `tensor` (already checked against `expected`) from now on."""
        self._raw = _stored(tensor)
        self.file_range = file_range if tensor.is_contiguous() else None
        self.release = release

    def _require_data(self) -> None:
        if not self.has_data:
            raise WeightsNotAppliedError([self.key], what="read a weight of")

    def numpy(self) -> np.ndarray:
        self._require_data()
        return super().numpy()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        self._require_data()
        return super().__array__(dtype)

    def tobytes(self) -> bytes:
        self._require_data()
        return super().tobytes()

    def tofile(self, file: Any) -> None:
        self._require_data()
        super().tofile(file)


@dataclass(frozen=True)
class NodeRecipe:
    """One ONNX node computing a derived weight: op, opset version, attributes and input tensors."""

    domain: str
    op_type: str
    version: int
    attributes: tuple[tuple[str, Any], ...]   # (name, ir.Attr)
    inputs: tuple[Any, ...]                   # ir.TensorProtocol or None (an omitted optional input)

    def describe(self) -> str:
        attributes = ", ".join(f"{name}={_attribute_text(attr)}" for name, attr in self.attributes)
        operands = ", ".join(describe(t) for t in self.inputs)
        return f"{self.op_type}{f'[{attributes}]' if attributes else ''}({operands})"


def _attribute_text(attribute: Any) -> str:
    value = attribute.value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "tensor" if attribute.type == ir.AttributeType.TENSOR else str(value)


def describe(tensor: Any) -> str:
    """`model.fc.weight`, `Transpose[perm=[1, 0]](model.fc.weight)`, or `constant` for anything else."""
    if tensor is None:
        return "none"
    if isinstance(tensor, SourceTensor):
        return tensor.key
    if isinstance(tensor, DerivedTensor):
        return tensor.recipe.describe()
    return "constant"


def evaluate(recipe: NodeRecipe, arrays: list[np.ndarray | None]) -> np.ndarray:
    """The node's output on `arrays`, computed as onnxscript's constant folder computes it (ONNX's
    reference implementation), so a derived weight is what folding at export would have made."""
    import onnx.reference.ops

    implementation = onnx.reference.ops.load_op(recipe.domain, recipe.op_type, recipe.version)
    attributes = {name: ir.serde.serialize_tensor(attr.value) if attr.type == ir.AttributeType.TENSOR else attr.value
                  for name, attr in recipe.attributes}
    with np.errstate(all="ignore"):
        result = implementation.eval(*arrays, **attributes)
    return np.asarray(result[0] if isinstance(result, (tuple, list)) else result)


class DerivedTensor(ir.LazyTensor):
    """An initializer computed from weights by `recipe`, when it is read (never kept)."""

    def __init__(self, recipe: NodeRecipe, dtype: ir.DataType, shape: ir.Shape, name: str | None = None):
        super().__init__(self._compute, dtype=dtype, shape=shape, name=name)
        self.recipe = recipe

    def _compute(self) -> ir.Tensor:
        arrays = [None if t is None else t.numpy() for t in self.recipe.inputs]
        result = evaluate(self.recipe, arrays)
        if tuple(result.shape) != tuple(self.shape) or ir.DataType.from_numpy(result.dtype) != self.dtype:
            raise OnnxExporterError(
                f"computing weight '{self.name}' = {self.recipe.describe()} gave {result.dtype} {list(result.shape)}, "
                f"export recorded {self.dtype} {list(self.shape)}")
        return ir.Tensor(result, dtype=self.dtype, name=self.name)


def is_weight(tensor: Any) -> bool:
    return isinstance(tensor, (SourceTensor, DerivedTensor))


def sources_of(tensor: Any) -> Iterator[SourceTensor]:
    """The SourceTensors `tensor` is made of (itself, for one)."""
    if isinstance(tensor, SourceTensor):
        yield tensor
    elif isinstance(tensor, DerivedTensor):
        for operand in tensor.recipe.inputs:
            yield from sources_of(operand)


def initializer_tensors(model: ir.Model) -> Iterator[tuple[ir.Value, Any]]:
    for graph in model.graphs():
        for value in graph.initializers.values():
            if value.const_value is not None:
                yield value, value.const_value


def data_less_weights(model: ir.Model) -> list[str]:
    """State paths of the weights the model's initializers need and that have no data yet."""
    names: dict[str, None] = {}
    for _, tensor in initializer_tensors(model):
        for source in sources_of(tensor):
            if not source.has_data:
                names[source.key] = None
    return list(names)


def require_weights(model: ir.Model, what: str = "save") -> None:
    missing = data_less_weights(model)
    if missing:
        raise WeightsNotAppliedError(missing, what)


# -- hiding weights from onnxscript's passes ----------------------------------------------------------------
def _not_read_error() -> type[Exception]:
    """The error a hidden weight's values raise: onnxscript's folder takes a FileNotFoundError as
    "no value known" (as for external data that is not there), its rewriter takes a MatchFailureError
    as "rule does not apply" (a rule that checks a bias for zeros must not fire on a weight)."""
    try:
        from onnxscript.rewriter._basics import MatchFailureError
    except ImportError:  # an onnxscript without it: the folder's error alone
        return FileNotFoundError

    class WeightNotRead(FileNotFoundError, MatchFailureError):
        def __init__(self, message: str):
            FileNotFoundError.__init__(self, message)
            MatchFailureError.__init__(self, message)

    return WeightNotRead


_WeightNotRead = _not_read_error()


class _Hidden(ir.LazyTensor):
    """Stands in for a weight while onnxscript's folder and optimizer run: they see its type and
    shape but never its values (reading them raises `_WeightNotRead`), and no two are equal (so
    deduplication never merges two weights that hold the same values today but come from
    different checkpoint tensors, and no rule bakes today's values into the graph)."""

    def __init__(self, tensor: Any):
        super().__init__(self._unreadable, dtype=tensor.dtype, shape=tensor.shape, name=tensor.name)

    def _unreadable(self) -> Any:
        raise _WeightNotRead(f"weight '{self.name}' is not read at export time")

    def tobytes(self) -> bytes:
        return b"aten2onnx weight %d" % id(self)

    def __repr__(self) -> str:
        return f"_Hidden({self.name!r}, {self.dtype}, {self.shape})"


def reads_weights(node: ir.Node) -> bool:
    """The node takes a hidden weight (only while `hidden_weights` is active)."""
    return any(v is not None and isinstance(v.const_value, _Hidden) for v in node.inputs)


@contextlib.contextmanager
def hidden_weights(model: ir.Model) -> Iterator[None]:
    """Weights replaced by `_Hidden` stand-ins for the duration (rewrite/passes.py silences onnxscript's
    folder meanwhile: its warnings about values it could not read are about these stand-ins)."""
    swapped: list[tuple[ir.Value, Any, _Hidden]] = []
    for value, tensor in list(initializer_tensors(model)):
        if is_weight(tensor):
            hidden = _Hidden(tensor)
            value.const_value = hidden
            swapped.append((value, tensor, hidden))
    try:
        yield
    finally:
        for value, tensor, hidden in swapped:
            if value.const_value is hidden:
                value.const_value = tensor
