"""Probe the installed ONNX Runtime: the newest opset it loads, and which CPU kernels it lacks.

    python scripts/probe_ort_kernels.py -o ort-1.20.1.json        # probe the installed onnxruntime
    python scripts/probe_ort_kernels.py --compare ort-*.json      # which gaps exist in which versions
    python scripts/probe_ort_kernels.py --compare ort-*.json --dtype bfloat16   # one dtype's gaps

Each probe is a one-node model, the way exporter/rewrite/ort_kernel_gaps.py's entries were found:

- the newest opset: a Relu model stamped with each opset (and the lowest IR version that opset
  needs) until the session refuses it;
- kernels: every default-domain op at opset 9 and at each opset where its schema changes, up to
  that maximum, with each dtype torch has that the schema allows for each type parameter;
  "Could not find an implementation" when the session is created is a missing kernel;
- run-time gaps: ops whose kernel exists but refuses a dtype only when it runs (the scatter
  reductions), run on small real inputs; "not supported" from run() is a gap.

It needs onnx and onnxruntime only (no torch), so it runs in a scratch environment per version.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.defs
import onnx.helper as oh

MIN_OPSET = 9
# torch's dtypes that ONNX has, in the names ONNX type strings use
DTYPES = {
    "float16": onnx.TensorProto.FLOAT16, "bfloat16": onnx.TensorProto.BFLOAT16, "float": onnx.TensorProto.FLOAT,
    "double": onnx.TensorProto.DOUBLE, "int8": onnx.TensorProto.INT8, "uint8": onnx.TensorProto.UINT8,
    "int16": onnx.TensorProto.INT16, "int32": onnx.TensorProto.INT32, "int64": onnx.TensorProto.INT64,
    "bool": onnx.TensorProto.BOOL,
}
# a type parameter not under test takes the first of these its constraint allows
_PINNED_ORDER = ("int64", "float", "bool", "int32", "double", "uint8")
# ops that are graphs, sequences, training or string processing: not one-node probes
_SKIP = {"If", "Loop", "Scan", "SequenceMap", "Constant", "Optional", "OptionalGetElement", "OptionalHasElement",
         "StringNormalizer", "TfIdfVectorizer", "StringConcat", "StringSplit", "RegexFullMatch", "Cast"}
# required attributes the probe cannot leave out (values any dtype accepts)
_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "Concat": {"axis": 0}, "DepthToSpace": {"blocksize": 1}, "SpaceToDepth": {"blocksize": 1},
    "LRN": {"size": 1}, "Unsqueeze": {"axes": [0]}, "Squeeze": {"axes": [0]}, "Split": {"axis": 0},
    "RandomNormal": {"shape": [2]}, "RandomUniform": {"shape": [2]}, "ConcatFromSequence": {"axis": 0},
    "MaxPool": {"kernel_shape": [1]}, "AveragePool": {"kernel_shape": [1]}, "LpPool": {"kernel_shape": [1]},
    "MaxRoiPool": {"pooled_shape": [1, 1]},
    "Einsum": {"equation": "i,i->i"}, "Pad": {"pads": [0, 0]}, "Slice": {"starts": [0], "ends": [1]},
}


def _relu_model(opset: int) -> onnx.ModelProto:
    x = oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    y = oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])
    graph = oh.make_graph([oh.make_node("Relu", ["x"], ["y"])], "probe", [x], [y])
    return _model(graph, opset)


def _model(graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    ir_version = oh.find_min_ir_version_for([oh.make_opsetid("", opset)])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)], ir_version=max(ir_version, 8))


def _session(model: onnx.ModelProto) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def max_opset() -> int:
    """The newest opset the installed runtime loads (it refuses newer ones when creating a session)."""
    newest = MIN_OPSET
    for opset in range(MIN_OPSET, onnx.defs.onnx_opset_version() + 1):
        try:
            _session(_relu_model(opset))
        except Exception:
            break
        newest = opset
    return newest


def _probe_opsets(op_type: str, newest: int) -> list[int]:
    """Opset 9 (or the op's first) and every opset up to `newest` where the op's schema changes."""
    opsets, previous = [], None
    for opset in range(MIN_OPSET, newest + 1):
        try:
            schema = onnx.defs.get_schema(op_type, opset, "")
        except onnx.defs.SchemaError:
            continue
        if schema.since_version != previous and not schema.deprecated:
            opsets.append(opset)
        previous = schema.since_version
    return opsets


def _allowed(constraints: dict[str, list[str]], param: str) -> list[str]:
    return [t[len("tensor("):-1] for t in constraints.get(param, []) if t.startswith("tensor(")]


def _one_node(schema: onnx.defs.OpSchema, opset: int, param: str, dtype: str) -> onnx.ModelProto | None:
    """`schema`'s op with type parameter `param` as `dtype`, its other parameters pinned."""
    constraints = {c.type_param_str: list(c.allowed_type_strs) for c in schema.type_constraints}
    types: dict[str, str] = {param: dtype}
    for other in constraints:
        if other != param:
            allowed = _allowed(constraints, other)
            pinned = next((t for t in _PINNED_ORDER if t in allowed), allowed[0] if allowed else None)
            if pinned is None or pinned not in DTYPES:
                return None
            types[other] = pinned
    inputs, names = [], []
    for index, formal in enumerate(schema.inputs):
        option = formal.option
        if option == onnx.defs.OpSchema.FormalParameterOption.Optional:
            continue
        type_name = types.get(formal.type_str) or (formal.type_str[len("tensor("):-1]
                                                   if formal.type_str.startswith("tensor(") else None)
        if type_name not in DTYPES:
            return None
        count = 2 if option == onnx.defs.OpSchema.FormalParameterOption.Variadic else 1
        for k in range(count):
            name = f"in{index}_{k}"
            inputs.append(oh.make_tensor_value_info(name, DTYPES[type_name], None))
            names.append(name)
    outputs = [f"out{i}" for i, formal in enumerate(schema.outputs)
               if formal.option != onnx.defs.OpSchema.FormalParameterOption.Optional]
    attributes = {k: v for k, v in _ATTRIBUTES.get(schema.name, {}).items() if k in schema.attributes}
    node = oh.make_node(schema.name, names, outputs, **attributes)
    graph = oh.make_graph([node], "probe", inputs, [oh.make_empty_tensor_value_info(o) for o in outputs])
    return _model(graph, opset)


def probe_kernels(newest: int) -> tuple[dict[str, dict[str, list[int]]], dict[str, str]]:
    """{op: {dtype: [opsets without a kernel]}}, and {"op@opset:dtype": error} for probes that failed otherwise."""
    missing: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    errors: dict[str, str] = {}
    ops = sorted({s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain in ("", "ai.onnx")})
    for op_type in ops:
        if op_type in _SKIP:
            continue
        for opset in _probe_opsets(op_type, newest):
            schema = onnx.defs.get_schema(op_type, opset, "")
            constraints = {c.type_param_str: list(c.allowed_type_strs) for c in schema.type_constraints}
            for param in constraints:
                for dtype in _allowed(constraints, param):
                    if dtype not in DTYPES:
                        continue
                    model = _one_node(schema, opset, param, dtype)
                    if model is None:
                        continue
                    try:
                        _session(model)
                    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own classes
                        text = str(error)
                        if "Could not find an implementation" in text:
                            missing[op_type][dtype].append(opset)
                        else:
                            errors[f"{op_type}@{opset}:{param}={dtype}"] = text.splitlines()[0][-160:]
    return {op: {d: sorted(set(o)) for d, o in by_dtype.items()} for op, by_dtype in missing.items()}, errors


def probe_scatter_reductions(newest: int) -> dict[str, dict[str, list[int]]]:
    """{"ScatterElements[add]": {dtype: [opsets where running it fails]}} for each reduction."""
    found: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    cases = [("ScatterElements", "add", 16), ("ScatterElements", "mul", 16), ("ScatterElements", "max", 18),
             ("ScatterElements", "min", 18), ("ScatterND", "add", 16), ("ScatterND", "mul", 16),
             ("ScatterND", "max", 18), ("ScatterND", "min", 18)]
    for op_type, reduction, first in cases:
        for opset in sorted({o for o in (first, 18) if o <= newest}):
            for dtype, data_type in DTYPES.items():
                # bfloat16 (which numpy lacks) is fed as float32 and cast in the graph: exact for these values
                fed = onnx.TensorProto.FLOAT if dtype == "bfloat16" else data_type
                index_shape = [2] if op_type == "ScatterElements" else [2, 1]
                inputs = [oh.make_tensor_value_info("x", fed, [4]), oh.make_tensor_value_info("i", onnx.TensorProto.INT64, index_shape),
                          oh.make_tensor_value_info("u", fed, [2])]
                nodes = [oh.make_node("Cast", [n], [f"{n}_cast"], to=data_type) for n in ("x", "u")]
                nodes.append(oh.make_node(op_type, ["x_cast", "i", "u_cast"], ["y"], reduction=reduction))
                nodes.append(oh.make_node("Cast", ["y"], ["out"], to=fed))
                outputs = [oh.make_tensor_value_info("out", fed, [4])]
                model = _model(oh.make_graph(nodes, "probe", inputs, outputs), opset)
                numpy_type = onnx.helper.tensor_dtype_to_np_dtype(fed)
                feeds = {"x": np.array([1, 0, 1, 0]).astype(numpy_type), "u": np.array([1, 1]).astype(numpy_type),
                         "i": np.array([0, 2]).reshape(index_shape)}
                try:
                    _session(model).run(None, feeds)
                except Exception as error:  # noqa: BLE001
                    text = str(error)
                    if "Could not find an implementation" in text or "not supported" in text.lower():
                        found[f"{op_type}[{reduction}]"][dtype].append(opset)
    return {k: dict(v) for k, v in found.items()}


def probe() -> dict[str, Any]:
    import onnxruntime

    newest = max_opset()
    missing, errors = probe_kernels(newest)
    missing.update(probe_scatter_reductions(newest))
    return {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__, "max_opset": newest,
            "missing": missing, "errors": errors}


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("+")[0].split(".") if p.isdigit())


