"""``painterly batch`` from the command line: bad jobs fail alone, a stopped batch goes on
where it stopped."""

from __future__ import annotations

import csv
import signal
import time

from painterly.cli import main
from painterly.images import load_image

from processes import painterly_process, wait_for

FAST = ["--size", "64", "--iterations", "3", "--scales", "none", "-q"]


def _report(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_bad_jobs_fail_with_their_reasons_and_the_rest_are_painted(tmp_path, inputs, capsys):
    content, style = inputs
    (tmp_path / "notes.jpg").write_text("not a picture")
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(
        "content,style,style_weight,output\n"
        f"{content.name},{style.name},,first.png\n"
        f"missing.jpg,{style.name},,\n"
        f"notes.jpg,{style.name},,\n"
        f"{content.name},{style.name},lots,\n"
        f"{content.name},{style.name};{content.name},30,mixed.jpg\n")
    status = main(["batch", "--manifest", str(manifest), "-o", str(tmp_path / "out"), *FAST])
    assert status == 2
    rows = _report(tmp_path / "out" / "report.csv")
    assert [row["status"] for row in rows] == ["painted", "failed", "failed", "failed", "painted"]
    assert rows[1]["error"] == f"{tmp_path / 'missing.jpg'}: no such file"
    assert rows[2]["error"] == f"{tmp_path / 'notes.jpg'}: not an image file Pillow can read"
    assert rows[3]["error"] == (f"{manifest} row 4: style_weight: expected a number, "
                                "got 'lots'")
    assert load_image(tmp_path / "out" / "mixed.jpg").size == (64, 48)
    err = capsys.readouterr().err
    assert f"painterly: failed: {manifest} row 4: style_weight" in err
    assert "5 jobs in" in err and "2 painted, 3 failed" in err


def test_a_batch_needs_its_jobs(tmp_path, capsys):
    assert main(["batch", "-o", str(tmp_path)]) == 2
    assert "give --content and --style (or --manifest FILE)" in capsys.readouterr().err
    assert main(["batch", "--content", "a.jpg", "--style", "b.jpg", "-o", str(tmp_path),
                 "--address", "x:1"]) == 2
    assert "--address: applies only to a cluster (--cluster ray)" in capsys.readouterr().err


def test_ctrl_c_keeps_what_is_done_and_a_rerun_paints_the_rest(tmp_path, inputs):
    content, style = inputs
    out = tmp_path / "out"
    # The second job runs long, so that a signal sent a second after the first picture
    # finds it under way (nothing shows a job's start with -q); the others wait.
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(
        "content,style,iterations,output\n"
        f"{content.name},{style.name},5,photo_painting.png\n"
        f"{style.name},{content.name},150,painting_photo.png\n"
        f"{content.name},{content.name},5,photo_photo.png\n")
    argv = ["batch", "--manifest", manifest, "-o", out, "--size", "64", "--scales", "none", "-q"]
    process = painterly_process(*argv)
    wait_for("photo_painting.png", out, process)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "run the same command again to paint the rest" in err
    first = {row["output"]: row["status"] for row in _report(out / "report.csv")}
    assert first[str(out / "photo_painting.png")] == "painted"
    assert first[str(out / "painting_photo.partial.png")] == "stopped"  # kept its picture so far
    assert list(first.values()).count("waiting") == 1
    assert (out / "painting_photo.partial.png").exists()

    process = painterly_process(*argv)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    again = {row["output"]: row["status"] for row in _report(out / "report.csv")}
    assert again.pop(str(out / "photo_painting.png")) == "skipped"
    assert set(again.values()) == {"painted"}
    assert not list(out.glob("*.partial.png"))
