"""Hypothesis profiles and, beside each, how many examples an op test must compare with eager torch.

`ci` (default: seeded, few examples), `compat` (make test-compat: the oldest and newest
environments), `thorough` (make test-thorough), `rotating` (make test-thorough-slice) and `dev` (a local run with Hypothesis' database).
Pick one with HYPOTHESIS_PROFILE. An op test's drawn examples that torch rejects, or that the spec's
constraints refuse, do not count towards `max_examples`: Hypothesis draws others in their place
(tests/op_tally.py), and the test fails when fewer than `min_compared` were compared.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings

# Health checks the op suites do not want, each for its reason:
# - too_slow: every example builds a model and an ONNX Runtime session (tens of milliseconds), so a
#   run of examples is slow by design; the suites' time is watched in CI instead.
# - filter_too_much: the op harness rejects the draws torch refuses and counts them; when too few
#   examples are left, op_tally fails the test naming the spec, the opset and torch's errors, which
#   says more than the health check (it names neither).
# - data_too_large: tensor lists (RNN weights, einsum operands, index lists) draw many choices per
#   example; Hypothesis' budget for one example's data is an implementation limit, not a finding.
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


@dataclass(frozen=True)
class Profile:
    """A Hypothesis profile and the fewest examples an op test of it must compare."""

    name: str
    min_compared: int
    options: dict[str, object] = field(default_factory=dict)


PROFILES = {p.name: p for p in (
    Profile("ci", 5, {"max_examples": 12, "derandomize": True}),
    # make test-compat: the op suite under the oldest and the newest supported versions, fewer examples
    Profile("compat", 5, {"max_examples": 5, "derandomize": True}),
    Profile("thorough", 50, {"max_examples": 300}),
    # make test-thorough-slice (CI): thorough's examples on one slice of the specs, seeded so that a
    # commit's CI result does not depend on the run: the slice moves with each commit's date instead
    Profile("rotating", 50, {"max_examples": 300, "derandomize": True}),
    Profile("dev", 10, {"max_examples": 40}),
)}


def load() -> Profile:
    """Register every profile, load the one HYPOTHESIS_PROFILE names (default `ci`) and return it."""
    for profile in PROFILES.values():
        settings.register_profile(profile.name, deadline=None, print_blob=True, suppress_health_check=_SUPPRESSED,
                                  **profile.options)
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    settings.load_profile(name)
    return PROFILES[name]


def current() -> Profile:
    """The loaded profile (HYPOTHESIS_PROFILE, default `ci`)."""
    return PROFILES[os.environ.get("HYPOTHESIS_PROFILE", "ci")]
