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

from aten2onnx.codegen.shared.onnx_schema import schema_at
from aten2onnx.codegen.shared.torch_schema import resolve_overload, schema_of
from aten2onnx.exporter.api.program import value_names
from aten2onnx.exporter.capture.dynamic_hints import DynamicOutcome
from aten2onnx.exporter.errors import CaptureError, ConstraintError, UnsupportedOpsError, UnsupportedUse
from aten2onnx.exporter.translate import registry


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
    table_uses: dict[str, Counter[str]] = field(default_factory=dict)  # custom_translation_table: op -> functions
    capture_method: str = "torch.export"  # or torch.jit.trace / torch.jit.script (dynamo=False, fallback)
    capture_notes: list[str] = field(default_factory=list)  # values tracing baked in, fallbacks taken
    operator_counts: Counter[str] | None = None  # the TorchScript graph's ops (no ExportedProgram there)
    constant_inputs: dict[str, Any] = field(default_factory=dict)  # Python values torch.export specialized on
    dynamic: DynamicOutcome = field(default_factory=DynamicOutcome)  # dynamic axes: ignored, widened, fixed


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
    lines = [f"## Capture ({record.capture_method})", ""]
    notes = [f"- {_cell(n)}" for n in record.capture_notes]
    if notes:
        lines += ["Notes (values fixed while tracing, paths taken):", "", *notes, ""]
    if isinstance(record.error, CaptureError):
        lines += ["Failed:", "", "```text", str(record.error), "```", ""]
        cause = record.error.__cause__
        if cause is not None:
            lines += ["torch's error in full:", "", "```text", f"{type(cause).__name__}: {cause}".strip(), "```", ""]
        if record.error.torch_output.strip():
            lines += ["What torch printed while capturing (kept off the terminal):", "", "```text",
                      record.error.torch_output.strip(), "```", ""]
        return lines
    if record.capture_method != "torch.export":
        seconds = record.seconds.get("capture and translate")
        took = f" in {seconds:.2f} s (with translation)" if seconds is not None else ""
        return [*lines, f"Succeeded{took}." if record.onnx_model is not None else "Not finished.", ""]
    program = record.exported_program
    if program is None:
        return [*lines, "Not reached.", ""]
    calls = [n for n in program.graph.nodes if n.op == "call_function"]
    inputs = [s.arg.name for s in program.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    seconds = record.seconds.get("capture")
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    constants = record.constant_inputs
    tensors = [name for name in inputs if name not in constants]
    lines.append(f"Succeeded{took}: {len(calls)} ATen calls, tensor inputs: {', '.join(tensors) or 'none'}.")
    if constants:
        lines += ["", "Python values and None among the inputs are constants of the export, not ONNX inputs "
                  "(as in torch.onnx): the graph computes with these values whatever is passed at run time: "
                  + ", ".join(f"`{name}={value!r}`" for name, value in constants.items()) + "."]
    return [*lines, ""]


def _dynamic_section(record: ExportRecord) -> list[str]:
    lines = record.dynamic.lines()
    if not lines:
        return []
    return ["## Dynamic axes", "", *(f"- {_cell(line)}" for line in lines), ""]


def _aten_section(record: ExportRecord) -> list[str]:
    program = record.exported_program
    if program is not None:
        counts = Counter(
            f"{n.target._schema.name}.{n.target._overloadname}" if hasattr(n.target, "_schema") else str(n.target)
            for n in program.graph.nodes if n.op == "call_function" and "getitem" not in str(n.target)
        )
    elif record.operator_counts is not None:
        counts = record.operator_counts
    else:
        return []
    title = "## ATen operators (after decomposition)" if program is not None else "## Operators of the TorchScript graph"
    lines = [title, "", "| operator | count | mapping |", "|---|---:|---|"]
    for name, count in sorted(counts.items()):
        source: str | None
        if name in record.table_uses:
            source = "custom_translation_table: " + ", ".join(record.table_uses[name])
        else:
            source = registry.source_of(name) if registry.lookup(name, record.opset) else None
        lines.append(f"| `{_cell(name)}` | {count} | {_cell(source) if source else '**none**'} |")
    return [*lines, ""]


def _table_section(record: ExportRecord) -> list[str]:
    if not record.table_uses:
        return []
    lines = ["## custom_translation_table", "", "| operator | translated by | nodes |", "|---|---|---:|"]
    for name, uses in sorted(record.table_uses.items()):
        lines += [f"| `{_cell(name)}` | {_cell(label)} | {count} |" for label, count in uses.most_common()]
    return [*lines, ""]


def _onnx_section(record: ExportRecord) -> list[str]:
    model = record.onnx_model
    if model is None:
        return []
    counts = Counter(f"{n.domain + '::' if n.domain else ''}{n.op_type}" for n in model.graph.all_nodes())
    opsets = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in model.opset_imports.items())
    lines = ["## ONNX model", "", f"Opsets: {opsets}. Inputs: {', '.join(value_names(model.graph.inputs))}. "
             f"Outputs: {', '.join(value_names(model.graph.outputs))}. Initializers: {len(model.graph.initializers)}.",
             "", "| ONNX operator | count |", "|---|---:|"]
    lines += [f"| `{_cell(op)}` | {count} |" for op, count in sorted(counts.items())]
    if model.functions:
        lines += ["", "Local functions (custom_translation_table's script functions, export_modules_as_functions):",
                  "", "| function | nodes | attributes |", "|---|---:|---|"]
        lines += [f"| `{_cell(f'{f.domain}::{f.name}')}` | {len(f)} | {_cell(', '.join(f.attributes) or '-')} |"
                  for f in model.functions.values()]
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
              "or to a file of your own loaded with `aten2onnx.load_opspecs(path)`:", ""]
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
        if getattr(c, "method", "elementwise") == "statistical":  # random: zero fraction, mean and variance
            lines.append(f"| {_cell(c.name)} | {c.dtype} | {list(c.shape)} | random | compared as a sample | "
                         f"| | {result} |")
            continue
        lines.append(f"| {_cell(c.name)} | {c.dtype} | {list(c.shape)} | {c.max_abs_error:.3g} | "
                     f"{c.max_rel_error:.3g} | {c.atol:g} | {c.rtol:g} | {result} |")
    return [*lines, ""]


_DERIVED_SHOWN = 30


def _weights_section(record: ExportRecord) -> list[str]:
    """What the save did with the weights, and every initializer computed from weights (its recipe)."""
    from aten2onnx.exporter.progress import size_text
    from aten2onnx.exporter.write.weight_sources import DerivedTensor, describe

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
    lines += _capture_section(record) + _dynamic_section(record) + _aten_section(record) + _table_section(record)
    lines += _onnx_section(record) + _weights_section(record)
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
