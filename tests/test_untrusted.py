"""Reading untrusted files (painterly/untrusted.py): regular, readable files only, and
their paths shown escaped."""

from __future__ import annotations

import os

import pytest

from painterly.errors import PainterlyError
from painterly.untrusted import regular_file, shown


def test_a_pipe_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(PainterlyError, match="photo.jpg: is not a regular file"):
        regular_file(fifo, "image file")


def test_missing_directory_and_too_large(tmp_path):
    with pytest.raises(PainterlyError, match="no such file"):
        regular_file(tmp_path / "nope.png", "image file")
    with pytest.raises(PainterlyError, match="is a directory, not an image file"):
        regular_file(tmp_path, "image file")
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 3_000_000)
    with pytest.raises(PainterlyError, match="3 MB, over the 2 MB"):
        regular_file(big, "image file", max_bytes=2_000_000)
    assert regular_file(big, "image file") == big


def test_paths_are_shown_with_control_characters_escaped():
    hostile = "photo.png\n\x1b[2Jpainterly: wrote /etc/passwd"
    assert shown(hostile) == "photo.png\\n\\x1b[2Jpainterly: wrote /etc/passwd"
    assert "\n" not in shown(hostile) and "\x1b" not in shown(hostile)
    assert shown("dossier ünïcødé/été.png") == "dossier ünïcødé/été.png"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anything")
def test_an_unreadable_file_is_named(tmp_path):
    weights = tmp_path / "vgg19.pth"
    weights.write_bytes(b"x")
    weights.chmod(0)
    with pytest.raises(PainterlyError, match="vgg19.pth: cannot be read"):
        regular_file(weights, "weights file")


def test_a_nul_byte_in_a_path_is_one_line(capsys):
    """Found by the command-line fuzz: `transfer --recipe $'\\0'` raised ValueError."""
    from painterly.cli import main

    with pytest.raises(PainterlyError, match=r"not a file name \(it holds a NUL byte\)"):
        regular_file("a\0b.png", "image file")
    assert main(["transfer", "--recipe", "\0"]) == 2
    err = capsys.readouterr().err
    assert "NUL byte" in err and len(err.strip().splitlines()) == 1
