"""export()'s options: torch.onnx's enums and the checks that turn a bad value into a clear error.

Every option is checked before capture starts, so a typo costs nothing and leaves no file.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.rewrite import passes, runtime_versions
from aten2onnx.exporter.rewrite.ort_kernel_gaps import parse_version
from aten2onnx.generated import registry

DEFAULT_OPSET = 20


class TrainingMode(enum.IntEnum):
    """torch.onnx.TrainingMode, same names and values."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class OperatorExportTypes(enum.IntEnum):
    """torch.onnx.OperatorExportTypes, same names and values (ONNX and ONNX_ATEN_FALLBACK are served)."""

    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3


_SERVED_EXPORT_TYPES = (OperatorExportTypes.ONNX, OperatorExportTypes.ONNX_ATEN_FALLBACK)


@dataclass(frozen=True)
class ExportOptions:
    """export()'s keyword options after checking, in one place for the passes that read them."""

    opset_version: int = DEFAULT_OPSET
    input_names: tuple[str, ...] | None = None
    output_names: tuple[str, ...] | None = None
    export_params: bool = True
    keep_initializers_as_inputs: bool = False
    do_constant_folding: bool = True
    optimize: bool = False
    external_data: bool | None = None
    training: TrainingMode = TrainingMode.EVAL
    aten_fallback: bool = False
    custom_opsets: Mapping[str, int] = field(default_factory=dict)
    verbose: bool = False
    report: bool = False
    verify: bool = False
    artifacts_dir: Path = Path(".")
    target_runtime: str | None = passes.DEFAULT_TARGET_RUNTIME
    runtime_version: str | None = None  # the onnxruntime release the export is for ('1.28.0')


def _enum_value(value: Any, kind: type[enum.IntEnum], option: str) -> Any:
    """Accept our enum, torch.onnx's enum (matched by name) or the member's name as a string."""
    name = getattr(value, "name", value)
    if isinstance(name, str) and name.upper() in kind.__members__:
        return kind[name.upper()]
    choices = ", ".join(f"{kind.__name__}.{m}" for m in kind.__members__)
    raise ExportArgumentError(f"{option}={value!r} is not a {kind.__name__}; use one of {choices}")


def check_training(value: Any) -> TrainingMode:
    if isinstance(value, bool):  # the classic API took training=True/False
        return TrainingMode.TRAINING if value else TrainingMode.EVAL
    return _enum_value(value, TrainingMode, "training")


def check_export_type(value: Any) -> OperatorExportTypes:
    export_type = _enum_value(value, OperatorExportTypes, "operator_export_type")
    if export_type not in _SERVED_EXPORT_TYPES:
        raise ExportArgumentError(
            f"operator_export_type=OperatorExportTypes.{export_type.name} is not supported; use "
            "OperatorExportTypes.ONNX (default) or OperatorExportTypes.ONNX_ATEN_FALLBACK "
            "(ops without a spec become ATen nodes in domain org.pytorch.aten)"
        )
    return export_type


