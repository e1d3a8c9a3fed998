"""The web studio: its settings and the CLI command, and an end-to-end run in headless
Chromium (skipped where Debian's chromium and chromium-driver are missing, unless
PAINTERLY_REQUIRE_BROWSER=1, as CI sets)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import browser
import numpy as np
import pytest
from PIL import Image

from painterly.cli import main
from painterly.errors import PainterlyError
from painterly.studio import StudioSettings, _chosen, bundled_examples

needs_browser = pytest.mark.skipif(
    not (browser.CHROMIUM and browser.CHROMEDRIVER)
    and not os.environ.get("PAINTERLY_REQUIRE_BROWSER"),
    reason="needs Debian's chromium and chromium-driver",
)


def test_settings_are_checked():
    with pytest.raises(PainterlyError, match="port"):
        StudioSettings(port=70000)
    with pytest.raises(PainterlyError, match="concurrency"):
        StudioSettings(concurrency=0)
    for size in (0, float("inf"), float("nan")):
        with pytest.raises(PainterlyError, match="max_upload_mb"):
            StudioSettings(max_upload_mb=size)
    assert StudioSettings().host == "127.0.0.1"  # loopback unless asked


def test_bad_serve_options_are_one_line(capsys):
    assert main(["serve", "--port", "-5"]) == 2
    assert "--port" in capsys.readouterr().err


def test_uploads_win_over_examples_and_paths_come_only_from_the_server(tmp_path):
    examples = bundled_examples("style")
    assert "starry night" in examples
    upload = tmp_path / "mine.png"
    assert _chosen(str(upload), "starry night", examples, "a painting") == upload
    assert _chosen(None, "starry night", examples, "a painting") == examples["starry night"]
    with pytest.raises(PainterlyError, match="give a painting"):
        _chosen(None, "/etc/passwd", examples, "a painting")  # a name, never a path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("studio") / "stderr.log"
    process, url = browser.start_studio(log=log)
    yield url, log
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture()
def studio(server):
    """The studio's URL; what it logs during a test is printed after it, so that a failed
    test shows the server's side too."""
    url, log = server
    start = log.stat().st_size
    yield url
    with log.open(errors="replace") as text:
        text.seek(start)
        print(f"studio's log during the test:\n{text.read()}")


@pytest.fixture()
def page(studio):
    driver = browser.browser()
    driver.get(studio)
    browser.wait_for_text(driver, "painterly studio", 60)
    yield driver
    driver.quit()


def _start(driver, photo, painting, size, iterations, uploads=2):
    from selenium.webdriver.common.by import By

    browser.upload(driver, "photo", photo)
    browser.upload(driver, "paintings", painting)
    deadline = time.monotonic() + 60
    while browser.page_text(driver).count("⇣") < uploads:  # each upload, once on the server,
        assert time.monotonic() < deadline, "the uploads did not finish"  # is a link ⇣
        time.sleep(0.1)
    browser.set_number(driver, "size", size)
    browser.set_number(driver, "iterations", iterations)
    time.sleep(0.5)  # the numbers reach the server
    driver.find_element(By.CSS_SELECTOR, "#start").click()


@needs_browser
def test_a_small_painting_end_to_end(page, inputs):
    from selenium.webdriver.common.by import By

    _start(page, *inputs, 64, 10)
    browser.wait_for_text(page, "Done in", 180)
    # The plan, as the command line says it, stays above the progress.
    # (in the arithmetic auto measured fastest on this machine)
    assert re.search(r"Planned: 64x48 px, stages 64 px, 10 iterations in (fp32|bf16)[^;]*; about",
                     browser.page_text(page))
    width, height = page.execute_script(
        "const i = document.querySelector('#picture img');"
        "return [i.naturalWidth, i.naturalHeight];"
    )
    assert (width, height) == (64, 48)
    links = page.find_elements(By.CSS_SELECTOR, "#download a")
    assert links and links[0].get_attribute("href")
    assert page.find_elements(By.CSS_SELECTOR, "#gallery img")


@needs_browser
def test_a_mask_keeps_the_photo_outside_it(page, inputs, tmp_path):
    """A mask uploaded beside the painting: its black half is the photo, pixel for pixel."""
    import io
    import urllib.request

    import numpy as np
    from PIL import Image

    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[:, :32] = 255
    mask_path = tmp_path / "left.png"
    Image.fromarray(mask, "L").save(mask_path)
    browser.upload(page, "masks", mask_path)
    _start(page, *inputs, 64, 5, uploads=3)
    browser.wait_for_text(page, "Done in", 180)
    source = page.execute_script("return document.querySelector('#picture img').src;")
    with urllib.request.urlopen(source) as response:  # the page's own server, on loopback
        picture = np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))
    with Image.open(inputs[0]) as photo:
        expected = np.asarray(photo.convert("RGB"))
    assert np.array_equal(picture[:, 34:], expected[:, 34:])
    assert not np.array_equal(picture[:, :30], expected[:, :30])


