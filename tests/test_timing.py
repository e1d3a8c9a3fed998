"""The time a print-size run expects, said before it starts."""

from __future__ import annotations

import math

import pytest
import torch

from painterly import TransferSettings, stylize, transfer
from painterly.cli.progress import plan_line
from painterly.cost import KEPT_TIME, iteration_cost
from painterly.events import Interrupted, Plan, PlannedStage, Progress, StopRequested
from painterly.tiles import Split
from painterly.timing import ITERATION_PASSES, estimate_seconds, seconds_per_pixel
from painterly.vgg import load_extractor


def test_a_whole_stage_costs_its_iterations_and_targets_in_passes_over_its_pixels():
    stages = [PlannedStage(400, 300, 9, None)]
    # 10 evaluations (9 iterations and the targets) of 120000 pixels.
    assert estimate_seconds(stages, "conv5_1", 1e-6) == pytest.approx(
        10 * 120_000 * ITERATION_PASSES * 1e-6)


def test_tiles_cost_their_margins_and_statistics_pass_and_the_stages_add_up():
    whole, tiled = PlannedStage(2048, 1536, 5, None), PlannedStage(2048, 1536, 5, 512)
    ratio = estimate_seconds([tiled], "conv5_1", 1e-6) / estimate_seconds([whole], "conv5_1", 1e-6)
    assert ratio == pytest.approx(iteration_cost(1536, 2048, 512, "conv5_1") / (2048 * 1536))
    assert ratio > 1.6  # margins and the statistics pass
    both = estimate_seconds([whole, tiled], "conv5_1", 1e-6)
    assert both == pytest.approx(estimate_seconds([whole], "conv5_1", 1e-6)
                                 + estimate_seconds([tiled], "conv5_1", 1e-6))
    # A run that keeps the memory it frees: its tiled stages take KEPT_TIME.
    kept = estimate_seconds([whole, tiled], "conv5_1", 1e-6, kept=True)
    assert kept == pytest.approx(estimate_seconds([whole], "conv5_1", 1e-6)
                                 + KEPT_TIME * estimate_seconds([tiled], "conv5_1", 1e-6))


def test_the_share_of_work_done_counts_each_stage_as_the_plan_time_does(small_content,
                                                                         small_style):
    """Each stage's targets weigh one iteration, before its first: the share after each
    iteration is the stages' work so far over all of it (timing.stage_work)."""
    settings = TransferSettings(size=64, iterations=2, scales=(32,))
    plans, shares = [], []
    stylize(small_content, small_style, settings, lambda p: shares.append(p.fraction),
            on_plan=plans.append)
    small, large = (stage.width * stage.height for stage in plans[0].stages)
    total = 3 * small + 3 * large
    assert shares == pytest.approx([2 * small / total, 3 * small / total,
                                    (3 * small + 2 * large) / total, 1.0])


def test_the_pass_is_timed_on_this_machine():
    per_pixel = seconds_per_pixel(load_extractor(), "conv2_1", None, torch.device("cpu"))
    assert math.isfinite(per_pixel) and 0 < per_pixel * 512 * 384 < 60


def test_only_a_print_size_run_is_timed_ahead(small_content, small_style, monkeypatch):
    settings = TransferSettings(size=64, iterations=1, scales=(), style_layers=("conv1_1",),
                                content_layer="conv1_1")
    plans: list[Plan] = []
    stylize(small_content, small_style, settings, on_plan=plans.append)
    monkeypatch.setattr(transfer, "TIMED_ABOVE", 32)  # as if 64 px were a print
    stylize(small_content, small_style, settings, on_plan=plans.append)
    assert plans[0].seconds is None
    assert plans[1].seconds is not None and 0 < plans[1].seconds < 60
    # A caller that shows no time (a batch's job, -q) asks for no timed pass.
    monkeypatch.setattr(transfer, "seconds_per_pixel", lambda *args: pytest.fail("timed"))
    stylize(small_content, small_style, settings, on_plan=plans.append, time_plan=False)
    assert plans[2].seconds is None


def test_a_resumed_run_counts_the_stages_it_has_left(small_content, small_style,
                                                    monkeypatch):
    monkeypatch.setattr(transfer, "TIMED_ABOVE", 16)
    monkeypatch.setattr(transfer, "seconds_per_pixel", lambda *args: 1e-6)  # a fixed machine
    settings = TransferSettings(size=64, iterations=3, scales=(32, 48), style_layers=("conv1_1",),
                                content_layer="conv1_1")
    plans: list[Plan] = []

    def stop_in_the_middle_stage(progress: Progress) -> None:
        if progress.iteration == 5:
            raise StopRequested

    with pytest.raises(Interrupted) as stopped:
        stylize(small_content, small_style, settings, stop_in_the_middle_stage,
                on_plan=plans.append)
    assert stopped.value.checkpoint.stage == 1
    stylize(small_content, small_style, settings, resume=stopped.value.checkpoint,
            on_plan=plans.append)
    whole, resumed = plans
    assert whole.seconds == pytest.approx(estimate_seconds(whole.stages, "conv1_1", 1e-6))
    assert resumed.seconds == pytest.approx(estimate_seconds(whole.stages[1:], "conv1_1", 1e-6))


def test_the_plan_line_says_the_time_when_there_is_one():
    stages = (PlannedStage(4096, 3072, 5, 1360),)
    plan = Plan(stages, memory=7 * 1024**3, limit=8 * 1024**3)
    assert "timed" not in plan_line(plan)
    line = plan_line(Plan(stages, 7 * 1024**3, 8 * 1024**3, seconds=1054.0))
    assert line.endswith("about 7.0 GB of 8.0 GB and 18 min (timed on this machine)")
    assert "4096x3072 px, stages 4096 px, 5 iterations in fp32; from 4096 px the network sees tiles of 1360 px;" in line
    for precision, said in (("bf16", "in bf16;"), ("winograd", "in fp32 (Winograd's convolutions);")):
        assert said in Plan(stages, 1, 2, precision=precision).summary()
    assert "and 45 s (timed" in plan_line(Plan(stages, 1, 2, seconds=45.0))
    assert "and 2.1 h (timed" in plan_line(Plan(stages, 1, 2, seconds=7600.0))
    assert line == f"painterly: {Plan(stages, 7 * 1024**3, 8 * 1024**3, seconds=1054.0).summary()}"


def test_the_plan_line_says_where_a_split_runs_its_deep_layers():
    for split, words in ((Split.NONE, ""), (Split.WHOLE, " (its deep layers the whole picture)"),
                         (Split.TILED, " (its deep layers tiles of 2720 px)")):
        line = Plan((PlannedStage(4096, 3072, 5, 1360, split),), 1, 2).summary()
        assert f"tiles of 1360 px{words}; about" in line
    replayed = Plan((PlannedStage(4096, 3072, 5, 1360, Split.TILED, True),), 1, 2).summary()
    assert ("tiles of 1360 px (its deep layers tiles of 2720 px, each tile's forward pass "
            "run once); about") in replayed
