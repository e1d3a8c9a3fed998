"""The quality presets' iterations per stage (painterly/schedule.py)."""

from __future__ import annotations

import pytest

from painterly.schedule import QUALITIES, QUALITY, Stage, plan


@pytest.mark.parametrize("quality", QUALITIES)
def test_the_full_size_gets_the_last_count_and_coarser_stages_the_first(quality):
    preset = QUALITY[quality]
    assert plan([512], quality) == (Stage(512, preset.final),)
    assert plan([256, 512], quality) == (Stage(256, preset.before), Stage(512, preset.final))
    assert [s.iterations for s in plan([64, 128, 256, 512], quality)] == [
        preset.coarse, preset.coarse, preset.before, preset.final]


def test_given_iterations_apply_to_every_stage():
    assert plan([128, 256], "draft", iterations=3) == (Stage(128, 3), Stage(256, 3))


def test_the_presets_cost_more_in_order():
    # Cost in full-size iterations at 512 px: a stage's pixels over the full size's.
    def cost(quality: str) -> float:
        return sum(s.iterations * (s.size / 512) ** 2 for s in plan([128, 256, 512], quality))

    assert cost("draft") < cost("normal") / 2 and cost("normal") < cost("fine") / 2


@pytest.mark.parametrize("quality", QUALITIES)
def test_stages_above_1024_px_add_detail_with_few_iterations(quality):
    preset = QUALITY[quality]
    stages = plan([128, 256, 512, 1024, 2048, 4096], quality)
    assert [s.iterations for s in stages] == [preset.coarse, preset.coarse, preset.before,
                                              preset.final, preset.detail, preset.detail]
    assert preset.detail < preset.final
    # A run whose smallest stage is already large still starts with the look's count.
    assert plan([2048, 4096], quality) == (Stage(2048, preset.final), Stage(4096, preset.detail))


@pytest.mark.parametrize("quality", QUALITY)
def test_print_size_time_grows_with_the_pixels(quality):
    """Work in 512 px iterations: doubling the side past 2048 px never more than
    quadruples it, and tends to (the detail stages' pixels outgrow the 1024 px picture's
    fixed cost)."""
    def work(size: int) -> float:
        sizes = [size >> shift for shift in range(6) if size >> shift >= 128][::-1]
        return sum(s.iterations * (s.size / 512) ** 2 for s in plan(sizes, quality))

    ratios = [work(2 * size) / work(size) for size in (2048, 4096, 8192)]
    assert ratios == sorted(ratios) and ratios[-1] <= 4.0
    assert ratios[-1] > 3.5
