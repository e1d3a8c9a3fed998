"""Where a run computes and in what arithmetic (painterly/devices.py)."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import torch

from painterly import SettingsError, TransferSettings
from painterly.devices import bf16_is_emulated, resolve_device, resolve_precision


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
    assert resolve_precision("auto", cpu) is (torch.bfloat16 if native else None)


def test_precision_resolves_per_device():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    with pytest.raises(SettingsError):
        TransferSettings(precision="fp8")


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists() or platform.machine() != "x86_64",
                    reason="reads the CPU's flags from Linux's /proc/cpuinfo")
def test_auto_precision_is_bf16_only_where_the_cpu_has_bf16_instructions():
    # oneDNN emulates bf16 on plain AVX-512 at several times the cost of fp32, so auto
    # must follow the instruction flags the kernel reports, not oneDNN's support check.
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    expected = torch.bfloat16 if native else None
    assert resolve_precision("auto", torch.device("cpu")) is expected



@pytest.mark.parametrize("native", [True, False])
def test_winograd_on_cpus_without_bf16_or_when_asked(monkeypatch, native):
    from painterly import devices, winograd

    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)
    cpu = torch.device("cpu")
    have = winograd.available()
    assert devices.uses_winograd("auto", cpu) == (have and not native)
    assert devices.uses_winograd("winograd", cpu) == have
    assert not devices.uses_winograd("fp32", cpu) and not devices.uses_winograd("bf16", cpu)
    assert not devices.uses_winograd("winograd", torch.device("cuda"))
    assert resolve_precision("winograd", cpu) is None  # fp32 arithmetic
