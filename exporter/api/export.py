"""aten2onnx.export: the public entry point, modelled on torch.onnx.export.

A thin orchestrator: check every option, capture, translate, run the post-passes the
options ask for, verify, save. Each step lives in its own module.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.export import ExportedProgram

from aten2onnx.exporter import options as opt
from aten2onnx.exporter import progress
from aten2onnx.exporter.api.export_state import exporting
from aten2onnx.exporter.api.program import ONNXProgram
from aten2onnx.exporter.api.report import ExportRecord, write_report
from aten2onnx.exporter.api.verbose import graph_text
from aten2onnx.exporter.api.verify import verify as verify_program
from aten2onnx.exporter.capture import fake_mode, kv_cache, whole_ops
from aten2onnx.exporter.capture.dim_names import leaf_specs, user_dim_names
from aten2onnx.exporter.capture.dynamic_hints import capture_with_hints
from aten2onnx.exporter.capture.legacy_dynamic_axes import DynamicAxes, from_dynamic_axes, name_output_axes
from aten2onnx.exporter.capture.model_inputs import check_signature, named_inputs, split_trailing_kwargs
from aten2onnx.exporter.capture.torch_export import decompose
from aten2onnx.exporter.errors import CaptureError, ExportArgumentError
from aten2onnx.exporter.options import DEFAULT_OPSET, ExportOptions, OperatorExportTypes, TrainingMode
from aten2onnx.exporter.rewrite import module_functions, passes
from aten2onnx.exporter.translate import registry, translation_table
from aten2onnx.exporter.translate.translator import constant_inputs, translate
from aten2onnx.exporter.write import weights_as_inputs as weights

__all__ = ["DEFAULT_OPSET", "export", "dynamo_export", "supported_ops"]


@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector off while exporting: capture and translation make hundreds of
    thousands of objects that live to the end, and every full collection walks them all (a fifth
    of BERT-base's translation, a tenth of its capture). Reference counting still frees the rest
    at once; cycles left behind are collected after the export."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_model_and_inputs(model: Any, args: Any, kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not isinstance(model, (torch.nn.Module, ExportedProgram, torch.jit.ScriptFunction)):
        raise ExportArgumentError(
            f"model must be a torch.nn.Module, a torch.jit.ScriptModule/ScriptFunction or a "
            f"torch.export.ExportedProgram, got {type(model).__name__}"
        )
    if isinstance(args, torch.Tensor):
        args = (args,)
    elif args is None:
        args = ()
    elif not isinstance(args, (tuple, list)):
        raise ExportArgumentError(f"args must be a tuple of example inputs, got {type(args).__name__}")
    args = tuple(args)
    if kwargs is not None and not (isinstance(kwargs, Mapping) and all(isinstance(k, str) for k in kwargs)):
        raise ExportArgumentError(f"kwargs must be a dict of keyword inputs, got {type(kwargs).__name__}")
    if not kwargs:
        args, kwargs = split_trailing_kwargs(model, args)
    kwargs = dict(kwargs or {})
    check_signature(model, args, kwargs)
    return args, kwargs


def _dynamic(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], dynamic_axes: Any, dynamic_shapes: Any,
             options: ExportOptions) -> DynamicAxes:
    if dynamic_axes is not None and dynamic_shapes is not None:
        raise ExportArgumentError("pass either dynamic_axes (torch.onnx's legacy form) or dynamic_shapes, not both")
    if dynamic_axes is not None:
        axes = from_dynamic_axes(model, args, kwargs, dynamic_axes, options.input_names, options.output_names)
    else:
        axes = DynamicAxes(dynamic_shapes)
    if axes.dynamic_shapes is not None and isinstance(model, ExportedProgram):
        raise ExportArgumentError("an ExportedProgram's shapes are fixed at capture: pass dynamic_shapes to "
                                  "torch.export.export, or give export() the nn.Module")
    return axes


def _weights_order(model: Any, program: ExportedProgram | None) -> list[str]:
    """state_dict order, as torch.onnx orders weight inputs."""
    if isinstance(model, torch.nn.Module):
        return list(model.state_dict(keep_vars=True))
    return list(program.state_dict) if program is not None else []


def _post_passes(onnx_program: ONNXProgram, model: Any, program: ExportedProgram | None, options: ExportOptions,
                 axes: DynamicAxes, record: ExportRecord,
                 modules_as_functions: module_functions.ModuleSelection | None) -> None:
    """Weights as inputs and their names, folding, optimization, output axis names, module functions."""
    model_ir = onnx_program.model
    onnx_program.weight_feeds = weights.arrange_weights(
        model_ir, _weights_order(model, program), export_params=options.export_params,
        keep_initializers_as_inputs=options.keep_initializers_as_inputs, input_names=options.input_names or (),
    )
    if options.do_constant_folding:  # after arrange_weights: weights that became inputs are not folded
        passes.fold_constants(model_ir)
    if options.optimize:
        passes.optimize(model_ir)
    name_output_axes(model_ir, axes.output_axes, record.dynamic.fixed_names)
    module_functions.extract(model_ir, modules_as_functions, model)  # last: folding must not see into calls


def _report_options(options: ExportOptions) -> dict[str, Any]:
    defaults = ExportOptions()
    return {k: v for k, v in vars(options).items() if v != getattr(defaults, k) and k != "artifacts_dir"}


def export(
    model: torch.nn.Module | ExportedProgram,
    args: Any = (),
    f: str | os.PathLike[str] | Any | None = None,
    *,
    kwargs: dict[str, Any] | None = None,
    verbose: bool | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset_version: int | None = None,
    dynamo: bool = True,
    external_data: bool | None = None,
    dynamic_shapes: Any = None,
    custom_translation_table: Mapping[Callable[..., Any], Callable[..., Any]] | None = None,
    report: bool = False,
    optimize: bool = False,
    verify: bool = False,
    profile: bool = False,
    dump_exported_program: bool = False,
    artifacts_dir: str | os.PathLike[str] = ".",
    fallback: bool = False,
    export_params: bool = True,
    keep_initializers_as_inputs: bool = False,
    dynamic_axes: Mapping[str, Mapping[int, str]] | Mapping[str, Sequence[int]] | None = None,
    training: TrainingMode = TrainingMode.EVAL,
    operator_export_type: OperatorExportTypes = OperatorExportTypes.ONNX,
    do_constant_folding: bool = True,
    custom_opsets: Mapping[str, int] | None = None,
    export_modules_as_functions: bool | Collection[type[torch.nn.Module]] = False,
    autograd_inlining: bool = True,
    target_runtime: str | None = "onnxruntime",
    runtime_version: str | None = None,
) -> ONNXProgram:
    """Export `model` to ONNX at `opset_version` (9 to 26; default 20, or the newest opset the target
    onnxruntime release runs if that is older); save to `f` when given.

    Takes torch.onnx.export's arguments with the same meaning. The model is captured with
    torch.export (dynamo=True), or with TorchScript (dynamo=False, a ScriptModule/ScriptFunction,
    or fallback=True when torch.export fails: exporter/torchscript); ops without a mapping are
    decomposed by torch, every node is translated through the registry (custom symbolics, loaded
    specs, generated specs). On any error nothing is written but the report (report=True).

    `target_runtime` (aten2onnx's own option): "onnxruntime" (default) rewrites the nodes ONNX
    Runtime has no CPU kernel for (exporter/rewrite/ort_kernel_gaps.py); None keeps the standard ONNX
    the specs emit, for other runtimes. `ONNXProgram.rewrites` lists what was rewritten.
    `runtime_version` ('1.28') names the onnxruntime release the model is for (default: the
    installed one, or the oldest supported when none is); only that release's kernel gaps are
    rewritten, and the default opset is never newer than it runs.
    """
    opt.check_torch_only_options(dynamo=dynamo, profile=profile, fallback=fallback,
                                 autograd_inlining=autograd_inlining, dump_exported_program=dump_exported_program)
    table = translation_table.check_table(custom_translation_table)
    modules_as_functions = module_functions.check_selection(export_modules_as_functions)
    options = opt.build_options(
        opset_version=opset_version, input_names=input_names, output_names=output_names,
        export_params=export_params, keep_initializers_as_inputs=keep_initializers_as_inputs,
        do_constant_folding=do_constant_folding, optimize=optimize, external_data=external_data,
        training=training, operator_export_type=operator_export_type, custom_opsets=custom_opsets,
        verbose=verbose, report=report, verify=verify, artifacts_dir=artifacts_dir,
        target_runtime=target_runtime, runtime_version=runtime_version,
    )
    kv_cache.register()  # before anything flattens the inputs
    args, kwargs = _check_model_and_inputs(model, args, kwargs)
    target = opt.check_output_path(f)
    fake_mode.check_export_options(model, target, options.export_params, options.verify)
    if target is not None and not isinstance(target, os.PathLike) and options.external_data:
        raise ExportArgumentError("external_data=True needs f to be a file path (the weights go beside it)")
    axes = _dynamic(model, args, kwargs, dynamic_axes, dynamic_shapes, options)
    if not dynamo and isinstance(model, ExportedProgram):
        raise ExportArgumentError("dynamo=False exports an nn.Module or a TorchScript model; an ExportedProgram "
                                  "was already captured by torch.export: export it with dynamo=True")
    record = ExportRecord(type(model).__name__, options.opset_version, _report_options(options))
    record.dynamic.notes.extend(axes.ignored)
    try:
        with _cycle_collector_paused():
            with exporting(), kv_cache.exporting_caches(), translation_table.installed(table) as table_session:
                record.table_uses = table_session.uses
                if not dynamo or _is_scripted(model):
                    onnx_program = _export_torchscript(model, args, kwargs, axes, options, record,
                                                       modules_as_functions)
                else:
                    onnx_program = _export(model, args, kwargs, axes, options, record, dump_exported_program,
                                           modules_as_functions, fallback)
            if target is not None:
                with progress.stage(f"saving {target}"):
                    onnx_program.save(target, external_data=options.external_data)
                record.saved_weights = onnx_program.saved_weights
    except Exception as error:
        record.error = error
        if options.report:
            path = write_report(record, options.artifacts_dir)
            error.report_path = path  # type: ignore[attr-defined]
            if hasattr(error, "add_note"):
                error.add_note(f"aten2onnx: report written to {path}")
        raise
    if options.report:
        onnx_program.report_path = write_report(record, options.artifacts_dir)
    return onnx_program


def _is_scripted(model: Any) -> bool:
    return isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction))


def _export_torchscript(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], axes: DynamicAxes,
                        options: ExportOptions, record: ExportRecord,
                        modules_as_functions: module_functions.ModuleSelection | None, after: str = "") -> ONNXProgram:
    """The classic exporter's capture (exporter/torchscript): trace, or take the scripted model."""
    from aten2onnx.exporter.torchscript.export import (  # loads torch's tracing on use
        export_torchscript,
        operator_counts,
    )

    start = time.perf_counter()
    how = "as scripted" if _is_scripted(model) else "with torch.jit.trace"
    record.capture_method = "torch.jit.script" if _is_scripted(model) else "torch.jit.trace"  # for a failure's report
    with progress.stage(f"{after}capturing {type(model).__name__} {how} and translating at opset "
                        f"{options.opset_version}"):
        captured, model_ir = export_torchscript(model, args, kwargs, axes, options,
                                                modules_as_functions=modules_as_functions is not None)
        record.capture_method = captured.method
        record.operator_counts = operator_counts(captured.graph)
        record.capture_notes += [str(b) for b in captured.baked] + captured.notes
        onnx_program = ONNXProgram(model_ir)
        onnx_program.capture_method = captured.method
        onnx_program.capture_notes = list(record.capture_notes)
        record.onnx_model = model_ir
        translation_table.add_functions(model_ir, options.custom_opsets)
        _post_passes(onnx_program, model, None, options, axes, record, modules_as_functions)
    record.seconds["capture and translate"] = time.perf_counter() - start
    _finish(onnx_program, model, args, kwargs, options, record)
    return onnx_program


def _export(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], axes: DynamicAxes, options: ExportOptions,
            record: ExportRecord, dump_exported_program: bool,
            modules_as_functions: module_functions.ModuleSelection | None, fallback: bool = False) -> ONNXProgram:
    start = time.perf_counter()
    if isinstance(model, ExportedProgram):
        program, dim_names = model, {}
    else:
        try:
            with progress.stage(f"capturing {type(model).__name__} with torch.export"), \
                    fake_mode.capturable(model, args, kwargs) as (args, kwargs), \
                    whole_ops.kept_whole(options.opset_version):
                program, _ = capture_with_hints(model, args, kwargs, axes.dynamic_shapes, options.training,
                                                record.dynamic)
        except CaptureError as error:
            if not fallback:
                raise
            record.capture_notes.append(f"torch.export could not capture the model; fallback=True exported it "
                                        f"with TorchScript instead. torch.export said: {str(error).splitlines()[0]}")
            return _export_torchscript(model, args, kwargs, axes, options, record, modules_as_functions,
                                       after="torch.export failed (fallback=True): ")
        dim_names = user_dim_names(program, leaf_specs(model, args, kwargs, axes.dynamic_shapes))
    record.exported_program = program
    record.constant_inputs = {**constant_inputs(program), **record.dynamic.bound}
    record.seconds["capture"] = time.perf_counter() - start
    if dump_exported_program:
        (options.artifacts_dir / f"{record.model_name}_exported_program.txt").write_text(str(program))
    start = time.perf_counter()
    # a transformers cache among the inputs or outputs: its tensors get ONNX Runtime's names
    cache_inputs, cache_outputs = kv_cache.default_names(program, named_inputs(model, args, kwargs))
    with progress.stage(f"translating to ONNX at opset {options.opset_version}"):
        program = decompose(program, options.opset_version, owned=not isinstance(model, ExportedProgram))
        record.exported_program = program
        model_ir = translate(
            program, options.opset_version, options.input_names or cache_inputs,
            options.output_names or cache_outputs, dim_names,
            aten_fallback_ok=options.aten_fallback, custom_opsets=options.custom_opsets,
            target_runtime=options.target_runtime, runtime_version=options.runtime_version,
            model_name=type(model).__name__ if isinstance(model, torch.nn.Module) else "",  # scope root
        )
        translation_table.add_functions(model_ir, options.custom_opsets)
        onnx_program = ONNXProgram(model_ir, program)
        record.onnx_model = model_ir
        _post_passes(onnx_program, model, program, options, axes, record, modules_as_functions)
    record.seconds["translate"] = time.perf_counter() - start
    _finish(onnx_program, model, args, kwargs, options, record)
    return onnx_program


