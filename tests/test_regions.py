"""Styles by region (painterly/regions.py): masks checked, taken to each layer, the photo
kept outside them, and each region painted in its own painting's style."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import TransferSettings, stylize
from painterly.cli import main
from painterly.errors import PainterlyError
from painterly.images import to_tensor
from painterly.metrics import distribution_distances
from painterly.regions import check_masks, keep_photo, layer_masks, stage_masks


def _mask(size: tuple[int, int], left: bool) -> Image.Image:
    """White on the left half (or the right), black elsewhere."""
    array = np.zeros((size[1], size[0]), dtype=np.uint8)
    half = size[0] // 2
    if left:
        array[:, :half] = 255
    else:
        array[:, half:] = 255
    return Image.fromarray(array, "L")


def test_layer_masks_average_each_cell_by_hand():
    # A 32 x 32 mask, white in its left 12 columns: conv2_1's cells are 2 px wide, so
    # its first 6 columns are white; conv4_1's 8 px cells: 1, 1, 0.5 (8..15 half), 0.
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :12] = 1.0
    layers = layer_masks(mask, ["conv1_1", "conv2_1", "conv4_1"])
    assert layers["conv1_1"].shape[-2:] == (32, 32) and torch.equal(layers["conv1_1"], mask)
    assert layers["conv2_1"].shape[-2:] == (16, 16)
    assert torch.equal(layers["conv2_1"][0, 0, 0], torch.tensor([1.0] * 6 + [0.0] * 10))
    assert torch.equal(layers["conv4_1"][0, 0, 0], torch.tensor([1.0, 0.5, 0.0, 0.0]))


def test_layer_masks_floor_odd_sizes_as_the_pools_do():
    mask = torch.ones(1, 1, 45, 70)
    assert layer_masks(mask, ["conv5_1"])["conv5_1"].shape[-2:] == (45 // 16, 70 // 16)


def test_keep_photo_blends_by_coverage():
    image, photo = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    first = torch.tensor([[1.0, 0.0], [0.25, 0.0]]).view(1, 1, 2, 2)
    second = torch.tensor([[1.0, 0.0], [0.25, 0.5]]).view(1, 1, 2, 2)
    kept = keep_photo(image, photo, [first, second])
    # Coverage: 1 (summed 2, clipped), 0 (the photo), 0.5, 0.5.
    assert torch.equal(kept[0, 0], torch.tensor([[1.0, 0.0], [0.5, 0.5]]))


def test_stage_masks_are_grey_weights_of_the_stage_size():
    mask = _mask((40, 30), left=True)
    (weights,) = stage_masks([mask], torch.zeros(1, 3, 12, 16))
    assert weights.shape == (1, 1, 12, 16)
    assert float(weights[..., :7].min()) == 1.0 and float(weights[..., 9:].max()) == 0.0


def test_masks_are_checked_before_any_work():
    photo = (64, 48)
    good = [_mask(photo, True), _mask(photo, False)]
    check_masks(good, ["a.png", "b.png"], 2, photo)
    with pytest.raises(PainterlyError, match="got 1 masks for 2 paintings"):
        check_masks(good[:1], ["a.png"], 2, photo)
    with pytest.raises(PainterlyError, match=r"b.png: the mask is 48x48 but the photo is 64x48"):
        check_masks([good[0], _mask((48, 48), True)], ["a.png", "b.png"], 2, photo)
    black = Image.new("L", photo, 0)
    with pytest.raises(PainterlyError, match="black everywhere"):
        check_masks([good[0], black], ["a.png", "b.png"], 2, photo)


def test_uncovered_pixels_keep_the_photo(small_content, small_style):
    # A mask covering only the left half: the right half is the photo itself.
    mask = _mask(small_content.size, left=True)
    settings = TransferSettings(size=64, iterations=3, scales=(), masks=("left.png",))
    from painterly.transfer import Inputs, paint

    picture = paint(Inputs(small_content, [small_style], masks=[mask]), settings)
    ours, photo = np.asarray(picture), np.asarray(small_content)
    assert np.array_equal(ours[:, 33:], photo[:, 33:])
    assert np.abs(ours[:, :30].astype(int) - photo[:, :30]).mean() > 3  # painted
    # A mask given as a colour picture is read by its grey levels, as a file is: pure
    # red is 30% grey (its red channel alone would be white).
    red = mask.convert("RGB")
    red.paste((255, 0, 0), (33, 0, 64, 48))
    in_colour = paint(Inputs(small_content, [small_style], masks=[red]), settings)
    in_grey = paint(Inputs(small_content, [small_style], masks=[red.convert("L")]), settings)
    assert np.array_equal(np.asarray(in_colour), np.asarray(in_grey))


def test_each_region_takes_its_own_paintings_style(tmp_path, content_path):
    """The issue's two-region check: left half as Starry Night, right half as The Scream;
    each half's responses are distributed more like its own painting's than the other's
    (the distribution distance of metrics), and its colours too (palette distance)."""
    root = content_path.parent.parent / "style"
    starry, scream = root / "starry_night.jpg", root / "the_scream.jpg"
    with Image.open(content_path) as image:
        photo = image.convert("RGB").resize((128, 96), Image.Resampling.LANCZOS)
    masks = [tmp_path / "left.png", tmp_path / "right.png"]
    _mask(photo.size, True).save(masks[0])
    _mask(photo.size, False).save(masks[1])
    settings = TransferSettings(size=128, iterations=40, scales=(), style_weight=30.0,
                                masks=tuple(map(str, masks)))
    picture = stylize(photo, [starry, scream], settings)
    left, right = picture.crop((0, 0, 64, 96)), picture.crop((64, 0, 128, 96))
    for half, own, other in ((left, starry, scream), (right, scream, starry)):
        near = distribution_distances(half, own, style_size=128)
        far = distribution_distances(half, other, style_size=128)
        assert near.distribution < far.distribution
        assert near.palette < far.palette


def test_cli_masks_mismatch_is_one_line_and_exit_2(tmp_path, inputs, capsys):
    mask = tmp_path / "mask.png"
    _mask((64, 48), True).save(mask)
    out = tmp_path / "out.png"
    argv = ["transfer", *map(str, inputs), str(inputs[1]), "-o", str(out), "--size", "64",
            "--iterations", "1", "--masks", str(mask)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "got 1 masks for 2 paintings" in err[0]
    assert not out.exists()


def test_cli_masks_paint_and_are_recorded(tmp_path, inputs):
    from painterly.recipes import read_recipe

    masks = [tmp_path / "left.png", tmp_path / "right.png"]
    _mask((64, 48), True).save(masks[0])
    _mask((64, 48), False).save(masks[1])
    out = tmp_path / "out.png"
    argv = ["transfer", str(inputs[0]), str(inputs[1]), str(inputs[1]), "-o", str(out),
            "-q", "--size", "64", "--iterations", "2", "--masks", ",".join(map(str, masks))]
    assert main(argv) == 0
    recipe = read_recipe(out)
    assert recipe["settings"]["masks"] == [str(m) for m in masks]
    assert len(recipe["inputs"]["masks"]) == 2  # hashed, as the photo and paintings are
    # Painted again from its recipe, with the masks found where the recipe says.
    again = tmp_path / "again.png"
    assert main(["transfer", "--recipe", str(out), "-o", str(again), "-q"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))


def test_masked_tensors_match_the_api_weights(small_content):
    # The mask a stage uses is the file's grey level, 0..1.
    grey = Image.new("L", small_content.size, 128)
    (weights,) = stage_masks([grey], to_tensor(small_content))
    assert float(weights.mean()) == pytest.approx(128 / 255)


def test_a_blend_weighs_each_region(small_content, small_style):
    """With masks, --style-blend scales each painting's region: shares are area x weight,
    normalised (a region covering 3/4 at weight 1 against 1/4 at weight 3: equal)."""
    from painterly.objective import build_objective
    from painterly.vgg import load_extractor

    photo, painting = to_tensor(small_content), to_tensor(small_style)
    masks = [torch.zeros(1, 1, 48, 64), torch.zeros(1, 1, 48, 64)]
    masks[0][..., :48] = 1.0
    masks[1][..., 48:] = 1.0
    from painterly.style_targets import STRENGTH

    for loss in ("gram", "swd"):  # each loss's term also carries its STRENGTH
        objective = build_objective(load_extractor(None, "max", "cpu"), photo, [painting] * 2,
                                    (0.25, 0.75), TransferSettings(style_loss=loss), None,
                                    masks=masks)
        shares = [region.share for region in objective.style_regions]
        assert shares == pytest.approx([0.5 * STRENGTH[loss]] * 2)
