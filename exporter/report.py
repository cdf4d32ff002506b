"""report=True: a Markdown report of one export, written on success and on failure.

It holds what is needed to fix a failed export without re-running it: the capture result,
op counts, every unsupported op with where it is used and a ready-to-edit spec skeleton
built from the torch schema, constraint violations, and the verification numbers.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx_ir as ir
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from codegen.onnx_schema import schema_at
from codegen.torch_schema import resolve_overload, schema_of
from exporter import registry
from exporter.errors import CaptureError, ConstraintError, UnsupportedOpsError, UnsupportedUse


@dataclass
class ExportRecord:
    """What an export did so far; filled stage by stage, rendered by `render`."""

    model_name: str
    opset: int
    options: dict[str, Any] = field(default_factory=dict)
    exported_program: ExportedProgram | None = None
    onnx_model: ir.Model | None = None
    verification: list[Any] = field(default_factory=list)
    saved_weights: Any = None  # serialize.WeightsWritten of the save inside export(), when there was one
    error: BaseException | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _onnx_guess(op_name: str) -> str | None:
    """An ONNX op named like the ATen op (`erf` -> `Erf`, `hardswish` -> `HardSwish`), if any."""
    candidates = {op_name.title().replace("_", ""), op_name[:1].upper() + op_name[1:]}
    return next((c for c in sorted(candidates) if schema_at(c, registry.MAX_OPSET) is not None), None)


def spec_skeleton(overload: str, uses: list[UnsupportedUse]) -> str:
    """A YAML entry for `overload`, from its torch schema, ready to fill in and paste into opspecs/."""
    schema = schema_of(overload)
    op = resolve_overload(overload)
    namespace, rest = overload.split("::", 1)
    op_name, _, overload_name = rest.partition(".")
    short = rest.removesuffix(".default") if namespace == "aten" else overload.removesuffix(".default")
    lines = [f"# {op._schema if op is not None else overload}"]
    for use in uses:
        lines.append(f"# used x{use.count} at {use.location}")
    if schema is None:
        return "\n".join([*lines, f"- aten: {short}", "  emit: TODO()"])
    tensors = [a.name for a in schema.arguments if a.is_tensor]
    others = [f"{a.name} ({a.type}{f', default {a.default!r}' if a.has_default else ''})"
              for a in schema.arguments if not a.is_tensor]
    guess = _onnx_guess(op_name)
    lines.append(f"- aten: {short}")
    if guess and not others:
        lines.append(f"  onnx: {guess}                     # check: ONNX {guess} takes {', '.join(tensors)}")
    else:
        call = f"{guess or 'TODO'}({', '.join(tensors)})"
        lines.append(f"  emit: {call}   # the ONNX expression; see opspecs/README.md")
    if others:
        lines.append(f"  # other arguments, usable in emit and constraints: {', '.join(others)}")
    lines += [
        "  # constraints:",
        "  #   - require: <a condition on the arguments>",
        "  #     message: <what users read when it does not hold>",
        "  # test:",
        f"  #   {tensors[0] if tensors else 'arg'}: {{rank: [1, 4]}}",
    ]
    return "\n".join(lines)


def _capture_section(record: ExportRecord) -> list[str]:
    lines = ["## Capture (torch.export)", ""]
    if isinstance(record.error, CaptureError):
        return [*lines, "Failed:", "", "```text", str(record.error), "```", ""]
    program = record.exported_program
    if program is None:
        return [*lines, "Not reached.", ""]
    calls = [n for n in program.graph.nodes if n.op == "call_function"]
    inputs = [s.arg.name for s in program.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    seconds = record.seconds.get("capture")
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    lines.append(f"Succeeded{took}: {len(calls)} ATen calls, user inputs: {', '.join(inputs) or 'none'}.")
    return [*lines, ""]


def _aten_section(record: ExportRecord) -> list[str]:
    program = record.exported_program
    if program is None:
        return []
    counts = Counter(
        f"{n.target._schema.name}.{n.target._overloadname}" if hasattr(n.target, "_schema") else str(n.target)
        for n in program.graph.nodes if n.op == "call_function" and "getitem" not in str(n.target)
    )
    lines = ["## ATen operators (after decomposition)", "", "| operator | count | mapping |", "|---|---:|---|"]
    for name, count in sorted(counts.items()):
        source = registry.source_of(name) if registry.lookup(name, record.opset) else None
        lines.append(f"| `{_cell(name)}` | {count} | {_cell(source) if source else '**none**'} |")
    return [*lines, ""]


def _onnx_section(record: ExportRecord) -> list[str]:
    model = record.onnx_model
    if model is None:
        return []
    counts = Counter(f"{n.domain + '::' if n.domain else ''}{n.op_type}" for n in model.graph.all_nodes())
    opsets = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in model.opset_imports.items())
    lines = ["## ONNX model", "", f"Opsets: {opsets}. Inputs: {', '.join(v.name for v in model.graph.inputs)}. "
             f"Outputs: {', '.join(v.name for v in model.graph.outputs)}. Initializers: {len(model.graph.initializers)}.",
             "", "| ONNX operator | count |", "|---|---:|"]
    lines += [f"| `{_cell(op)}` | {count} |" for op, count in sorted(counts.items())]
    return [*lines, ""]


def _unsupported_section(record: ExportRecord) -> list[str]:
    error = record.error
    if not isinstance(error, UnsupportedOpsError):
        return []
    lines = ["## Unsupported operators", "", f"No mapping at opset {error.opset}:", "",
             "| operator | count | module | source |", "|---|---:|---|---|"]
    by_op: dict[str, list[UnsupportedUse]] = {}
    for use in error.uses:
        by_op.setdefault(use.overload, []).append(use)
        where = use.location
        module = f"{where.module_path} ({where.module_class})" if where.module_path else "(top level)"
        lines.append(f"| `{_cell(use.overload)}` | {use.count} | {_cell(module)} | {_cell(where.source)} |")
    lines += ["", "A spec entry for each, to complete and add to `opspecs/<family>.yaml` (then `make codegen`), "
              "or to a file of your own loaded with `exporter.load_opspecs(path)`:", ""]
    for overload, uses in by_op.items():
        if "::" not in overload:
            lines += [f"`{overload}` is not an ATen operator: it cannot have a spec.", ""]
            continue
        lines += ["```yaml", spec_skeleton(overload, uses), "```", ""]
    return lines


def _constraint_section(record: ExportRecord) -> list[str]:
    error = record.error
    if not isinstance(error, ConstraintError):
        return []
    return ["## Constraint violations", "", "| operator | constraint | spec |", "|---|---|---|",
            f"| `{_cell(error.overload)}` | {_cell(error.constraint_message)} | {_cell(error.spec_source)} |",
            "", str(error), ""]


def _verification_section(record: ExportRecord) -> list[str]:
    comparisons = record.verification or list(getattr(record.error, "comparisons", []) or [])
    if not comparisons:
        return []
    lines = ["## Verification (ONNX Runtime vs eager PyTorch)", "",
             "| output | dtype | shape | max abs error | max rel error | atol | rtol | result |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for c in comparisons:
        result = "ok" if c.passed else f"**mismatch**: {_cell(c.problem)}"
        lines.append(f"| {_cell(c.name)} | {c.dtype} | {list(c.shape)} | {c.max_abs_error:.3g} | "
                     f"{c.max_rel_error:.3g} | {c.atol:g} | {c.rtol:g} | {result} |")
    return [*lines, ""]


_DERIVED_SHOWN = 30


def _weights_section(record: ExportRecord) -> list[str]:
    """What the save did with the weights, and every initializer computed from weights (its recipe)."""
    from exporter.progress import size_text
    from exporter.weight_sources import DerivedTensor, describe

    model = record.onnx_model
    derived = [] if model is None else [(v.name, v.const_value) for v in model.graph.initializers.values()
                                        if isinstance(v.const_value, DerivedTensor)]
    if record.saved_weights is None and not derived:
        return []
    lines = ["## Weights", ""]
    if record.saved_weights is not None:
        lines += [f"Saved: {record.saved_weights}.", ""]
        if record.saved_weights.copied:
            lines += ["| weight read from a checkpoint but written | bytes | why |", "|---|---:|---|"]
            lines += [f"| `{_cell(name)}` | {size_text(size)} | {_cell(why)} |"
                      for name, size, why in record.saved_weights.copied]
            lines.append("")
    if derived:
        lines += [f"{len(derived)} initializer(s) are computed from weights when the model is saved "
                  "(folded at export; weights applied later reach them):", "",
                  "| initializer | computed as |", "|---|---|"]
        lines += [f"| `{_cell(name)}` | `{_cell(describe(tensor))}` |" for name, tensor in derived[:_DERIVED_SHOWN]]
        if len(derived) > _DERIVED_SHOWN:
            lines.append(f"| ... and {len(derived) - _DERIVED_SHOWN} more | |")
        lines.append("")
    return lines


def render(record: ExportRecord) -> str:
    status = "failed" if record.error is not None else "succeeded"
    options = ", ".join(f"{k}={v!r}" for k, v in record.options.items())
    lines = [f"# aten2onnx export report: {record.model_name}", "",
             f"- status: **{status}**" + (f" ({type(record.error).__name__})" if record.error else ""),
             f"- opset: {record.opset}", f"- options: {options or 'defaults'}",
             f"- time: {', '.join(f'{k} {v:.2f} s' for k, v in record.seconds.items()) or 'n/a'}", ""]
    lines += _capture_section(record) + _aten_section(record) + _onnx_section(record) + _weights_section(record)
    lines += _unsupported_section(record) + _constraint_section(record) + _verification_section(record)
    if record.error is not None and not isinstance(record.error, (CaptureError, ConstraintError, UnsupportedOpsError)):
        lines += ["## Error", "", "```text", f"{type(record.error).__name__}: {record.error}", "```", ""]
    return "\n".join(lines)


def write_report(record: ExportRecord, folder: Path) -> Path:
    """Write the report into `folder`; the name carries the model, the time and the status."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    status = "failed" if record.error is not None else "ok"
    safe = re.sub(r"[^\w.-]", "_", record.model_name) or "model"
    path = folder / f"aten2onnx_report_{safe}_{stamp}_{status}.md"
    path.write_text(render(record), encoding="utf-8")
    return path
