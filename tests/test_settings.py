"""The settings dataclasses (painterly/settings.py): each value checked once, here, and
named in its error; the fields transfer and reconstruction share, declared once."""

from __future__ import annotations

from dataclasses import fields

import pytest

from painterly import ReconstructSettings, SettingsError, TransferSettings
from painterly.schedule import DETAIL_ABOVE
from painterly.settings import RunSettings


def test_automatic_scales_halve_down_to_128():
    assert TransferSettings(size=512).stage_sizes() == (128, 256, 512)
    assert TransferSettings(size=300).stage_sizes() == (150, 300)
    assert TransferSettings(size=200).stage_sizes() == (200,)
    assert TransferSettings(size=512, scales=()).stage_sizes() == (512,)


def test_the_settled_picture_is_followed_by_a_stage_four_times_its_side():
    """Past twice DETAIL_ABOVE the detail stage between the largest settled stage and
    the one four times its side is left out; the settled stage is the same."""
    assert TransferSettings(size=2048).stage_sizes() == (128, 256, 512, 1024, 2048)
    assert TransferSettings(size=4096).stage_sizes() == (128, 256, 512, 1024, 4096)
    assert TransferSettings(size=8192).stage_sizes() == (128, 256, 512, 1024, 4096, 8192)
    assert TransferSettings(size=3000).stage_sizes() == (187, 375, 750, 3000)
    assert TransferSettings(size=2100).stage_sizes()[-2:] == (525, 2100)
    for size in (2048, 2049, 2100, 3000, 4095, 4096, 6000, 8192):
        halved = [size >> shift for shift in range(7) if size >> shift >= 128]
        settled = max(s for s in halved if s <= DETAIL_ABOVE)
        stages = TransferSettings(size=size).stage_sizes()
        after = stages.index(settled) + 1  # the same settled stage as by halving
        assert stages[after] == size or stages[after] // 4 == settled
        assert all(stages[i + 1] // 2 == stages[i] for i in range(len(stages) - 1)
                   if i != after - 1)


def test_layer_aliases_are_stored_in_paper_form():
    settings = TransferSettings(content_layer="block4_conv2", style_layers=("relu1_1", "conv2_1"))
    assert settings.content_layer == "conv4_2"
    assert settings.style_layers == ("conv1_1", "conv2_1")


def test_style_layer_weights_are_normalized():
    settings = TransferSettings(style_layers=("conv1_1", "conv2_1"), style_layer_weights=(3, 1))
    assert settings.normalized_style_layer_weights() == {"conv1_1": 0.75, "conv2_1": 0.25}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"size": 0}, "size"),
        ({"size": 8}, "size"),
        ({"iterations": 0}, "iterations"),
        ({"content_weight": -1.0}, "content_weight"),
        ({"style_weight": float("nan")}, "style_weight"),
        ({"tv_weight": "a"}, "tv_weight"),
        ({"content_layer": "conv9_9"}, "content_layer"),
        ({"style_layers": ()}, "style_layers"),
        ({"style_layers": ("conv1_1", "relu1_1")}, "style_layers"),
        ({"style_layer_weights": (1.0,)}, "style_layer_weights"),
        ({"style_layer_weights": (0, 0, 0, 0, 0)}, "style_layer_weights"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"pooling": "min"}, "pooling"),
        ({"scales": (256, 128)}, "scales"),
        ({"scales": (600,)}, "scales"),
        ({"step": -0.1}, "step"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_settings_name_the_field(changes, field):
    with pytest.raises(SettingsError) as raised:
        TransferSettings(**changes)
    assert raised.value.field == field


def test_style_scale_and_size_set_the_paintings_size():
    assert TransferSettings(size=512).style_long_side(512) == 512
    assert TransferSettings(size=512, style_scale=1.5).style_long_side(256) == 384
    assert TransferSettings(size=512, style_size=300).style_long_side(128) == 75
    with pytest.raises(SettingsError):
        TransferSettings(style_scale=-1.0)
    with pytest.raises(SettingsError):
        TransferSettings(style_size=4)


def test_up_to_uses_the_first_layer_of_each_block_below():
    settings = ReconstructSettings(target="style", layer="conv4_2", up_to=True)
    assert settings.style_layers() == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2")
    assert ReconstructSettings(target="style", layer="conv3_1").style_layers() == ("conv3_1",)


def test_reconstruction_is_the_transfer_objective_with_one_term_off():
    content = ReconstructSettings(target="content", layer="relu2_2").transfer_settings()
    assert (content.content_layer, content.style_weight, content.init) == ("conv2_2", 0, "noise")
    style = ReconstructSettings(target="style", layer="conv2_1").transfer_settings()
    assert (style.style_layers, style.content_weight) == (("conv2_1",), 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"target": "both"}, "target"), ({"layer": "conv6_1"}, "layer"), ({"size": 4}, "size"),
     ({"optimizer": "sgd"}, "optimizer")],
)
def test_bad_reconstruct_settings(changes, field):
    with pytest.raises(SettingsError) as raised:
        ReconstructSettings(**changes)
    assert raised.value.field == field


