"""Ops torch.export cannot trace, captured whole as one aten node where a spec maps them.

torch.export traces a CompositeImplicitAutograd op (torch.cov) through torch's implementation of
it, and some of those read data: cov and corrcoef compare the weights (`aten.equal`), combinations
selects with a mask (a size known only from the data). Capture then fails although a spec could
translate the op as it is. Others have a kernel of their own but no fake rule, since the size
of an output depends on the data: linalg_lstsq's residuals exist only when every matrix has full
rank. While `kept_whole(opset)` is active, each op of `_WHOLE` that has a mapping at `opset` is
recorded as one node: a CompositeImplicitAutograd kernel is replaced by torch's own "preserve this
op" marker (the mechanism of ExportedProgram.run_decompositions), and a fake rule gives its outputs
from the arguments' sizes (the mapping's, where torch's depend on the data), so torch's
data-dependent code never runs while tracing. Eager calls are untouched (the marker is a Python kernel, which only tracing
consults), and every kernel and rule is restored on exit, also after an error.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from aten2onnx.exporter.translate import registry

# (sizes, dtype) of the op's output from its arguments (fake tensors and Python values), a list of
# them for an op with several outputs
Output = tuple[list[Any], torch.dtype]
OutputRule = Callable[..., Output | list[Output]]


def _float_result(dtype: torch.dtype) -> torch.dtype:
    """An integer statistic is computed in the default float dtype, as torch divides by a count."""
    return dtype if dtype.is_floating_point or dtype.is_complex else torch.get_default_dtype()


def _cov(self: torch.Tensor, correction: int = 1, fweights: torch.Tensor | None = None,
         aweights: torch.Tensor | None = None) -> tuple[list[Any], torch.dtype]:
    """torch.cov: [rows, rows] of a 2-D input; 0-d for one row (torch squeezes it) or a 1-D input."""
    torch._check(self.dim() <= 2, lambda: f"cov(): expected input to have two or fewer dimensions but got "
                                          f"an input with {self.dim()} dimensions")
    torch._check(self.dtype != torch.bool, lambda: "cov(): bool dtype is not supported for input")
    dtype = torch.promote_types(self.dtype, aweights.dtype) if aweights is not None else self.dtype
    rows = self.shape[0] if self.dim() == 2 else 1
    return ([] if rows == 1 else [rows, rows]), _float_result(dtype)


def _corrcoef(self: torch.Tensor) -> tuple[list[Any], torch.dtype]:
    return _cov(self)


def _choose(n: Any, r: int) -> Any:
    """C(n, r); for a symbolic n a new size of its own, as torch's data-dependent ops give (a formula
    in n would make torch guard on it): translation then refuses the length known only at run time."""
    if isinstance(n, int):
        return math.comb(n, r) if n >= 0 else 0
    count = n.node.shape_env.create_unbacked_symint()
    torch._check(count >= 0)
    return count


def _combinations(self: torch.Tensor, r: int = 2, with_replacement: bool = False) -> tuple[list[Any], torch.dtype]:
    """torch.combinations: [C(n, r), r] rows (with replacement C(n + r - 1, r)); r == 0 gives [0]."""
    torch._check(self.dim() == 1, lambda: f"Expect a 1D vector, but got shape {list(self.shape)}")
    torch._check(r >= 0, lambda: f"Expect a non-negative number, but got {r}")
    if r == 0:
        return [0], self.dtype
    n = self.shape[0]
    return [_choose(n + r - 1 if with_replacement else n, r), r], self.dtype


def _lstsq(self: torch.Tensor, b: torch.Tensor, rcond: float | None = None,
           driver: str | None = None) -> list[Output]:
    """torch.linalg.lstsq's (solution, residuals, rank, singular_values) as its driver shapes them; the
    residuals as for an A of full rank (torch's are empty otherwise: the spec's note says so)."""
    torch._check(self.dim() >= 2, lambda: "torch.linalg.lstsq: input must have at least 2 dimensions.")
    torch._check(self.dim() - 1 <= b.dim() <= self.dim(),
                 lambda: "torch.linalg.lstsq: input.dim() must be greater or equal to other.dim() and "
                         "(input.dim() - other.dim()) <= 1")
    vector = b.dim() == self.dim() - 1
    m, n = self.shape[-2], self.shape[-1]
    columns = 1 if vector else b.shape[-1]
    own = list(self.shape[:-2])
    batch = list(torch.broadcast_shapes(self.shape[:-2], b.shape[:-1] if vector else b.shape[:-2]))
    driver = driver or "gelsy"
    residuals = [*batch, columns] if driver != "gelsy" and m > n else [0]
    return [([*batch, n] if vector else [*batch, n, columns], self.dtype), (residuals, self.dtype),
            (own if driver != "gels" else [0], torch.int64),
            ([*own, min(m, n)] if driver in ("gelsd", "gelss") else [0], self.dtype)]


@dataclass(frozen=True)
class _WholeOp:
    overload: str  # as the specs name it
    output: OutputRule


# The ops torch.export cannot trace through and a spec may translate whole.
_WHOLE = (
    _WholeOp("aten::cov.default", _cov),
    _WholeOp("aten::corrcoef.default", _corrcoef),
    _WholeOp("aten::combinations.default", _combinations),
    _WholeOp("aten::linalg_lstsq.default", _lstsq),
)


def _op(overload: str) -> torch._ops.OpOverload:
    name, overload_name = overload.split("::", 1)[1].split(".")
    op = getattr(getattr(torch.ops.aten, name), overload_name)
    assert isinstance(op, torch._ops.OpOverload)
    return op


def whole_ops(opset: int) -> list[str]:
    """The overloads `kept_whole(opset)` keeps as one node: those with a mapping at `opset`."""
    return [w.overload for w in _WHOLE if registry.lookup(w.overload, opset) is not None]


def _fake_rule(output: OutputRule) -> Callable[..., Any]:
    def rule(fake_mode: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        outputs = output(*args, **kwargs)
        device = args[0].device if args and isinstance(args[0], torch.Tensor) else kwargs["self"].device
        with fake_mode:
            if isinstance(outputs, tuple):
                return torch.empty(outputs[0], dtype=outputs[1], device=device)
            return tuple(torch.empty(sizes, dtype=dtype, device=device) for sizes, dtype in outputs)
    return rule


@contextlib.contextmanager
def kept_whole(opset: int) -> Iterator[list[str]]:
    """While active, tracing records each op `whole_ops(opset)` names as one node (yielded: their names).

    Without torch's private helpers (a torch that moved them) nothing is kept whole: capture
    behaves as before, and such an op fails inside torch as it would without this context.
    """
    try:
        from torch._export.utils import _special_op_to_preserve_cia
        from torch._subclasses import fake_impls
        from torch.export.exported_program import _override_composite_implicit_decomp
    except ImportError:
        yield []
        return
    kept = [w for w in _WHOLE if registry.lookup(w.overload, opset) is not None]
    ops = [_op(w.overload) for w in kept]
    # what is patched, as it was: torch's override restores the kernels but drops every fake rule
    kernels = {op: op.py_kernels.copy() for op in ops}
    rules = {op: fake_impls.op_implementations_dict.get(op) for op in ops}
    try:
        for op, whole in zip(ops, kept):
            if rules[op] is None:  # torch's own rule, if it has one, is used
                fake_impls.register_op_impl(op)(_fake_rule(whole.output))
        # the fake rule must exist first: without one, torch registers the op's own composite
        # implementation as its fake rule, which is the data-dependent code this avoids
        composite = [op for op in ops if torch._C._dispatch_has_kernel_for_dispatch_key(
            op.name(), "CompositeImplicitAutograd")]
        with _override_composite_implicit_decomp({op: _special_op_to_preserve_cia for op in composite}):
            yield [w.overload for w in kept]
    finally:
        for op in ops:
            op.py_kernels.clear()
            op.py_kernels.update(kernels[op])
            op._dispatch_cache.clear()
            fake_impls._deregister_op_impl(op)
            rule = rules[op]
            if rule is not None:
                fake_impls.op_implementations_dict[op] = rule