def _finish(onnx_program: ONNXProgram, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
            options: ExportOptions, record: ExportRecord) -> None:
    """verbose and verify, on either path."""
    model_ir = onnx_program.model
    if options.verbose:
        print(graph_text(model_ir.graph))
    if options.verify:  # still inside exporting(): eager takes the same is_in_onnx_export() branch
        start = time.perf_counter()
        with progress.stage("verifying in ONNX Runtime against eager PyTorch"):
            record.verification = verify_program(onnx_program, model, args, kwargs, options.training)
        record.seconds["verify"] = time.perf_counter() - start
        for comparison in record.verification:  # the numbers verify=True promises, one line per output
            print(f"aten2onnx: verified {comparison}", file=sys.stderr)


def dynamo_export(model: torch.nn.Module | ExportedProgram, /, *model_args: Any, export_options: Any = None,
                  **model_kwargs: Any) -> ONNXProgram:
    """Deprecated alias of `export(model, model_args, kwargs=model_kwargs)` (as torch.onnx.dynamo_export)."""
    warnings.warn("aten2onnx.dynamo_export is deprecated; use aten2onnx.export(model, args, ...)",
                  DeprecationWarning, stacklevel=2)
    if export_options is not None:
        raise ExportArgumentError("export_options is not supported; pass export()'s keyword options instead")
    return export(model, model_args, kwargs=model_kwargs)


def supported_ops(opset_version: int = DEFAULT_OPSET) -> list[str]:
    """The ATen overloads with a mapping at `opset_version` (the support matrix's data)."""
    opt.check_opset(opset_version)
    return registry.supported_ops(opset_version)