def test_reconstruction_shares_the_run_settings_and_their_help():
    shared = {f.name: f for f in fields(RunSettings)}
    for settings_class in (TransferSettings, ReconstructSettings):
        own = {f.name: f for f in fields(settings_class)}
        assert set(shared) <= set(own)
        for name, field in shared.items():  # one help text each, never a copy that drifts
            assert own[name].metadata is field.metadata or own[name].metadata == field.metadata
    assert ReconstructSettings().size == 256 and ReconstructSettings().iterations == 300
    assert TransferSettings().size == 512 and TransferSettings().iterations is None


def test_the_reconstruction_objective_keeps_every_run_setting():
    settings = ReconstructSettings(
        target="style", layer="conv3_1", size=96, iterations=7, optimizer="adam", step=0.1,
        seed=3, pooling="avg", weights="w.pth", device="cpu", precision="fp32",
        max_input_pixels=1000, max_memory=2.0,
    )
    transfer = settings.transfer_settings()
    for field in fields(RunSettings):
        assert getattr(transfer, field.name) == getattr(settings, field.name), field.name
    assert (transfer.scales, transfer.init) == ((), "noise")


@pytest.mark.parametrize(
    ("changes", "needed"),
    [
        ({}, {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1", "conv4_2"}),
        ({"style_weight": 0.0}, {"conv4_2"}),
        ({"content_weight": 0.0, "style_layers": ("conv2_1",)}, {"conv2_1"}),
        ({"content_weight": 0.0, "style_weight": 0.0}, set()),
    ],
)
def test_layers_needed_follow_the_weights(changes, needed):
    assert TransferSettings(**changes).layers_needed() == needed


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"step": float("inf")}, "step"), ({"init": ""}, "init"), ({"init": 3}, "init"),
     ({"precision": "fp8"}, "precision"), ({"max_input_pixels": True}, "max_input_pixels"),
     ({"style_blend": (0.0, 0.0)}, "style_blend"), ({"scales": (32.5,)}, "scales"),
     ({"style_loss": "l1"}, "style_loss"),
     ({"masks": ()}, "masks"), ({"masks": ("a.png", "")}, "masks"),
     # from a damaged recipe (the fuzz test found True: a TypeError, not one line)
     ({"masks": True}, "masks"), ({"masks": 5}, "masks"), ({"masks": {"a.png": 1}}, "masks"),
     ({"scales": True}, "scales"), ({"style_blend": 5}, "style_blend"),
     ({"style_layers": 7}, "style_layers")],
)
def test_more_bad_values_name_their_field(changes, field):
    with pytest.raises(SettingsError) as raised:
        TransferSettings(**changes)
    assert raised.value.field == field and raised.value.setting == field


def test_init_file_is_the_start_image_path_only():
    assert TransferSettings().init_file() is None
    assert TransferSettings(init="noise").init_file() is None
    assert TransferSettings(init="start.png").init_file() == "start.png"


def test_input_files_name_the_start_image_and_the_masks():
    assert TransferSettings().input_files() == {}
    assert TransferSettings(init="start.png", masks="sky.png").input_files() == {
        "init": ["start.png"], "masks": ["sky.png"]}


def test_each_quality_has_its_schedule_and_iterations_override_it():
    from painterly.schedule import QUALITY, Stage

    normal = QUALITY["normal"]
    assert TransferSettings().stages() == (
        Stage(128, normal.coarse), Stage(256, normal.before), Stage(512, normal.final))
    draft = TransferSettings(size=1024, quality="draft").stages()
    assert [s.size for s in draft] == [128, 256, 512, 1024]
    assert [s.iterations for s in draft] == [QUALITY["draft"].coarse] * 2 + [
        QUALITY["draft"].before, QUALITY["draft"].final]
    assert TransferSettings(scales=(), quality="fine").stages() == (
        Stage(512, QUALITY["fine"].final),)
    assert TransferSettings(iterations=7, quality="fine").stages() == (
        Stage(128, 7), Stage(256, 7), Stage(512, 7))
    cost = {q: sum(s.iterations * (s.size / 512) ** 2 for s in TransferSettings(quality=q).stages())
            for q in QUALITY}
    assert cost["draft"] < cost["normal"] < cost["fine"]


def test_an_unknown_quality_is_refused_by_name():
    with pytest.raises(SettingsError, match="quality.*unknown value 'best'"):
        TransferSettings(quality="best")


def test_a_reconstruction_needs_its_iterations():
    with pytest.raises(SettingsError, match="iterations"):
        ReconstructSettings(iterations=None)


def test_the_painting_is_not_upscaled_past_its_own_size_at_print_sizes():
    settings = TransferSettings(size=4096)
    assert settings.style_long_side(4096, native=1024) == 1024
    assert settings.style_long_side(512, native=1024) == 512
    assert settings.style_long_side(2048, native=3000) == 2048
    # Small paintings still grow with the stages up to 512 px, as before.
    assert settings.style_long_side(512, native=300) == 512
    assert settings.style_long_side(1024, native=300) == 512
    # --style-scale keeps its meaning: the brush relative to the output's size.
    assert TransferSettings(size=4096, style_scale=2).style_long_side(4096, native=1024) == 2048
    assert TransferSettings(size=4096, style_size=1000).style_long_side(2048, native=600) == 500
