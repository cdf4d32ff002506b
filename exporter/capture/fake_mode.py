"""aten2onnx.enable_fake_mode(): build a model whose parameters hold no memory, and capture such models.

As torch.onnx.enable_fake_mode, the parameters of modules built inside the context are fake
tensors (torch's FakeTensor: dtype, shape and device, no storage), so a model of any size can be
built and exported; its weights are applied to the ONNXProgram afterwards
(`apply_weights(checkpoint)`). Unlike torch.onnx's, buffers and every other tensor made inside
the context stay real: buffers are small and computed from the configuration (rotary
frequencies, masks, position ids), and checkpoints do not hold the non-persistent ones, so
faking them would lose values nothing could give back.

Models built on the meta device (`with torch.device("meta")`, `init_empty_weights`) are exported
too: for the capture their meta tensors become fake tensors on the device of the model's real
tensors and inputs (CPU), and meta example inputs become fake ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.fx.experimental.symbolic_shapes import ShapeEnv

from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.write.weight_sources import is_data_less


@dataclass
class FakeContext:
    """What enable_fake_mode() yields (torch.onnx's ONNXFakeContext): the mode the parameters belong to."""

    fake_mode: FakeTensorMode


def _new_mode() -> FakeTensorMode:
    # torch.onnx's settings: real tensors may meet fake ones (a model can make tensors in forward)
    return FakeTensorMode(allow_non_fake_inputs=True,
                          shape_env=ShapeEnv(allow_scalar_outputs=False, allow_dynamic_output_shape_ops=False))


def _fake_like(mode: FakeTensorMode, tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A fake tensor of `tensor`'s dtype, shape and strides on `device`; no data is read or kept."""
    meta = torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device="meta")
    return FakeTensor(mode, meta, device)


@contextlib.contextmanager
def enable_fake_mode() -> Iterator[FakeContext]:
    """Parameters of modules built in this context are fake: they take no memory and hold no values.

    Export the model as usual (without `f`), then apply the real weights and save::

        with aten2onnx.enable_fake_mode():
            model = MyModel(config)
        program = aten2onnx.export(model, (example_input,))
        program.apply_weights("checkpoint/")      # .safetensors, sharded folder or torch.save file
        program.save("checkpoint/model.onnx")     # points at the checkpoint's bytes: nothing copied

    A parameter created with real values (`nn.Parameter(torch.randn(n))`) holds them only until
    it is registered; layers that create theirs with torch.empty (nn.Linear, nn.Embedding and
    the like) never allocate them. Build the model in the dtype it is to have
    (`from_config(config, dtype=torch.float16)`, `torch.set_default_dtype`): torch cannot convert
    fake parameters afterwards (`model.to(torch.float16)` fails to swap them, as it does under
    FakeTensorMode).
    """
    context = FakeContext(_new_mode())
    original = torch.nn.Module.register_parameter

    def register_parameter(self: torch.nn.Module, name: str, param: torch.nn.Parameter | None) -> None:
        if (param is not None and not is_data_less(param)
                and not isinstance(param, torch.nn.parameter.UninitializedParameter)):
            # from_tensor reads only metadata; a fake made so can be converted later (model.to(float16))
            fake = context.fake_mode.from_tensor(param.detach(), static_shapes=True)
            param = torch.nn.Parameter(fake, requires_grad=param.requires_grad)
        original(self, name, param)

    torch.nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]
    try:
        yield context
    finally:
        torch.nn.Module.register_parameter = original  # type: ignore[method-assign]


def _state_dict_of(module: torch.nn.Module, is_parameter: bool) -> MutableMapping[str, Any]:
    """The module's own dict a state tensor sits in (written directly: Module.__setattr__ checks types)."""
    return module._parameters if is_parameter else module._buffers


def _state_tensors(model: torch.nn.Module) -> Iterator[tuple[torch.nn.Module, str, torch.Tensor, bool]]:
    for module in model.modules():
        for name, param in module._parameters.items():
            if param is not None:
                yield module, name, param, True
        for name, buffer in module._buffers.items():
            if buffer is not None:
                yield module, name, buffer, False


def has_data_less_state(model: Any) -> bool:
    """The module has fake or meta parameters or buffers (its weights are to be applied after export)."""
    return isinstance(model, torch.nn.Module) and any(is_data_less(t) for _, _, t, _ in _state_tensors(model))


def check_export_options(model: Any, target: Any, export_params: bool, verify: bool) -> None:
    """Refuse, before capturing, what a model without weights cannot do: write its weights, run eagerly."""
    if not has_data_less_state(model):
        return
    if verify:
        raise ExportArgumentError(
            "verify=True compares ONNX Runtime with eager PyTorch, which needs real weights; this model's are fake "
            "(enable_fake_mode) or on the meta device. Export without verify, apply the weights "
            "(program.apply_weights) and compare program(*inputs) with a real model yourself")
    if target is not None and export_params:
        raise ExportArgumentError(
            "this model's weights are fake (enable_fake_mode) or on the meta device, so export() has none to "
            "write to f: export without f, then call program.apply_weights(checkpoint) and program.save(f) "
            "(or pass export_params=False to write the graph with its weights as inputs)")


@contextlib.contextmanager
def capturable(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
               ) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """(args, kwargs) to capture `model` with: while it lasts, the model's meta tensors are fake tensors
    on the device of its real tensors (CPU when none), in the fake mode its fake parameters use, and
    so are meta inputs. Models without data-less state pass unchanged."""
    if not has_data_less_state(model):
        yield args, kwargs
        return
    state = list(_state_tensors(model))
    fakes = [t for _, _, t, _ in state if isinstance(t, FakeTensor)]
    mode = fakes[0].fake_mode if fakes else _new_mode()
    devices = {t.device for _, _, t, _ in state if t.device.type != "meta"}
    device = fakes[0].device if fakes else next(iter(devices), torch.device("cpu"))
    made: dict[int, torch.Tensor] = {}  # tied meta tensors stay tied

    def fake(tensor: Any) -> Any:
        if not isinstance(tensor, torch.Tensor) or tensor.device.type != "meta":
            return tensor  # real inputs stay real: torch.export makes them fake itself (and dynamic)
        if id(tensor) not in made:
            made[id(tensor)] = _fake_like(mode, tensor, device)
        return made[id(tensor)]

    swapped = []
    for module, name, tensor, is_parameter in state:
        if tensor.device.type != "meta":
            continue
        replacement = fake(tensor)
        if is_parameter and not isinstance(replacement, torch.nn.Parameter):
            replacement = made[id(tensor)] = torch.nn.Parameter(replacement, requires_grad=tensor.requires_grad)
        _state_dict_of(module, is_parameter)[name] = replacement
        swapped.append((module, name, tensor, is_parameter))
    try:
        yield torch.utils._pytree.tree_map(fake, (args, kwargs))
    finally:
        for module, name, tensor, is_parameter in swapped:
            _state_dict_of(module, is_parameter)[name] = tensor