@needs_browser
def test_a_second_job_queues_and_cancel_frees_the_slot(studio, inputs):
    from selenium.webdriver.common.by import By

    first, second = browser.browser(), browser.browser()
    try:
        for driver in (first, second):
            driver.get(studio)
            browser.wait_for_text(driver, "painterly studio", 60)
        _start(first, *inputs, 128, 1000)  # long enough to be under way
        browser.wait_for_text(first, "Iteration", 120)
        assert "queue" not in browser.page_text(second)
        _start(second, *inputs, 64, 10)
        browser.wait_for_text(second, "queue", 60)  # Gradio shows its place in the queue
        first.find_element(By.CSS_SELECTOR, "#cancel").click()
        browser.wait_for_text(first, "Cancelled", 30)
        began = time.monotonic()
        browser.wait_for_text(second, "Done in", 120)
        assert time.monotonic() - began < 60
    finally:
        first.quit()
        second.quit()


@needs_browser
def test_a_text_file_as_image_gives_a_message(page, tmp_path, inputs):
    (tmp_path / "fake").mkdir()
    fake = tmp_path / "fake" / "photo.png"  # beside, not over, the real photo.png
    fake.write_text("not a picture at all\n")
    _start(page, fake, inputs[1], 64, 5)
    browser.wait_for_text(page, "photo.png: not an image file", 60, source=True)
    # ... and the studio keeps serving
    page.refresh()
    browser.wait_for_text(page, "painterly studio", 60)
    _start(page, *inputs, 64, 5)
    browser.wait_for_text(page, "Done in", 180)


def test_a_painting_that_fails_unexpectedly_tells_its_page(monkeypatch, caplog, inputs):
    """A bug in a painting's thread reaches the visitor as one line (not a page waiting
    forever for its next update) and the operator's log as a traceback."""
    from painterly import studio
    from painterly.settings import TransferSettings

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(studio, "stylize", broken)
    job = studio._Job()
    studio._run(job, inputs[0], [inputs[1]], TransferSettings(size=64))
    kind, message, picture = job.updates.get_nowait()
    assert (kind, message, picture) == ("error", "the painting failed: a bug", None)
    assert "a painting failed" in caplog.text and "ValueError: a bug" in caplog.text


def test_downloaded_png_carries_its_recipe(tmp_path, inputs):
    from painterly.recipes import read_recipe
    from painterly.settings import TransferSettings
    from painterly.studio import Studio

    pytest.importorskip("gradio")
    studio = Studio(StudioSettings(), tmp_path)
    picture = Image.fromarray(np.zeros((4, 4, 3), np.uint8))
    path = studio._save(picture, inputs[0], [inputs[1]], TransferSettings(size=64), "token")
    assert read_recipe(path)["settings"]["size"] == 64


def test_each_visitor_has_a_private_directory_that_goes_with_the_session(tmp_path, inputs):
    from painterly.settings import TransferSettings
    from painterly.studio import Studio, new_session

    pytest.importorskip("gradio")
    studio = Studio(StudioSettings(keep_minutes=5), tmp_path)
    alice, bob = new_session(), new_session()
    assert alice != bob and len(alice) >= 24  # 144 random bits, never sent to the browser
    picture = Image.fromarray(np.zeros((4, 4, 3), np.uint8))
    settings = TransferSettings(size=64)
    mine = [studio._save(picture, inputs[0], [inputs[1]], settings, alice) for _ in range(2)]
    theirs = studio._save(picture, inputs[0], [inputs[1]], settings, bob)
    assert [p.name for p in mine] == ["painterly_001.png", "painterly_002.png"]
    assert theirs.name == "painterly_001.png" and theirs.parent != mine[0].parent
    assert mine[0].parent.name == alice and oct(mine[0].parent.stat().st_mode)[-3:] == "700"
    studio.end_session(alice)  # the page closed, or its time is up
    assert not mine[0].parent.exists() and theirs.exists()


def test_stopping_removes_the_uploads_and_results(tmp_path):
    pytest.importorskip("gradio")
    process, _url = browser.start_studio()
    line = process.stderr.readline()
    while "kept in" not in line:  # past anything Gradio says first
        line = process.stderr.readline()
    workdir = Path(line.split("kept in ")[1].split(" until")[0])
    assert workdir.is_dir()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "studio stopped" in err and "Traceback" not in err
    assert not workdir.exists()


def test_a_busy_port_is_one_line(capsys):
    pytest.importorskip("gradio")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_page_offers_the_quality_presets(tmp_path):
    from painterly.studio import Studio

    studio = Studio(StudioSettings(), tmp_path)
    draft = studio._settings(256, "draft", "gram", 0, 9.0, "none", 1.0, "lbfgs", 0, None)
    assert draft.quality == "draft" and draft.iterations is None and draft.size == 256
    assert studio._settings(256, "fine", "gram", 12, 9.0, "none", 1.0, "lbfgs", 0,
                            None).iterations == 12
    with pytest.raises(PainterlyError, match="quality"):
        studio._settings(256, "best", "gram", 0, 9.0, "none", 1.0, "lbfgs", 0, None)


def test_the_page_offers_the_style_losses_and_masks(tmp_path):
    from painterly.studio import Studio, studio_message

    studio = Studio(StudioSettings(), tmp_path)
    settings = studio._settings(256, "normal", "swd", 0, 9.0, "none", 1.0, "lbfgs", 0,
                                ["sky.png", "town.png"])
    assert settings.style_loss == "swd" and settings.masks == ("sky.png", "town.png")
    with pytest.raises(PainterlyError) as refused:
        studio._settings(256, "normal", "l1", 0, 9.0, "none", 1.0, "lbfgs", 0, None)
    assert studio_message(refused.value).startswith("Style loss: unknown value 'l1'")
