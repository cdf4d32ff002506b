"""Which Core ATen forward overloads have no spec at an opset.

    python scripts/core_aten_gap.py [--opset 18] [--all-opsets]

Core ATen is the set of overloads tagged `torch.Tag.core` in the installed torch (the IR
torch.export decomposes to). Backward, out= and in-place overloads are left out: export
never sees them. Exits 1 when something is missing, so CI could gate on it.
"""

from __future__ import annotations

import argparse
import sys

import torch

from aten2onnx.generated import registry


def _is_forward(name: str, overload: torch._ops.OpOverload) -> bool:
    schema = overload._schema
    base, _, variant = name.partition(".")
    if "backward" in base or base.endswith("_") or variant in ("out",) or variant.endswith("_out"):
        return False
    return not any(a.alias_info is not None and a.alias_info.is_write for a in schema.arguments)


def core_aten_overloads() -> list[str]:
    """`aten::name.overload` for every forward overload torch tags as core."""
    found = set()
    for op_name in dir(torch.ops.aten):
        packet = getattr(torch.ops.aten, op_name, None)
        if not isinstance(packet, torch._ops.OpOverloadPacket):
            continue
        for overload_name in packet.overloads():
            overload = getattr(packet, overload_name)
            if torch.Tag.core in overload.tags and _is_forward(f"{op_name}.{overload_name}", overload):
                found.add(f"aten::{op_name}.{overload_name}")
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--all-opsets", action="store_true", help="one summary line per opset 9..26")
    options = parser.parse_args(argv)
    core = core_aten_overloads()
    if options.all_opsets:
        for opset in range(registry.MIN_OPSET, registry.MAX_OPSET + 1):
            missing = sorted(set(core) - set(registry.supported_ops(opset)))
            print(f"opset {opset:2d}: {len(core) - len(missing)}/{len(core)} core overloads, {len(missing)} missing")
        return 0
    missing = sorted(set(core) - set(registry.supported_ops(options.opset)))
    for name in missing:
        print(name)
    print(f"{len(core) - len(missing)} of {len(core)} Core ATen forward overloads have a spec at opset "
          f"{options.opset}; {len(missing)} missing", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
