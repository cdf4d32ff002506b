"""Counts what an op test did with its drawn examples, so that it cannot pass on nothing.

A drawn example is compared (eager torch and ONNX Runtime agreed), rejected by torch (not a valid
call), refused by one of the spec's constraints (the documented error was checked) or skipped (no
valid model for it, e.g. bfloat16 below opset 13). Only compared examples count towards Hypothesis'
`max_examples`: the others are rejected (`hypothesis.reject`) so that it draws more in their place.
`run_counted` runs the Hypothesis test and then fails unless enough were compared, naming the spec,
the opset and why the rest were dropped. It counts in the test body and checks after `@given`
returns: a passing run has no shrinking phase, and every example it replays is a real comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

import pytest
from hypothesis import reject
from hypothesis.errors import Unsatisfiable

_REASONS_SHOWN = 3


@dataclass
class Tally:
    """What happened to the examples one op test drew at one opset."""

    drawn: int = 0
    compared: int = 0
    torch_rejected: int = 0
    refused: int = 0
    reasons: list[str] = field(default_factory=list)  # the first few distinct errors torch raised

    def draw(self) -> None:
        self.drawn += 1

    def rejected_by_torch(self, error: BaseException) -> NoReturn:
        """Torch refuses the drawn call: not an example; Hypothesis draws another."""
        self.torch_rejected += 1
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        if reason not in self.reasons and len(self.reasons) < _REASONS_SHOWN:
            self.reasons.append(reason[:200])
        reject()

    def refused_by_spec(self) -> NoReturn:
        """A documented refusal, already checked: not a comparison; Hypothesis draws another."""
        self.refused += 1
        reject()

    def compare(self) -> None:
        self.compared += 1

    @property
    def skipped(self) -> int:
        return self.drawn - self.compared - self.torch_rejected - self.refused


def run_counted(test: Callable[[], None], tally: Tally, minimum: int, what: str) -> None:
    """Run the Hypothesis test `test` (which records into `tally`), then fail unless at least `minimum`
    examples were compared. `what` names the op, the opset and the spec's file:line.

    Fewer are enough only when every example drawn was compared: Hypothesis stopped because the
    hints have no more distinct examples to give.
    """
    try:
        test()
    except Unsatisfiable:
        pass  # every draw was dropped: the count below says why
    exhausted = tally.compared == tally.drawn > 0
    if tally.compared >= minimum or exhausted:
        return
    pytest.fail(shortfall(tally, minimum, what), pytrace=False)


def shortfall(tally: Tally, minimum: int, what: str) -> str:
    """The failure message: what was compared, why the rest were dropped, and what to do."""
    dropped = []
    if tally.torch_rejected:
        errors = "; ".join(tally.reasons)
        dropped.append(f"torch rejected {tally.torch_rejected} ({errors})")
    if tally.refused:
        dropped.append(f"the spec's constraints refused {tally.refused}")
    if tally.skipped:
        dropped.append(f"{tally.skipped} had no valid model to compare (e.g. bfloat16 before opset 13)")
    return (f"{what}: compared {tally.compared} examples with eager torch, fewer than the {minimum} required; "
            f"{tally.drawn} were drawn: {', '.join(dropped) or 'none was dropped'}. Fix the spec's 'test:' hints so "
            "that most drawn arguments are a call torch accepts and the spec supports (opspecs/README.md, "
            "'Test hints')")
