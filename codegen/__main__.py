"""`python -m aten2onnx.codegen`: validate opspecs/ and regenerate generated/. Exit 1 on spec errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aten2onnx.codegen.errors import SpecErrors
from aten2onnx.codegen.load import load_specs
from aten2onnx.codegen.render import duplicate_functions, render_all, stale_files, write_if_changed

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aten2onnx.codegen", description=__doc__)
    parser.add_argument("--specs", type=Path, default=ROOT / "opspecs", help="folder of spec YAML files")
    parser.add_argument("--out", type=Path, default=ROOT / "generated", help="where generated files go")
    parser.add_argument("--check", action="store_true", help="fail instead of writing if anything would change")
    options = parser.parse_args(argv)
    try:
        specs = load_specs(options.specs, ROOT)
    except SpecErrors as errors:
        for error in errors.errors:
            print(error, file=sys.stderr)
        print(f"codegen: {len(errors.errors)} error(s) in {options.specs}; nothing was written", file=sys.stderr)
        return 1
    files = render_all(specs)
    duplicates = duplicate_functions(files)
    if duplicates:  # validate refuses repeated variants: a duplicate here is a codegen bug
        print(f"codegen: generated functions repeat each other: {'; '.join(duplicates)}", file=sys.stderr)
        return 1
    if options.check:
        stale = stale_files(options.out, files)
        if stale:
            print(f"codegen: {options.out.name}/ is out of date: {', '.join(stale)}; run `make codegen`", file=sys.stderr)
            return 1
        return 0
    changed = write_if_changed(options.out, files)
    aliases = sum(1 for s in specs if s.alias_of is not None)
    counted = f"{len(specs) - aliases} specs" + (f" (+{aliases} aliases)" if aliases else "")
    print(f"codegen: {counted}, {len(changed)} file(s) updated in {options.out.name}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
