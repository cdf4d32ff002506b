"""The `aten2onnx` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exporter.api import DEFAULT_OPSET
from exporter.errors import OnnxExporterError
from generated import registry


def _opset(text: str) -> int:
    value = int(text)
    if not registry.MIN_OPSET <= value <= registry.MAX_OPSET:
        raise argparse.ArgumentTypeError(f"opset must be {registry.MIN_OPSET} to {registry.MAX_OPSET}, got {value}")
    return value


def _demo(options: argparse.Namespace) -> int:
    from exporter.demo import run_demo

    run_demo(options.output, options.opset)
    return 0


def _ops(options: argparse.Namespace) -> int:
    names = [n for n in registry.supported_ops(options.opset) if options.pattern in n]
    for name in names:
        print(f"{name:45s} {registry.SOURCES[name]}")
    print(f"{len(names)} overload(s) supported at opset {options.opset}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aten2onnx", description="Export PyTorch models to ONNX via ATen op specs.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="export the built-in AlexNet-style model and verify it in ONNX Runtime")
    demo.add_argument("-o", "--output", type=Path, default=Path("model.onnx"))
    demo.add_argument("--opset", type=_opset, default=DEFAULT_OPSET)
    demo.set_defaults(run=_demo)
    ops = commands.add_parser("ops", help="list the ATen overloads supported at an opset")
    ops.add_argument("pattern", nargs="?", default="", help="substring to filter by")
    ops.add_argument("--opset", type=_opset, default=DEFAULT_OPSET)
    ops.set_defaults(run=_ops)
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    try:
        return options.run(options)
    except OnnxExporterError as error:
        print(f"aten2onnx: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
