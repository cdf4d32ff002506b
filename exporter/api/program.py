"""ONNXProgram: the exported model, applying weights to it, saving it (through aten2onnx.exporter.write.serialize) and running it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx
import onnx_ir as ir
import torch
from torch.export import ExportedProgram
from torch.utils._pytree import tree_leaves

from aten2onnx.exporter import progress
from aten2onnx.exporter.api import input_checks
from aten2onnx.exporter.errors import ExportArgumentError, ModelInputError, RuntimeVersionError
from aten2onnx.exporter.rewrite import runtime_versions
from aten2onnx.exporter.write import serialize, weight_sources
from aten2onnx.exporter.write.direct_file import open_for_writing
from aten2onnx.exporter.write.weight_record import WeightRecord

# Weights from this size on are written past the page cache (exporter/write/direct_file.py says why);
# below it the page cache is as fast and the file stays cached for a session to load.
DIRECT_WRITE_MIN = 64 * 2**20


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
        self.weight_feeds: dict[str, Any] = {}
        # every weight by state-dict path, for apply_weights (taken before passes fold any of them)
        self.weight_record = WeightRecord.of(model)
        # what the last save did with the weights: bytes referenced in checkpoints, bytes written
        self.saved_weights: serialize.WeightsWritten | None = None
        self.verification: list[Any] = []   # verify.OutputComparison per output, when verified
        self.report_path: Path | None = None  # the Markdown report, when report=True
        # nodes rewritten after translation (aten2onnx.exporter.rewrite.passes.legalize), `pass: Op(input dtypes)`
        self.rewrites: list[str] = list(model.meta.get("aten2onnx.rewrites", ()))
        # how the model was captured: torch.export, or (dynamo=False, fallback=True) torch.jit.trace/script
        self.capture_method = "torch.export"
        self.capture_notes: list[str] = []    # values tracing fixed, fallbacks taken
        # the input sizes torch.export proved the model for; ONNX cannot check them itself
        inputs = [v for v in model.graph.inputs if not v.is_initializer()]
        self.size_rules = input_checks.size_rules(exported_program, [v.shape for v in inputs], value_names(inputs))
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
        weight_sources.require_weights(self.model, "build the ModelProto of")
        return ir.serde.serialize_model(self.model)

    def apply_weights(self, state_dict: Mapping[str, torch.Tensor] | str | os.PathLike[str], *,
                      strict: bool = True) -> None:
        """Give the model's weights their values: from a state dict, or from a checkpoint path (a
        .safetensors file, a folder of sharded files with its index JSON, or a torch.save file,
        which is loaded with mmap=True). Names are state-dict paths (`model.state_dict()` keys).

        Nothing is read until the model is saved or run, and a weight read from a checkpoint file
        as it is stored is not even copied then: `save` points the model's external data at its
        bytes in the file when the file is inside the model's folder. Every missing, unexpected,
        mis-shaped or mis-typed tensor is listed in one CheckpointMismatchError, and then nothing is
        applied; strict=False accepts checkpoints that leave out weights (they keep their values)
        or hold others. Initializers computed from weights at export are computed from these.
        """
        self.weight_record.apply(state_dict, strict=strict)
        self._session = None

    def save(self, destination: str | os.PathLike[str] | BinaryIO, *, external_data: bool | None = None,
             include_initializers: bool = True, keep_initializers_as_inputs: bool = False,
             copy_weights: bool = False) -> None:
        """Write the model; weights go to external data beside it when asked, over 2 GB, or when they
        can be referenced where they are.

        Weights read from a checkpoint file by `apply_weights` are referenced in it (no byte
        copied) when the file is inside the model's folder and external data is used (the default
        then); `copy_weights=True` writes them into `<name>.data` instead. `include_initializers=False`
        writes the graph without its weights (as inputs with `keep_initializers_as_inputs=True`),
        which a model exported in fake mode can do before any weights are applied. The file is
        written to a temporary name first, so a failure leaves no partial model. A binary file
        object receives the whole model (weights included). `saved_weights` tells what was referenced
        and what was written.
        """
        with self._initializers_arranged(include_initializers, keep_initializers_as_inputs):
            weight_sources.require_weights(self.model)
            self.saved_weights = self._save(destination, external_data, copy_weights)

    def _save(self, destination: str | os.PathLike[str] | BinaryIO, external_data: bool | None,
              copy_weights: bool) -> serialize.WeightsWritten:
        weights = serialize.weights_bytes(self.model)
        if hasattr(destination, "write") and not isinstance(destination, (str, os.PathLike)):
            if external_data:
                raise ExportArgumentError("external_data needs a file path to put the weights beside; got a file object")
            return serialize.write_model(self.model, destination,
                                         progress.meter("writing the model", weights))
        path = Path(destination)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot save the ONNX model to '{path}': folder '{path.parent}' does not exist")
        folder = None if copy_weights else path.parent
        if external_data is None:
            external_data = weights >= serialize.PROTOBUF_LIMIT or folder is not None and self._referable(folder)
        # Asked for explicitly, every weight goes outside; chosen for size or references, tiny
        # tensors (under onnx_ir's 256-byte threshold) stay inline as onnx does.
        threshold = 0 if external_data else 256
        data_name = path.name + ".data"
        direct = weights >= DIRECT_WRITE_MIN  # the file that holds the weights skips the page cache
        meter = progress.meter(f"writing {path.name}", weights)
        with tempfile.TemporaryDirectory(dir=path.parent) as staging:
            staged, staged_data = Path(staging) / path.name, Path(staging) / data_name
            if external_data:
                with open(staged, "wb") as stream:
                    written = serialize.write_external(self.model, stream,
                                                       lambda: open_for_writing(staged_data, direct), data_name,
                                                       threshold, folder, meter)
            else:
                with open_for_writing(staged, direct) as stream:
                    written = serialize.write_model(self.model, stream, meter, path.parent)
            if meter is not None:
                meter.close()
            if staged_data.exists():
                _move(staged_data, path.parent / data_name)
            elif external_data and (path.parent / data_name).is_file():
                (path.parent / data_name).unlink()  # a former save's weights: this model points elsewhere
            _move(staged, path)
        return written

    def _referable(self, folder: Path) -> bool:
        """Some weight can be pointed at in its checkpoint file from a model saved in `folder`."""
        return any(isinstance(serialize.checkpoint_reference(tensor, folder), serialize.CheckpointBytes)
                   for _, tensor in weight_sources.initializer_tensors(self.model))

    @contextlib.contextmanager
    def _initializers_arranged(self, include: bool, as_inputs: bool) -> Iterator[None]:
        """For one save: initializers left out (include=False), or also listed as graph inputs (as_inputs)."""
        graph = self.model.graph
        if include and not as_inputs:
            yield
            return
        initializers = dict(graph.initializers)
        inputs = list(graph.inputs)
        if as_inputs:
            graph.inputs.extend(v for v in initializers.values() if not v.is_graph_input())
        if not include:
            graph.initializers.clear()
        try:
            yield
        finally:
            if not include:
                for value in initializers.values():
                    graph.register_initializer(value)
            graph.inputs.clear()
            graph.inputs.extend(inputs)

    def optimize(self) -> None:
        """Constant folding and dead-code elimination (onnxscript's optimizer), in place."""
        from aten2onnx.exporter.rewrite import passes

        passes.optimize(self.model)
        self._session = None

    def initialize_inference_session(self) -> Any:
        self.check_runtime()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        weight_sources.require_weights(self.model, "run")
        self._session = onnxruntime.InferenceSession(
            serialize.model_bytes(self.model), options, providers=["CPUExecutionProvider"]
        )
        return self._session

    def check_runtime(self) -> None:
        """Raise RuntimeVersionError when the installed onnxruntime cannot run this model's opset
        (it would refuse the model with an error from inside its loader)."""
        version = runtime_versions.installed_version()
        if version is None:
            raise RuntimeVersionError("running the ONNX model needs onnxruntime, which is not installed: "
                                      "pip install onnxruntime")
        opset = self.model.opset_imports.get("", self.model.opset_imports.get("ai.onnx"))
        newest = runtime_versions.max_opset(version)
        if opset is not None and opset > newest:
            needed = runtime_versions.oldest_running(opset)
            raise RuntimeVersionError(
                f"this model is opset {opset}, and the installed onnxruntime {version} runs opsets up to {newest}: "
                f"export with opset_version={newest} (or leave it out: the default follows the installed runtime)"
                + (f", or install onnxruntime>={needed}" if needed else ""))

    def __call__(self, *args: Any, **kwargs: Any) -> Sequence[torch.Tensor]:
        """Run the model in ONNX Runtime on torch tensors; returns torch tensors.

        Inputs are flattened as torch.export flattens them (args, then kwargs; tuples, lists
        and dicts to their tensors). Weight inputs (export_params=False) take the model's own
        weights unless passed; initializers that are also inputs keep their stored values.
        Complex inputs are fed as torch.view_as_real(input); complex outputs come back in that
        form too (float, trailing dimension 2 for (real, imag)). Input sizes outside what
        torch.export proved the model for (a Dim's range, dims that must be equal, static
        dims), like too few or too many inputs, raise ModelInputError (a ValueError) before
        anything runs; a model of an opset newer than the installed onnxruntime runs raises
        RuntimeVersionError.
        """
        session = self._session or self.initialize_inference_session()
        flat = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        if not kwargs:  # torch.export orders keyword inputs by the signature: checked positionally only
            input_checks.check_sizes(self.size_rules, flat)
        graph = self.model.graph
        inputs = [v for v in graph.inputs if not v.is_initializer()]
        required = [name for name in value_names(inputs) if name not in self.weight_feeds]
        given = dict(zip(required, flat))
        if len(flat) > len(required) + len(self.weight_feeds):
            raise ModelInputError([self._count_problem(required, len(flat))])
        extra = flat[len(required):]
        for name, default in self.weight_feeds.items():
            given[name] = extra.pop(0) if extra else default
        missing = [name for name in required if name not in given]
        if missing:
            raise ModelInputError([self._count_problem(required, len(flat))])
        feeds = {name: _to_numpy(value) for name, value in given.items()}
        return [torch.from_numpy(np.asarray(out)) for out in session.run(None, feeds)]


    def _count_problem(self, required: list[str], given: int) -> str:
        weights = f", then optionally its {len(self.weight_feeds)} weight(s)" if self.weight_feeds else ""
        return (f"the ONNX model takes {len(required)} tensor input(s) ({', '.join(required) or 'none'}{weights}), "
                f"got {given}: pass the tensors the model was exported with, in the same order (Python numbers and "
                "None among the example inputs are constants of the export, not inputs)")


def value_names(values: Iterable[ir.Value]) -> list[str]:
    """The names of graph inputs or outputs (an exported model names every one: ONNX requires it)."""
    return [v.name or "" for v in values]


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
