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

    assert cost("draft") < cost("normal") / 3 and cost("normal") < cost("fine") / 1.5
