"""verify=True: run the exported model in ONNX Runtime and eager PyTorch on the example inputs.

Each output is compared as torch.allclose does (|onnx - torch| <= atol + rtol * |torch|,
NaN equal to NaN), with tolerances by dtype; the max absolute and relative errors are kept
for the report, and any output beyond tolerance raises VerificationError with the numbers.

An output computed from random samples (dropout in training mode, torch.rand, bernoulli...)
cannot match element by element: ONNX Runtime and torch draw different numbers. It is compared
as a sample instead: the same dtype and shape, the same fraction of zeros (dropout's pattern)
and the same mean and variance, each within 6 standard errors of the two samples.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import onnx_ir as ir
import torch
from torch.export import ExportedProgram
from torch.utils._pytree import tree_leaves, tree_map

from aten2onnx.exporter.api.program import ONNXProgram, value_names
from aten2onnx.exporter.capture.torch_export import model_mode
from aten2onnx.exporter.errors import VerificationError
from aten2onnx.exporter.options import TrainingMode

# (atol, rtol) by dtype; exact for integers and bool.
TOLERANCES = {
    torch.float64: (1e-7, 1e-5),
    torch.float32: (1e-4, 1e-3),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (1e-2, 2e-2),
}


@dataclass(frozen=True)
class OutputComparison:
    """One output: ONNX Runtime against eager PyTorch."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    atol: float
    rtol: float
    problem: str = ""  # a shape or dtype mismatch, or the tolerance breach
    method: str = "elementwise"  # or "statistical": an output computed from random samples

    @property
    def passed(self) -> bool:
        return not self.problem

    def __str__(self) -> str:
        verdict = "ok" if self.passed else f"MISMATCH: {self.problem}"
        if self.method == "statistical":
            return f"{self.name} {self.dtype}{list(self.shape)}: random, compared as a sample {verdict}"
        return (f"{self.name} {self.dtype}{list(self.shape)}: max abs error {self.max_abs_error:.3g}, "
                f"max rel error {self.max_rel_error:.3g} (atol {self.atol:g}, rtol {self.rtol:g}) {verdict}")


def _compare(name: str, got: torch.Tensor, want: torch.Tensor) -> OutputComparison:
    if want.is_complex():  # ONNX outputs a complex tensor as its (real, imag) pairs
        want = torch.view_as_real(want.resolve_conj())
    atol, rtol = TOLERANCES.get(want.dtype, (0.0, 0.0))
    dtype = str(want.dtype).removeprefix("torch.")
    if got.shape != want.shape or got.dtype != want.dtype:
        return OutputComparison(name, dtype, tuple(want.shape), math.inf, math.inf, atol, rtol,
                                f"ONNX gives {str(got.dtype).removeprefix('torch.')}{list(got.shape)}")
    if want.numel() == 0:
        return OutputComparison(name, dtype, tuple(want.shape), 0.0, 0.0, atol, rtol)
    a, b = got.double(), want.double()
    both_nan = a.isnan() & b.isnan()
    diff = (a - b).abs().masked_fill(both_nan, 0.0).nan_to_num(nan=math.inf)
    # relative error where it means something: next to an expected 0 (the imaginary part of a DC
    # bin) any rounding is "infinitely" relative, and atol is what judges it
    meaningful = b.abs() > max(atol, torch.finfo(torch.float64).tiny)
    rel = torch.where(meaningful, diff / b.abs().clamp_min(torch.finfo(torch.float64).tiny), diff.new_zeros(()))
    rel = torch.where(b.isnan() | b.isinf(), diff, rel)
    max_abs, max_rel = float(diff.max()), float(rel.max())
    bad = diff > atol + rtol * b.abs().nan_to_num(nan=0.0)
    problem = ""
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        problem = (f"{int(bad.sum())} of {want.numel()} elements beyond tolerance, first at {list(where)}: "
                   f"onnx {float(a[where]):.6g} vs torch {float(b[where]):.6g}")
    return OutputComparison(name, dtype, tuple(want.shape), max_abs, max_rel, atol, rtol, problem)


# ONNX ops that draw random numbers; Dropout too when its training_mode input may be true.
_RANDOM_OPS = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial"}
MIN_SAMPLE = 256  # fewer elements: only dtype and shape are compared
_SIGMAS = 6.0


def _draws(node: ir.Node) -> bool:
    if node.op_type in _RANDOM_OPS:
        return True
    if node.op_type == "Dropout" and len(node.inputs) > 2 and node.inputs[2] is not None:
        flag = node.inputs[2].const_value
        producer = node.inputs[2].producer()
        if flag is None and producer is not None and producer.op_type == "Constant":
            flag = producer.attributes["value"].as_tensor() if "value" in producer.attributes else None
        return flag is None or bool(flag.numpy().item())
    return any(_draws(inner) for attr in node.attributes.values() if attr.type == ir.AttributeType.GRAPH
               for inner in attr.as_graph())