def check_opset(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not (
        registry.MIN_OPSET <= value <= registry.MAX_OPSET
    ):
        raise ExportArgumentError(
            f"opset_version={value!r} is not supported; choose an integer from "
            f"{registry.MIN_OPSET} to {registry.MAX_OPSET} (default {DEFAULT_OPSET})"
        )
    return value


def check_bool(value: Any, option: str) -> bool:
    if not isinstance(value, bool):
        raise ExportArgumentError(f"{option} must be True or False, got {value!r}")
    return value


def check_names(value: Any, option: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(n, str) and n for n in value):
        raise ExportArgumentError(f"{option} must be a list of non-empty strings, got {value!r}")
    if len(set(value)) != len(value):
        repeated = sorted({n for n in value if list(value).count(n) > 1})
        raise ExportArgumentError(f"{option} repeats {', '.join(repeated)}; each name must be unique")
    return tuple(value)


def check_custom_opsets(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1 for k, v in value.items()
    ):
        raise ExportArgumentError(f"custom_opsets must map domain names to positive opset versions, got {value!r}")
    for domain in value:
        if domain in ("", "ai.onnx"):
            raise ExportArgumentError("custom_opsets cannot set the default ONNX domain; use opset_version for it")
    return dict(value)


def check_output_path(f: Any) -> Path | Any | None:
    """A path whose folder exists, a writable binary file object, or None."""
    if f is None or (hasattr(f, "write") and not isinstance(f, (str, os.PathLike))):
        return f
    if not isinstance(f, (str, os.PathLike)):
        raise ExportArgumentError(f"f must be a file path or a binary file object, got {type(f).__name__}")
    path = Path(f)
    if not path.parent.is_dir():
        raise ExportArgumentError(f"cannot write the ONNX model to '{path}': folder '{path.parent}' does not exist")
    if path.is_dir():
        raise ExportArgumentError(f"cannot write the ONNX model to '{path}': it is a folder; give a file name")
    return path


def check_artifacts_dir(value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise ExportArgumentError(f"artifacts_dir must be a folder path, got {value!r}")
    path = Path(value)
    if not path.is_dir():
        raise ExportArgumentError(f"artifacts_dir '{path}' does not exist; create it or pass another folder")
    return path


def check_external_data(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ExportArgumentError(f"external_data must be True, False or None (automatic above 2 GB), got {value!r}")
    return value


def check_target_runtime(value: Any) -> str | None:
    if value not in passes.TARGET_RUNTIMES:
        raise ExportArgumentError(
            f"target_runtime={value!r} is not known; use 'onnxruntime' (the default: nodes ONNX Runtime has no "
            "CPU kernel for are rewritten, exporter/rewrite/ort_kernel_gaps.py) or None (standard ONNX as the specs "
            "emit it, for other runtimes)")
    return value


def resolve_runtime(target_runtime: str | None, runtime_version: Any, opset_version: Any) -> tuple[str | None, int]:
    """(onnxruntime release the export is for, opset): the opset defaults to DEFAULT_OPSET or the
    newest that release runs if lower; the release to the one named, else the installed one,
    else the oldest supported (or, for an opset newer than that release runs, the oldest that
    runs it: the model is then for another machine, and its gaps are those of that release)."""
    opset = None if opset_version is None else check_opset(opset_version)
    if target_runtime is None:
        if runtime_version is not None:
            raise ExportArgumentError("runtime_version names an onnxruntime release: it needs "
                                      "target_runtime='onnxruntime', not None")
        return None, DEFAULT_OPSET if opset is None else opset
    if runtime_version is not None:
        version = check_runtime_version(runtime_version)
        newest = runtime_versions.max_opset(version)
        if opset is not None and opset > newest:
            raise ExportArgumentError(
                f"opset_version={opset} is newer than onnxruntime {version} runs (opsets up to {newest}); choose "
                f"opset_version<={newest}, or a runtime_version that runs it "
                f"({runtime_versions.oldest_running(opset) or 'none measured'} or newer)")
    else:
        version = runtime_versions.default_target()
        if opset is not None and opset > runtime_versions.max_opset(version):
            version = runtime_versions.oldest_running(opset) or version
    return version, min(DEFAULT_OPSET, runtime_versions.max_opset(version)) if opset is None else opset


def check_runtime_version(value: Any) -> str:
    if not isinstance(value, str) or len(parse_version(value)) < 2:
        raise ExportArgumentError(f"runtime_version must name an onnxruntime release such as '1.28' or '1.28.0', "
                                  f"got {value!r}")
    if not runtime_versions.is_supported(value):
        raise ExportArgumentError(f"runtime_version={value!r} is older than the oldest onnxruntime aten2onnx "
                                  f"supports ({runtime_versions.OLDEST_SUPPORTED}); see the README's version table")
    return value


def build_options(*, opset_version: Any, input_names: Any, output_names: Any, export_params: Any,
                  keep_initializers_as_inputs: Any, do_constant_folding: Any, optimize: Any, external_data: Any,
                  training: Any, operator_export_type: Any, custom_opsets: Any, verbose: Any, report: Any,
                  verify: Any, artifacts_dir: Any, target_runtime: Any = passes.DEFAULT_TARGET_RUNTIME,
                  runtime_version: Any = None) -> ExportOptions:
    """export()'s keyword arguments, each checked, as ExportOptions."""
    target_runtime = check_target_runtime(target_runtime)
    runtime_version, opset = resolve_runtime(target_runtime, runtime_version, opset_version)
    return ExportOptions(
        opset_version=opset,
        input_names=check_names(input_names, "input_names"),
        output_names=check_names(output_names, "output_names"),
        export_params=check_bool(export_params, "export_params"),
        keep_initializers_as_inputs=check_bool(keep_initializers_as_inputs, "keep_initializers_as_inputs"),
        do_constant_folding=check_bool(do_constant_folding, "do_constant_folding"),
        optimize=check_bool(optimize, "optimize"),
        external_data=check_external_data(external_data),
        training=check_training(training),
        aten_fallback=check_export_type(operator_export_type) == OperatorExportTypes.ONNX_ATEN_FALLBACK,
        custom_opsets=check_custom_opsets(custom_opsets),
        verbose=check_bool(False if verbose is None else verbose, "verbose"),
        report=check_bool(report, "report"),
        verify=check_bool(verify, "verify"),
        artifacts_dir=check_artifacts_dir(artifacts_dir),
        target_runtime=target_runtime,
        runtime_version=runtime_version,
    )


def check_torch_only_options(*, dynamo: Any, profile: Any, fallback: Any, autograd_inlining: Any,
                             dump_exported_program: Any) -> None:
    """torch.onnx options with no meaning here are accepted at their defaults, refused otherwise."""
    for name, value in (("dynamo", dynamo), ("fallback", fallback), ("autograd_inlining", autograd_inlining),
                        ("dump_exported_program", dump_exported_program)):
        check_bool(value, name)  # dynamo=False/fallback=True: the TorchScript capture (exporter/torchscript)
    if profile:
        raise ExportArgumentError("profile=True is not supported by aten2onnx")
