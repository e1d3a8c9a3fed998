"""Where a run computes and in what arithmetic: the device, a concrete precision's
autocast dtype and convolutions, and whether the CPU has bf16 instructions
(:mod:`painterly.arithmetic` chooses what ``auto`` means)."""

from __future__ import annotations

import platform

import torch

from .errors import SettingsError


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; a CUDA device that is absent is an error.

    ``name`` is a checked ``RunSettings.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise SettingsError("device", f"{name} requested but no CUDA device is available")
        if device.index is not None and device.index >= count:
            raise SettingsError("device", f"{name} requested but there are only {count} GPUs")
    return device


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a concrete precision, 'fp32', 'winograd' or 'bf16' (None:
    plain fp32); :func:`painterly.arithmetic.resolved` makes ``auto`` concrete."""
    _check_concrete(precision)
    return torch.bfloat16 if precision == "bf16" else None


def uses_winograd(precision: str, device: torch.device) -> bool:
    """Whether the network's fp32 convolutions run by Winograd's method where it is the
    faster (:class:`painterly.vgg.VGG19Features`): for the concrete precision 'winograd'
    on a CPU."""
    _check_concrete(precision)
    return precision == "winograd" and device.type == "cpu"


def _check_concrete(precision: str) -> None:
    if precision == "auto":  # a caller's mistake, not a user's
        raise ValueError("'auto' is made concrete first, by painterly.arithmetic.resolved")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (avx512_bf16 or AMX on x86-64)."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        # Not oneDNN's own check: that one is also true on plain AVX-512, where oneDNN
        # emulates bf16 at 3-4x the time of fp32 (measured on an Intel Xeon without it).
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()  # aarch64: the CPU's bf16 flag


def bf16_is_emulated(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` asks for bf16 on a CPU that only emulates it (slowly)."""
    return precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16()


def read_back(*values: torch.Tensor) -> list[float]:
    """0-d tensors' values on the host, in one copy: on a GPU each read waits for all
    the work queued before it."""
    return torch.stack([value.detach().reshape(()).double() for value in values]).tolist()