def random_outputs(model: ir.Model) -> set[str]:
    """Names of the graph outputs computed from random samples."""
    random: set[ir.Value] = set()
    for node in model.graph:
        if _draws(node) or any(v in random for v in node.inputs if v is not None):
            random.update(node.outputs)
    return set(value_names(v for v in model.graph.outputs if v in random))


def _independent_draws(got: torch.Tensor, want: torch.Tensor) -> int:
    """How many independent draws the samples hold: the elements, or, when zeros come in blocks of
    trailing axes in both (dropout2d zeroes whole channels), the blocks."""
    shape, n = tuple(want.shape), want.numel()
    if not bool((got == 0).any()) and not bool((want == 0).any()):
        return n
    for axis in range(1, len(shape)):  # the largest trailing block first
        size = math.prod(shape[axis:])
        if size <= 1:
            break
        blocks = [(t.reshape(-1, size) == 0) for t in (got, want)]
        if all(bool((zero.all(1) | ~zero.any(1)).all()) for zero in blocks):
            return n // size
    return n


def _compare_sample(name: str, got: torch.Tensor, want: torch.Tensor) -> OutputComparison:
    """Two random samples: same dtype and shape, zero fraction, mean and variance."""
    atol, rtol = TOLERANCES.get(want.dtype, (0.0, 0.0))
    dtype = str(want.dtype).removeprefix("torch.")
    compared = OutputComparison(name, dtype, tuple(want.shape), math.nan, math.nan, atol, rtol, method="statistical")
    if got.shape != want.shape or got.dtype != want.dtype:
        return dataclasses.replace(compared, problem=f"ONNX gives {str(got.dtype).removeprefix('torch.')}"
                                                     f"{list(got.shape)}")
    n = want.numel()
    if n < MIN_SAMPLE:
        return compared
    a, b = got.double().flatten(), want.double().flatten()
    if not (a.isfinite().all() and b.isfinite().all()):
        return compared
    n = _independent_draws(got, want)
    za, zb = float((a == 0).double().mean()), float((b == 0).double().mean())
    pooled = (za + zb) / 2
    zero_tol = _SIGMAS * math.sqrt(max(pooled * (1 - pooled), 1 / n) * 2 / n)
    if abs(za - zb) > zero_tol:
        return dataclasses.replace(compared, problem=f"{za:.1%} of the elements are 0 in ONNX Runtime, {zb:.1%} "
                                                     f"in PyTorch (tolerance {zero_tol:.1%})")
    for label, x, y in (("mean", a, b), ("variance", (a - a.mean()) ** 2, (b - b.mean()) ** 2)):
        mx, my = float(x.mean()), float(y.mean())
        scale = max(abs(mx), abs(my), float(x.std()), float(y.std()), 1e-12)
        tol = _SIGMAS * math.sqrt(float(x.var()) / n + float(y.var()) / n) + 2e-3 * scale
        if abs(mx - my) > tol:
            return dataclasses.replace(compared, problem=f"{label} {mx:.5g} in ONNX Runtime, {my:.5g} in PyTorch "
                                                         f"(tolerance {tol:.3g})")
    return compared


def eager_outputs(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  training: TrainingMode) -> list[torch.Tensor]:
    """The model's outputs in eager PyTorch, flattened as the ONNX outputs are.

    The model runs on fresh containers holding the same tensors: a transformers cache grows in
    place when the model runs, and the ONNX run must see the inputs as they were."""
    args, kwargs = tree_map(lambda leaf: leaf, (args, kwargs))
    if isinstance(model, ExportedProgram):  # its module has no train()/eval(): the mode was fixed at capture
        with torch.no_grad():
            result = model.module()(*args, **kwargs)
    else:
        with torch.no_grad(), model_mode(model, training):
            result = model(*args, **kwargs)
    return [t for t in tree_leaves(result) if isinstance(t, torch.Tensor)]


def verify(program: ONNXProgram, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
           training: TrainingMode = TrainingMode.EVAL) -> list[OutputComparison]:
    """Compare every output; raises VerificationError (with all the numbers) on a mismatch."""
    expected = eager_outputs(model, args, kwargs, training)
    actual = program(*args, **kwargs)
    names = value_names(program.model.graph.outputs)
    if len(actual) != len(expected):
        raise VerificationError(
            f"verification failed: the ONNX model has {len(actual)} outputs, eager PyTorch gives {len(expected)}", []
        )
    random = random_outputs(program.model)
    comparisons = [(_compare_sample if name in random else _compare)(name, got, want)
                   for name, got, want in zip(names, actual, expected)]
    program.verification = comparisons
    failed = [c for c in comparisons if not c.passed]
    if failed:
        raise VerificationError(
            f"verification failed: {len(failed)} of {len(comparisons)} output(s) differ between ONNX Runtime and "
            "eager PyTorch beyond tolerance:\n" + "\n".join(f"  {c}" for c in comparisons)
            + "\nCheck the specs of the ops feeding those outputs (`aten2onnx check OP` runs an op's tests).",
            comparisons,
        )
    return comparisons
