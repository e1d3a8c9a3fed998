"""Where a run computes and in what arithmetic (painterly/devices.py)."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import torch

from painterly import SettingsError, TransferSettings
from painterly.devices import (
    bf16_is_emulated,
    cpu_has_native_bf16,
    resolve_device,
    resolve_precision,
    uses_winograd,
)


@pytest.mark.skipif(torch.cuda.device_count() > 98, reason="that GPU is here")
def test_an_absent_gpu_is_a_settings_error():
    settings = TransferSettings(device="cuda:99")  # well-formed: the check is at run time
    with pytest.raises(SettingsError, match="device") as raised:
        resolve_device(settings.device)
    assert raised.value.field == "device"


@pytest.mark.parametrize("name", ["cuda:x", "tpu", "mps", "cpu:", ""])
def test_a_malformed_or_unsupported_device_is_refused_by_the_settings(name):
    with pytest.raises(SettingsError) as raised:
        TransferSettings(device=name)
    assert raised.value.field == "device"


def test_auto_is_the_gpu_when_there_is_one():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("native", [True, False])
def test_bf16_is_emulated_only_on_a_cpu_without_its_instructions(monkeypatch, native):
    monkeypatch.setattr("painterly.devices.cpu_has_native_bf16", lambda: native)
    cpu = torch.device("cpu")
    assert bf16_is_emulated("bf16", cpu) is not native
    assert not bf16_is_emulated("fp32", cpu) and not bf16_is_emulated("auto", cpu)
    assert not bf16_is_emulated("bf16", torch.device("cuda"))


def test_a_concrete_precision_resolves_to_its_dtype():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("winograd", cpu) is None  # fp32 arithmetic
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    with pytest.raises(SettingsError):
        TransferSettings(precision="fp8")


def test_auto_must_be_made_concrete_first():
    # painterly.arithmetic.resolved measures what auto means; devices never guesses it.
    for ask in (resolve_precision, uses_winograd):
        with pytest.raises(ValueError, match="arithmetic"):
            ask("auto", torch.device("cpu"))


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists() or platform.machine() != "x86_64",
                    reason="reads the CPU's flags from Linux's /proc/cpuinfo")
def test_native_bf16_follows_the_cpus_instruction_flags():
    # oneDNN emulates bf16 on plain AVX-512 at several times the cost of fp32, so the
    # check must follow the instruction flags the kernel reports, not oneDNN's own.
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    assert cpu_has_native_bf16() is bool(flags & {"avx512_bf16", "amx_bf16"})


def test_winograd_only_when_asked_on_a_cpu():
    cpu = torch.device("cpu")
    assert uses_winograd("winograd", cpu)
    assert not uses_winograd("fp32", cpu) and not uses_winograd("bf16", cpu)
    assert not uses_winograd("winograd", torch.device("cuda"))