def compare(paths: list[Path], dtype: str | None = None) -> str:
    """One line per (op, dtype) missing in some version: the opsets it is missing at, per version
    (only `dtype`'s lines when given)."""
    results = sorted((json.loads(p.read_text()) for p in paths), key=lambda r: _version_key(r["onnxruntime"]))
    lines = ["max opset: " + ", ".join(f"{r['onnxruntime']}={r['max_opset']}" for r in results)]
    keys = sorted({(op, d) for r in results for op, by in r["missing"].items() for d in by if dtype in (None, d)})
    for op, dtype in keys:
        cells = []
        for r in results:
            opsets = r["missing"].get(op, {}).get(dtype, [])
            cells.append(f"{r['onnxruntime']}:{_ranges(opsets) or '-'}")
        lines.append(f"{op:28} {dtype:9} " + " ".join(cells))
    return "\n".join(lines)


def _ranges(opsets: list[int]) -> str:
    return ",".join(str(o) for o in opsets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, help="write the probe's JSON here (default: stdout)")
    parser.add_argument("--compare", nargs="+", type=Path, help="summarize probe files of several versions")
    parser.add_argument("--dtype", choices=sorted(DTYPES), help="with --compare: only this dtype's gaps")
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(args.compare, args.dtype))
        return 0
    text = json.dumps(probe(), indent=1, sort_keys=True)
    if args.output:
        args.output.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
