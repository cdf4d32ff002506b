"""Which onnxruntime versions aten2onnx exports for, and the newest opset each one runs.

An onnxruntime session refuses a model stamped with an opset newer than its own ("Current
official support for domain ai.onnx is till opset N", or an IR version it does not know).
`MAX_OPSETS` holds that N per release, measured by scripts/probe_ort_kernels.py (a one-node
model at each opset, with the lowest IR version the opset needs) in every release from 1.17 to
1.32. Which CPU kernels each release lacks is in exporter/rewrite/ort_kernel_gaps.py (its entries'
`versions`), from the same probes.

The oldest supported release is the oldest in which the whole test suite passes, at every
opset it runs (`make test-compat` runs it there). Found by running the op suite in every
release: older ones compute some ops wrongly where no rewrite is cheap. 1.25 ignores a boolean
attention mask that masks a whole row (Attention, opsets 23 and 26); 1.24 also pools wrongly
with ceil_mode and padding (AveragePool 3-D, opset 19 on); 1.21-1.23 refuse LayerNormalization
over a single element and pad wrongly with negative pads (a crop) along dynamic axes, as 1.20
does too, with a 3-D average pool at opset 9 besides; below 1.20 ArgMax/ArgMin lack int64 and
float64 kernels, which no exact rewrite replaces. onnxruntime 1.24 on needs Python 3.11.
"""

from __future__ import annotations

import importlib.metadata

from aten2onnx.exporter.rewrite.ort_kernel_gaps import parse_version

OLDEST_SUPPORTED = "1.26"
NEWEST_TESTED = "1.32"

# (first release, the newest opset it runs), oldest first: each row holds until the next.
MAX_OPSETS: tuple[tuple[str, int], ...] = (
    ("1.17", 20),
    ("1.18", 21),
    ("1.21", 22),
    ("1.23", 23),
    ("1.24", 25),
    ("1.25", 26),
    ("1.32", 28),
)

# Distributions that install the `onnxruntime` module: the CPU build and the accelerated ones.
_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino",
                  "onnxruntime-training")


def installed_version() -> str | None:
    """The installed onnxruntime's version ('1.32.0'), None when it is not installed."""
    for name in _DISTRIBUTIONS:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def max_opset(version: str) -> int:
    """The newest opset onnxruntime `version` runs (a release newer than any measured: the newest known)."""
    have = parse_version(version)
    newest = MAX_OPSETS[0][1]
    for first, opset in MAX_OPSETS:
        if have[:len(parse_version(first))] >= parse_version(first):
            newest = opset
    return newest


def oldest_running(opset: int) -> str | None:
    """The oldest supported release that runs `opset`; None when no measured release does."""
    for first, newest in MAX_OPSETS:
        if newest >= opset:
            return max(first, OLDEST_SUPPORTED, key=parse_version)
    return None


def is_supported(version: str) -> bool:
    """Whether `version` is at least the oldest supported release."""
    oldest = parse_version(OLDEST_SUPPORTED)
    return parse_version(version)[:len(oldest)] >= oldest


def default_target() -> str:
    """The release an export targets when none is named: the installed one, else the oldest supported."""
    return installed_version() or OLDEST_SUPPORTED
