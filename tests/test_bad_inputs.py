"""The hostile and odd inputs of tests/data/bad (made by tests/data/make_bad.py), fed to
the CLI as the photo and as the painting: each one works, giving a real picture of the
right size, or ends in one line naming the file, exit status 2 and no output."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly.cli import main

BAD = Path(__file__).resolve().parent / "data" / "bad"
# file -> (width, height) of a 64 px picture made from it as the photo, or the message
WORKS = {
    "one_pixel.png": (64, 64),
    "cmyk.jpg": (64, 48),
    "deep_16bit.png": (64, 48),
    "palette.png": (64, 48),
    "gray_alpha.png": (64, 48),
    "animated.gif": (64, 48),
    "exif_rotated.jpg": (48, 64),  # stored landscape, shown portrait
    "named with spaces ünïcødé.png": (64, 48),
}
FAILS = {
    "empty.jpg": "not an image file",
    "truncated.jpg": "unreadable image",
    "truncated.png": "unreadable image",
    "text.jpg": "not an image file",
    "page.html": "not an image file",
    "strip_1x10000.png": "too narrow",
    "bomb_50000x50000.png": "megapixels",  # over what Pillow itself opens
    "claims_10000x6000.png": "60.0 megapixels, over the limit of 50 (--max-input-pixels)",
    "a_directory.jpg": "is a directory",
    "no_such_file.png": "no such file",
}
FAST = ["--size", "64", "--iterations", "3", "-q"]


def test_the_corpus_is_all_there():
    assert sorted(p.name for p in BAD.iterdir()) == sorted(set(WORKS) | set(FAILS) - {
        "no_such_file.png"})


@pytest.mark.parametrize("role", ["content", "style"])
@pytest.mark.parametrize("name", sorted(WORKS))
def test_odd_but_valid_inputs_work(tmp_path, content_path, style_path, name, role):
    out = tmp_path / "out.png"
    inputs = [BAD / name, style_path] if role == "content" else [content_path, BAD / name]
    assert main(["transfer", *map(str, inputs), "-o", str(out), *FAST]) == 0
    with Image.open(out) as picture:
        array = np.asarray(picture.convert("RGB"), dtype=float)
        if role == "content":
            assert picture.size == WORKS[name]
    assert array.std() > 10  # a real picture, not a flat or black one


@pytest.mark.parametrize("role", ["content", "style"])
@pytest.mark.parametrize("name", sorted(FAILS))
def test_hostile_inputs_give_one_line_and_no_output(tmp_path, content_path, style_path, capsys,
                                                    name, role):
    out = tmp_path / "out.png"
    inputs = [BAD / name, style_path] if role == "content" else [content_path, BAD / name]
    assert main(["transfer", *map(str, inputs), "-o", str(out), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert name in err and FAILS[name] in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_pixel_limit_is_an_option(tmp_path, content_path, style_path, capsys):
    out = tmp_path / "out.png"
    argv = ["transfer", str(content_path), str(style_path), "-o", str(out), *FAST]
    assert main([*argv, "--max-input-pixels", "1000"]) == 2
    assert "over the limit of 0.001 (--max-input-pixels)" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("where", ["missing", "read-only"])
def test_output_in_a_missing_or_read_only_directory(tmp_path, content_path, style_path, capsys,
                                                    where):
    directory = tmp_path / "out"
    if where == "read-only":
        directory.mkdir()
        directory.chmod(0o555)
        if os.access(directory, os.W_OK):
            pytest.skip("running as root: permissions do not apply")
    out = directory / "out.png"
    try:
        assert main(["transfer", str(content_path), str(style_path), "-o", str(out), *FAST]) == 2
    finally:
        if directory.exists():
            directory.chmod(0o755)
    err = capsys.readouterr().err
    assert "out.png" in err and ("does not exist" in err or "not writable" in err)
    assert not out.exists()


def test_paths_with_spaces_and_unicode_for_the_output_too(tmp_path, content_path, style_path):
    directory = tmp_path / "dossier ünïcødé"
    directory.mkdir()
    shutil.copy(content_path, directory / "photo d'été.jpg")
    out = directory / "peinture à l'huile.png"
    assert main(["transfer", str(directory / "photo d'été.jpg"), str(style_path), "-o",
                 str(out), *FAST]) == 0
    with Image.open(out) as picture:
        assert picture.size == (64, 48)
