"""The `aten2onnx` command line: export, ops, matrix, check, show, demo.

Exit codes: 0 success, 1 export error (the model, a spec, verification), 2 usage error
(bad options, missing files). Errors go to stderr as one paragraph, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import warnings
from pathlib import Path

from aten2onnx.exporter import progress
from aten2onnx.exporter.errors import OnnxExporterError
from aten2onnx.exporter.options import DEFAULT_OPSET, OperatorExportTypes
from aten2onnx.exporter.tools.cli_export import UsageError, dynamic_axis, dynamic_shapes, input_spec, model_and_args
from aten2onnx.generated import registry

ROOT = Path(__file__).resolve().parents[2]  # the repo: exporter/tools/cli.py
SUPPORT_MATRIX = Path(registry.__file__).resolve().parent / "SUPPORT.md"


def _opset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"opset must be an integer, got '{text}'") from None
    if not registry.MIN_OPSET <= value <= registry.MAX_OPSET:
        raise argparse.ArgumentTypeError(f"opset must be {registry.MIN_OPSET} to {registry.MAX_OPSET}, got {value}")
    return value


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


# -- commands ---------------------------------------------------------------------------------------
def _demo(options: argparse.Namespace) -> int:
    from aten2onnx.exporter.tools.demo import run_demo

    run_demo(options.output, options.opset)
    return 0


def _export(options: argparse.Namespace) -> int:
    import aten2onnx
    from aten2onnx.exporter.api.program import value_names
    from aten2onnx.exporter.capture.model_inputs import parameter_names

    if options.output.parent and not options.output.parent.is_dir():
        raise UsageError(f"-o {options.output}: folder '{options.output.parent}' does not exist")
    _check_weight_options(options)
    progress.enable()
    with progress.stage(f"loading {options.target}" + (" in fake mode" if options.fake else "")):
        with aten2onnx.enable_fake_mode() if options.fake else contextlib.nullcontext():
            model, args = model_and_args(options.target, options.input)
    for spec_path in options.opspecs:  # after the factory's file: it may define the ops (torch.library)
        aten2onnx.load_opspecs(spec_path)
    names = options.input_names or parameter_names(model, len(args))
    program = aten2onnx.export(
        model, args, None if options.weights else options.output, opset_version=options.opset,
        input_names=options.input_names, output_names=options.output_names,
        dynamic_shapes=dynamic_shapes(options.dynamic, args, names),
        verify=options.verify, report=options.report, artifacts_dir=options.artifacts_dir,
        optimize=options.optimize, do_constant_folding=not options.no_constant_folding,
        external_data=True if options.external_data else None, verbose=options.verbose,
        training=options.training.upper(),
        operator_export_type=OperatorExportTypes.ONNX_ATEN_FALLBACK if options.aten_fallback else OperatorExportTypes.ONNX,
        target_runtime=None if options.target_runtime == "none" else options.target_runtime,
        dynamo=not options.torchscript, fallback=options.fallback,
        runtime_version=options.runtime_version,
    )
    if options.weights:
        with progress.stage(f"applying the weights of {options.weights}"):
            program.apply_weights(options.weights)
        with progress.stage(f"saving {options.output}"):
            program.save(options.output, external_data=True if options.external_data else None,
                         copy_weights=options.copy_weights)
    graph = program.model.graph
    print(f"aten2onnx: wrote {options.output} (opset {program.model.opset_imports['']}, {len(graph)} nodes, captured with "
          f"{program.capture_method}; inputs {', '.join(value_names(graph.inputs))}; outputs "
          f"{', '.join(value_names(graph.outputs))})")
    if program.saved_weights is not None:
        print(f"aten2onnx: weights: {program.saved_weights}")
        _print_copies(program.saved_weights.copied)
    if getattr(program, "report_path", None):
        print(f"aten2onnx: report written to {program.report_path}")
    return 0


def _export_hf(options: argparse.Namespace) -> int:
    from aten2onnx.exporter.tools.hf import export_hf

    if not options.source.exists():
        raise UsageError(f"'{options.source}': no such checkpoint folder or config.json")
    progress.enable()
    result = export_hf(options.source, options.task, options.output, dtype=options.dtype, opset=options.opset,
                       verify=options.verify, new_tokens=options.new_tokens)
    for kind, path in result.files.items():
        graph = result.programs[kind].model.graph
        print(f"aten2onnx: wrote {path} ({kind}, opset {options.opset}, {len(graph)} nodes; inputs "
              f"{', '.join(v.name for v in graph.inputs if not v.is_initializer())}; outputs "
              f"{', '.join(v.name for v in graph.outputs)})")
    print(f"aten2onnx: wrote {result.config_path}")
    return 0


def _check_weight_options(options: argparse.Namespace) -> None:
    if options.fake and not options.weights:
        raise UsageError("--fake builds the model without weights: pass --weights PATH (a .safetensors file, a "
                         "folder with sharded files and their index, or a torch.save file) to save it with them")
    if options.fake and options.verify:
        raise UsageError("--verify runs the model in eager PyTorch, which needs real weights; --fake builds it "
                         "without them")
    if options.copy_weights and not options.weights:
        raise UsageError("--copy-weights is about the weights of --weights PATH; pass --weights too")
    if options.weights and not options.weights.exists():
        raise UsageError(f"--weights {options.weights}: no such file or folder")


def _print_copies(copied: list[tuple[str, int, str]], shown: int = 5) -> None:
    """Weights read from a checkpoint file but written anyway, by reason (the first few names of each)."""
    from aten2onnx.exporter.progress import size_text

    by_reason: dict[str, list[tuple[str, int]]] = {}
    for name, size, reason in copied:
        by_reason.setdefault(reason, []).append((name, size))
    for reason, items in by_reason.items():
        names = ", ".join(name for name, _ in items[:shown]) + (f" and {len(items) - shown} more"
                                                                 if len(items) > shown else "")
        print(f"aten2onnx: copied {len(items)} weight(s), {size_text(sum(s for _, s in items))}, because "
              f"{reason}: {names}")


def _spec_constraints() -> dict[str, list[str]]:
    """Constraint messages per op, read from opspecs/ (absent in an installed package)."""
    from aten2onnx.codegen.errors import ErrorCollector
    from aten2onnx.codegen.load import parse_spec_files

    folder = ROOT / "opspecs"
    if not folder.is_dir():
        return {}
    specs = parse_spec_files(list(folder.glob("*.yaml")), ROOT, ErrorCollector())
    found: dict[str, list[str]] = {}
    for spec in specs:
        messages = [c.message for c in spec.constraints]
        for variant in spec.variants:
            since = f" (from opset {variant.since})" if variant.since and len(spec.variants) > 1 else ""
            messages += [c.message + since for c in variant.constraints]
        found[spec.aten] = messages
        for alias in spec.aliases:  # served by the entry's function, so bound by its constraints
            found[alias.aten] = messages
    return found


def _ops(options: argparse.Namespace) -> int:
    names = [n for n in registry.supported_ops(options.opset) if options.pattern in n]
    constraints = _spec_constraints()
    for name in names:
        print(f"{name:45s} {registry.SOURCES[name]}")
        for message in constraints.get(name, []):
            print(f"    constraint: {message}")
    print(f"{len(names)} overload(s) supported at opset {options.opset}"
          + (f" matching '{options.pattern}'" if options.pattern else ""), file=sys.stderr)
    return 0


def _matrix(options: argparse.Namespace) -> int:
    text = SUPPORT_MATRIX.read_text(encoding="utf-8")
    if options.output is None:
        sys.stdout.write(text)
        return 0
    if not options.output.parent.is_dir():
        raise UsageError(f"-o {options.output}: folder '{options.output.parent}' does not exist")
    options.output.write_text(text, encoding="utf-8")
    print(f"aten2onnx: support matrix written to {options.output}", file=sys.stderr)
    return 0


def _check(options: argparse.Namespace) -> int:
    tests = ROOT / "tests" / "test_ops.py"
    if not tests.is_file():
        raise UsageError("`aten2onnx check` runs the differential tests of a source checkout; tests/test_ops.py "
                         "is not here")
    op = options.op if "::" in options.op else f"aten::{options.op}"
    # `relu` selects aten::relu.default; `add` every overload of add (aten::add.Tensor, ...)
    key = op if "." in op.split("::", 1)[1] else f"{op}."
    if not any(name.startswith(key) or name == op for name in registry.VARIANTS):
        raise UsageError(f"no spec maps '{options.op}'; `aten2onnx ops {options.op.split('::')[-1]}` lists "
                         "what is supported")
    command = [sys.executable, "-m", "pytest", "-q", str(tests), "-k", key]
    print(f"aten2onnx: {' '.join(command[2:])}", file=sys.stderr)
    env = None
    if options.thorough:
        import os

        env = {**os.environ, "HYPOTHESIS_PROFILE": "thorough"}
    code = subprocess.call(command, cwd=ROOT, env=env)
    return {0: 0, 5: 2}.get(code, 1)


def _show(options: argparse.Namespace) -> int:
    import onnx_ir as ir

    from aten2onnx.exporter.api.verbose import model_text

    if not options.model.is_file():
        raise UsageError(f"'{options.model}': no such file")
    try:
        model = ir.load(options.model)
    except Exception as exc:
        raise OnnxExporterError(f"cannot read '{options.model}' as an ONNX model: {type(exc).__name__}: {exc}") from exc
    print(model_text(model))
    return 0


# -- parser -----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aten2onnx", description="Export PyTorch models to ONNX via ATen op specs.")
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="export a model made by a Python factory function")
    export.add_argument("target", help="path/to/file.py:factory; factory() returns a module or (module, args)")
    export.add_argument("--input", action="append", type=input_spec, metavar="SHAPE[:DTYPE]",
                        help="an example input, like 1x3x224x224:float32 (repeat for each input)")
    export.add_argument("-o", "--output", type=Path, default=Path("model.onnx"))
    export.add_argument("--opset", type=_opset, default=None,
                        help=f"default {DEFAULT_OPSET}, or the newest the target onnxruntime runs if older")
    export.add_argument("--dynamic", action="append", type=dynamic_axis, default=[], metavar="[INPUT:]AXIS=NAME",
                        help="a dynamic axis and its name: 0=batch (every input) or x:1=seq")
    export.add_argument("--input-names", type=_names, help="comma-separated ONNX input names")
    export.add_argument("--output-names", type=_names, help="comma-separated ONNX output names")
    export.add_argument("--verify", action="store_true", help="compare ONNX Runtime with eager PyTorch")
    export.add_argument("--report", action="store_true", help="write a Markdown report (also on failure)")
    export.add_argument("--artifacts-dir", type=Path, default=Path("."), help="where the report goes")
    export.add_argument("--optimize", action="store_true", help="run the onnxscript optimizer")
    export.add_argument("--no-constant-folding", action="store_true")
    export.add_argument("--external-data", action="store_true", help="weights in <output>.data")
    export.add_argument("--aten-fallback", action="store_true", help="ops without a spec become ATen nodes")
    export.add_argument("--training", choices=["eval", "training", "preserve"], default="eval",
                        type=lambda s: {"train": "training"}.get(s, s))
    export.add_argument("--target-runtime", choices=["onnxruntime", "none"], default="onnxruntime",
                        help="rewrite nodes ONNX Runtime has no CPU kernel for (default), or keep standard ONNX")
    export.add_argument("--runtime-version", metavar="X.Y[.Z]",
                        help="the onnxruntime release the model is for (default: the installed one)")
    export.add_argument("--opspecs", action="append", type=Path, default=[], help="a spec file of your own ops")
    export.add_argument("--verbose", action="store_true", help="print the graph")
    capture = export.add_mutually_exclusive_group()
    capture.add_argument("--torchscript", action="store_true",
                         help="capture with TorchScript (torch.jit.trace; dynamo=False) instead of torch.export")
    capture.add_argument("--fallback", action="store_true",
                         help="when torch.export cannot capture the model, trace it with TorchScript")
    export.add_argument("--fake", action="store_true",
                        help="build the model in aten2onnx.enable_fake_mode(): parameters take no memory; "
                             "needs --weights")
    export.add_argument("--weights", type=Path, metavar="PATH",
                        help="apply these weights before saving: a .safetensors file, a folder of sharded files "
                             "with their index JSON, or a torch.save file; weights stored as the model uses them "
                             "are referenced in place when the checkpoint is inside the output's folder")
    export.add_argument("--copy-weights", action="store_true",
                        help="write the --weights into <output>.data instead of referencing the checkpoint")
    export.set_defaults(run=_export)

    from aten2onnx.exporter.tools.hf.load import DTYPES
    from aten2onnx.exporter.tools.hf.tasks import TASKS

    hf = commands.add_parser("export-hf", help="export a transformers model for a task (LLMs with a KV cache)",
                             description="Export a transformers checkpoint folder, or a config.json (random "
                             "weights), to the ONNX file(s) a task needs, with genai_config.json beside them. "
                             "Nothing is downloaded.")
    hf.add_argument("source", type=Path, help="a local checkpoint folder, or a config.json")
    hf.add_argument("--task", choices=list(TASKS), default="text-generation-with-past")
    hf.add_argument("-o", "--output", type=Path, default=Path("onnx"), help="output folder (created)")
    hf.add_argument("--dtype", choices=list(DTYPES), default="float32", help="the model's dtype, kept in the ONNX")
    hf.add_argument("--opset", type=_opset, default=DEFAULT_OPSET)
    hf.add_argument("--verify", action="store_true",
                    help="generate greedily in eager PyTorch and ONNX Runtime; print the tokens side by side")
    hf.add_argument("--new-tokens", type=int, default=8, help="tokens --verify generates (default 8)")
    hf.set_defaults(run=_export_hf)

    ops = commands.add_parser("ops", help="list the ATen overloads supported at an opset, with their constraints")
    ops.add_argument("pattern", nargs="?", default="", help="substring to filter by")
    ops.add_argument("--opset", type=_opset, default=DEFAULT_OPSET)
    ops.set_defaults(run=_ops)

    matrix = commands.add_parser("matrix", help="print the support matrix (generated/SUPPORT.md) or write it")
    matrix.add_argument("-o", "--output", type=Path, default=None)
    matrix.set_defaults(run=_matrix)

    check = commands.add_parser("check", help="run an op's differential tests (eager PyTorch vs ONNX Runtime)")
    check.add_argument("op", help="relu, add.Tensor or aten::add.Tensor")
    check.add_argument("--thorough", action="store_true", help="many more Hypothesis examples")
    check.set_defaults(run=_check)

    show = commands.add_parser("show", help="print any ONNX file's graph in torch.onnx's verbose form")
    show.add_argument("model", type=Path)
    show.set_defaults(run=_show)

    demo = commands.add_parser("demo", help="export the built-in AlexNet-style model and verify it in ONNX Runtime")
    demo.add_argument("-o", "--output", type=Path, default=Path("model.onnx"))
    demo.add_argument("--opset", type=_opset, default=DEFAULT_OPSET)
    demo.set_defaults(run=_demo)
    return parser


def _paragraph(text: object) -> str:
    return "\n".join(line for line in str(text).splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    # torch's own deprecation chatter (pytree internals) is not the user's concern on the shell
    warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
    options = build_parser().parse_args(argv)
    try:
        return options.run(options)
    except UsageError as error:
        print(f"aten2onnx {options.command}: usage error: {_paragraph(error)}", file=sys.stderr)
        return 2
    except OnnxExporterError as error:
        report = getattr(error, "report_path", None)
        where = f"\nThe report is in {report}" if report else ""
        print(f"aten2onnx {options.command}: error: {_paragraph(error)}{where}", file=sys.stderr)
        return 1
    except Exception as error:  # the user's factory or model code failed, or a bug of ours
        print(f"aten2onnx {options.command}: error: {type(error).__name__}: {_paragraph(error)}", file=sys.stderr)
        return 1
    finally:
        progress.disable()


if __name__ == "__main__":
    sys.exit(main())
