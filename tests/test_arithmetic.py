"""What --precision auto means, measured once a machine (painterly/arithmetic.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from painterly import arithmetic


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """An empty cache directory, nothing remembered in this process, and a measurement
    that counts its calls and says what ``seconds`` holds."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    arithmetic._remembered.cache_clear()
    calls: list[tuple[str, ...]] = []
    seconds = {"fp32": 1.0, "winograd": 1.2, "bf16": 0.5}

    def measure(names):
        calls.append(tuple(names))
        return {name: seconds[name] for name in names}

    monkeypatch.setattr(arithmetic, "measure", measure)
    monkeypatch.setattr(arithmetic, "candidates", lambda: ("fp32", "winograd", "bf16"))
    yield tmp_path / "painterly" / "arithmetic.json", calls, seconds
    arithmetic._remembered.cache_clear()


@pytest.mark.parametrize(("seconds", "chosen"), [
    ({"fp32": 1.0, "winograd": 1.2, "bf16": 0.5}, "bf16"),    # the Zen 5 EPYC's kind
    ({"fp32": 1.0, "winograd": 1.4, "bf16": 1.9}, "fp32"),    # session 34's Xeon
    ({"fp32": 1.0, "winograd": 0.7, "bf16": 0.8}, "winograd"),
    ({"fp32": 1.0, "winograd": 0.95}, "fp32"),                # a near tie stays fp32
    ({"fp32": 1.0, "bf16": 0.899}, "bf16"),
    ({"fp32": 1.0}, "fp32"),
])
def test_the_fastest_is_chosen_only_when_clearly_faster_than_fp32(seconds, chosen):
    assert arithmetic.choose(seconds) == chosen


def test_a_concrete_precision_is_kept_and_a_gpu_needs_no_measurement(monkeypatch):
    monkeypatch.setattr(arithmetic, "cpu_precision", lambda: pytest.fail("measured"))
    for name in ("fp32", "winograd", "bf16"):
        assert arithmetic.resolved(name, torch.device("cpu")) == name
    for supported, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda s=supported: s)
        assert arithmetic.resolved("auto", torch.device("cuda")) == expected


@pytest.mark.parametrize(("native", "expected"), [
    (True, ("fp32", "winograd", "bf16")),
    (False, ("fp32", "winograd")),
])
def test_candidates_leave_out_emulated_bf16(monkeypatch, native, expected):
    monkeypatch.setattr(arithmetic, "cpu_has_native_bf16", lambda: native)
    assert arithmetic.candidates() == expected


def test_one_candidate_needs_no_measurement(monkeypatch):
    monkeypatch.setattr(arithmetic, "candidates", lambda: ("fp32",))
    monkeypatch.setattr(arithmetic, "measure", lambda names: pytest.fail("measured"))
    assert arithmetic.cpu_precision() == "fp32"


def test_measured_once_a_machine_then_read_back(cache):
    path, calls, _ = cache
    assert arithmetic.resolved("auto", torch.device("cpu")) == "bf16"
    assert calls == [("fp32", "winograd", "bf16")]
    entry = next(iter(json.loads(path.read_text()).values()))
    assert entry == {"precision": "bf16", "seconds": {"fp32": 1.0, "winograd": 1.2, "bf16": 0.5}}
    arithmetic._remembered.cache_clear()  # a new process on the same machine
    assert arithmetic.cpu_precision() == "bf16"
    assert len(calls) == 1
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_another_machine_is_measured_beside_the_first(cache, monkeypatch):
    path, calls, _ = cache
    assert arithmetic.cpu_precision() == "bf16"
    monkeypatch.setattr(torch, "get_num_threads", lambda: 97)  # a part of the key
    arithmetic._remembered.cache_clear()
    assert arithmetic.cpu_precision() == "bf16"
    assert len(calls) == 2 and len(json.loads(path.read_text())) == 2


@pytest.mark.parametrize("text", [
    "not json", "[1, 2]", '{"KEY": "bf16"}', '{"KEY": {"precision": "auto"}}',
    '{"KEY": {"precision": "rm -rf /"}}', '{"KEY": {"precision": ["bf16"]}}',
    '{"KEY": {"precision": "bf16", "pad": "' + "x" * 70000 + '"}}',
])
def test_a_hostile_or_broken_cache_is_measured_over(cache, text):
    path, calls, seconds = cache
    seconds["bf16"] = 2.0  # the measurement says fp32; a file that says otherwise is ignored
    path.parent.mkdir(parents=True)
    path.write_text(text.replace("KEY", arithmetic._machine_key()))
    assert arithmetic.cpu_precision() == "fp32"
    assert len(calls) == 1
    assert next(iter(json.loads(path.read_text()).values()))["precision"] == "fp32"


def test_a_cache_that_cannot_be_written_is_no_error(cache, monkeypatch):
    path, calls, _ = cache

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(arithmetic.json, "dumps", full_disk)
    assert arithmetic.cpu_precision() == "bf16"
    assert len(calls) == 1
    assert list(path.parent.iterdir()) == []  # neither a cache nor a temporary file


def test_a_real_measurement_times_each_arithmetic_asked():
    seconds = arithmetic.measure(["fp32"])
    assert list(seconds) == ["fp32"]
    assert math.isfinite(seconds["fp32"]) and 0 < seconds["fp32"] < 60


def test_measures_first_only_auto_on_a_cpu_not_yet_measured(cache):
    cpu = torch.device("cpu")
    assert arithmetic.measures_first("auto", cpu)
    assert not arithmetic.measures_first("fp32", cpu)
    assert not arithmetic.measures_first("auto", torch.device("cuda"))
    arithmetic.cpu_precision()
    assert not arithmetic.measures_first("auto", cpu)
