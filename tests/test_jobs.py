"""A batch's jobs: from folders and globs, or from an untrusted manifest."""

from __future__ import annotations

import json

import pytest

from painterly.errors import PainterlyError
from painterly.jobs import MAX_MANIFEST_BYTES, every_pair, expand_inputs, read_manifest
from painterly.settings import TransferSettings

BASE = TransferSettings(size=64)


def test_folders_globs_and_files(tmp_path):
    for name in ("b.jpg", "a.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert expand_inputs([str(tmp_path)], "photo") == [str(tmp_path / "a.png"),
                                                       str(tmp_path / "b.jpg")]
    assert expand_inputs([str(tmp_path / "*.jpg"), "elsewhere.png"], "photo") == [
        str(tmp_path / "b.jpg"), "elsewhere.png"]  # a plain path is checked when it runs
    with pytest.raises(PainterlyError, match=r"\*.gif: names no painting image"):
        expand_inputs([str(tmp_path / "*.gif")], "painting")
    with pytest.raises(PainterlyError, match="sub: names no photo image"):
        expand_inputs([str(tmp_path / "sub")], "photo")


def test_every_pair_has_readable_unique_names():
    jobs = every_pair(["x/photo.jpg", "y/photo.jpg"], ["s/starry.jpg", "s/Starry.png"], BASE)
    assert [job.output for job in jobs] == [
        "photo_starry.png", "photo_Starry_2.png", "photo_starry_3.png", "photo_Starry_4.png"]
    assert jobs[1].content == "x/photo.jpg" and jobs[1].styles == ("s/Starry.png",)


def test_csv_manifest_rows_with_their_own_settings(tmp_path):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(
        "content,style,output,style_weight,scales\n"
        "p.jpg,s.jpg,,,\n"
        "p.jpg,s.jpg;t.jpg,mix.jpg,20,none\n"
        "p.jpg,s.jpg,,-1,\n"
        "p.jpg,,,,\n"
        "p.jpg,s.jpg,../up.png,,\n"
        "p.jpg,s.jpg,x.tif,,\n"
        "p.jpg,s.jpg,,,,extra\n")
    jobs = read_manifest(manifest, BASE)
    first, mixed, *bad = jobs
    assert first.error is None and first.output == "p_s.png"
    assert first.content == str(tmp_path / "p.jpg")  # relative to the manifest
    assert first.settings == BASE
    assert mixed.error is None and mixed.output == "mix.jpg"
    assert mixed.styles == (str(tmp_path / "s.jpg"), str(tmp_path / "t.jpg"))
    assert (mixed.settings.style_weight, mixed.settings.scales, mixed.settings.size) == (
        20.0, (), 64)
    reasons = [str(job.error) for job in bad]
    assert "row 3: style_weight: must be" in reasons[0]
    assert "row 4: no style" in reasons[1]
    assert "row 5: output ../up.png must be a file name, without folders" in reasons[2]
    assert "row 6: output x.tif must end in .png or .jpg" in reasons[3]
    assert "row 7: more cells than the header has columns" in reasons[4]


def test_jsonl_manifest(tmp_path):
    manifest = tmp_path / "jobs.jsonl"
    rows = [{"content": "p.jpg", "style": ["s.jpg", "t.jpg"], "style_blend": [1, 3]},
            {"content": "p.jpg", "style": "s.jpg", "size": "big"},
            {"content": "p.jpg", "style": "s.jpg", "colour": "red"}]
    manifest.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    good, big, colour = read_manifest(manifest, BASE)
    assert good.error is None and good.settings.style_blend == (1, 3)
    assert "row 2: size: expected a whole number, got 'big'" in str(big.error)
    assert "row 3: colour: is not a setting" in str(colour.error)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("a.csv", "photo,painting\nx,y\n", "first line names its columns"),
    ("a.csv", "content,style\n", "lists no jobs"),
    ("a.jsonl", '{"content": "x"}\n[1]\n', "line 2 is not a JSON object"),
    ("a.jsonl", "{nope\n", "line 1 is not JSON"),
    ("a.csv", b"content,style\n\xff\xfe,x\n", "not a UTF-8 text file"),
])
def test_a_manifest_that_is_not_one_is_refused(tmp_path, name, text, message):
    manifest = tmp_path / name
    if isinstance(text, bytes):
        manifest.write_bytes(text)
    else:
        manifest.write_text(text)
    with pytest.raises(PainterlyError, match=message):
        read_manifest(manifest, BASE)


def test_a_huge_manifest_is_refused_before_it_is_read(tmp_path):
    manifest = tmp_path / "big.csv"
    with open(manifest, "wb") as handle:
        handle.truncate(MAX_MANIFEST_BYTES + 1)
    with pytest.raises(PainterlyError, match="over the 20 MB a manifest may have"):
        read_manifest(manifest, BASE)


def test_a_rows_start_image_and_masks_are_relative_to_the_manifest(tmp_path):
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(
        '{"content": "p.jpg", "style": ["s.jpg", "t.jpg"], "init": "start.png", '
        '"masks": ["sky.png", "town.png"]}\n'
        '{"content": "p.jpg", "style": "s.jpg", "init": "noise"}\n')
    given, noise = read_manifest(manifest, BASE)
    assert given.error is None and noise.error is None
    assert given.settings.init == str(tmp_path / "start.png")
    assert given.settings.masks == (str(tmp_path / "sky.png"), str(tmp_path / "town.png"))
    assert noise.settings.init == "noise"  # a word, not a file
