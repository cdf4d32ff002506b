"""Errors users see. Each names what went wrong, where in the model, and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class OnnxExporterError(RuntimeError):
    """Base class of every aten2onnx export error (same name as torch.onnx's)."""


@dataclass(frozen=True)
class ModelLocation:
    """Where an FX node came from: module path (`features.0`), class and source line."""

    module_path: str
    module_class: str
    source: str

    def __str__(self) -> str:
        where = f"module '{self.module_path}' ({self.module_class})" if self.module_path else "the model's forward"
        return f"{where}, {self.source}" if self.source else where


@dataclass(frozen=True)
class UnsupportedUse:
    overload: str
    location: ModelLocation
    count: int


class UnsupportedOpsError(OnnxExporterError):
    """Every ATen op of the model that has no mapping at the target opset, listed at once."""

    def __init__(self, opset: int, uses: list[UnsupportedUse], newer: dict[str, int]):
        self.opset = opset
        self.uses = uses
        lines = [f"aten2onnx cannot export this model at opset {opset}: "
                 f"{len({u.overload for u in uses})} ATen operator(s) have no ONNX mapping."]
        for use in uses:
            later = f" (mapped from opset {newer[use.overload]}: pass opset_version={newer[use.overload]})" \
                if use.overload in newer else ""
            lines.append(f"  {use.overload} x{use.count} at {use.location}{later}")
        lines.append("To add a mapping, write a spec entry in opspecs/*.yaml and run `make codegen` "
                     "(README, 'Add an operator'); `aten2onnx ops` lists what is supported.")
        if any("::" in u.overload and not u.overload.startswith("aten::") for u in uses):
            lines.append("For an op of your own library, register a symbolic with "
                         "aten2onnx.register_custom_op_symbolic('ns::op', fn, opset) or load a spec file with "
                         "aten2onnx.load_opspecs(path).")
        lines.append("Or keep such ops as ATen nodes with operator_export_type=OperatorExportTypes.ONNX_ATEN_FALLBACK; "
                     "report=True writes a Markdown report with a spec skeleton for each.")
        super().__init__("\n".join(lines))


class ConstraintError(OnnxExporterError):
    """A spec constraint does not hold for the arguments this model passes."""

    def __init__(self, overload: str, message: str, spec_source: str, location: ModelLocation | None,
                 detail: str | None = None):
        self.overload = overload
        self.constraint_message = message  # the spec's message, word for word
        self.spec_source = spec_source     # the constraint's file:line: its identity
        self.detail = detail               # what this model passes, when the mapping says
        where = f" at {location}" if location else ""
        told = f" ({detail})" if detail else ""
        super().__init__(f"{overload}{where}: {message}{told} (constraint in {spec_source})")


class CaptureError(OnnxExporterError):
    """torch.export could not capture the model. torch's own error is chained (`__cause__`); what
    torch printed meanwhile (its partial graphs, logs) is `torch_output`, kept off the terminal."""

    def __init__(self, message: str, torch_output: str = ""):
        super().__init__(message)
        self.torch_output = torch_output


class ExportArgumentError(OnnxExporterError, ValueError):
    """An argument of export(), of ONNXProgram.save or of export_hf is wrong: says which, what was given and
    what is accepted."""


class ModelInputError(OnnxExporterError, ValueError):
    """The inputs given to an exported model (`ONNXProgram(...)`) do not fit it: too few or too many, a
    wrong rank, a size it was not exported for. `problems` names each input and what the model takes;
    a ValueError too, as wrong inputs to a function are in Python."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("these inputs do not fit the exported model:\n" + "\n".join(f"  - {p}" for p in problems))


class OpspecError(OnnxExporterError):
    """A user's spec file has problems: every one of them, as `file:line: message` lines."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the opspecs; nothing was loaded:\n" + "\n".join(problems))


class VerificationError(OnnxExporterError):
    """ONNX Runtime and eager PyTorch disagree beyond tolerance (verify=True)."""

    def __init__(self, message: str, comparisons: Sequence[object]):
        self.comparisons = comparisons
        super().__init__(message)


class TranslationError(OnnxExporterError):
    """A symbolic function failed on this model's node: names the op, where, and the function."""


class DtypeOpsetError(OnnxExporterError):
    """The model computes in a dtype that no ONNX op takes at the target opset (bfloat16 before 13)."""


class WeightsNotAppliedError(OnnxExporterError):
    """A model exported in fake mode (or from the meta device) is saved or run before its weights exist."""

    def __init__(self, names: list[str], what: str = "save"):
        self.names = names
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        super().__init__(
            f"cannot {what} the ONNX model: {len(names)} weight(s) have no data ({shown}); the model was built "
            "in aten2onnx.enable_fake_mode() or on the meta device. Call program.apply_weights(...) with a state "
            "dict, a .safetensors file, a sharded checkpoint folder or a torch.save file first, or save the graph "
            "alone with program.save(path, include_initializers=False)."
        )


class CheckpointMismatchError(OnnxExporterError, ValueError):
    """A checkpoint given to ONNXProgram.apply_weights does not fit the model; lists every mismatch at once.

    `missing`, `unexpected` and `mismatched` hold every problem (the message shows the first ones).
    """

    def __init__(self, source: str, missing: list[str], unexpected: list[str], mismatched: list[str],
                 hint: str = ""):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        count = len(missing) + len(unexpected) + len(mismatched)
        lines = [f"the checkpoint {source} does not fit the exported model: {count} mismatch(es); "
                 "no weight was applied"]
        for title, items in (("missing from the checkpoint", missing), ("wrong shape or dtype", mismatched),
                             ("not weights of the model", unexpected)):
            if not items:
                continue
            lines.append(f"  {title} ({len(items)}):")
            lines += [f"    {item}" for item in items[:_SHOWN_PER_KIND]]
            if len(items) > _SHOWN_PER_KIND:
                lines.append(f"    ... and {len(items) - _SHOWN_PER_KIND} more (the error's .missing, .mismatched "
                             "and .unexpected list them all)")
        if hint:
            lines.append(f"Hint: {hint}")
        lines.append("Names are the model's state-dict paths (model.state_dict() keys); pass strict=False to accept "
                     "a checkpoint that leaves out or adds tensors (weights left out keep their current values).")
        super().__init__("\n".join(lines))


_SHOWN_PER_KIND = 25
class RuntimeVersionError(OnnxExporterError):
    """The installed onnxruntime cannot run the model: missing, or older than the model's opset needs."""
