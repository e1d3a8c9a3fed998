"""Helpers to drive the studio in headless Chromium (Debian's chromium and
chromium-driver packages, through Selenium; nothing is downloaded)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_studio(*options: str, timeout: float = 180.0,
                 log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``painterly serve`` on a free loopback port; return it and its URL. With
    ``log``, its stderr goes to that file (a pipe nobody reads would fill and stall it)."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "painterly", "serve", "--port", str(free_port()), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if log is None else log.open("w"),
        text=True,
        env=env,
    )
    deadline = time.monotonic() + timeout
    url = process.stdout.readline().strip()  # the URL is the one line on stdout
    if not url.startswith("http") or time.monotonic() > deadline:
        process.kill()
        raise RuntimeError(f"the studio did not start: {url!r} {process.stderr.read()}")
    return process, url


def browser(width: int = 1400, height: int = 1500):
    """A headless Chromium under Selenium, with the system's browser and driver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def set_number(driver, elem_id: str, value: object) -> None:
    """Type a value into a slider's or number's box and commit it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.TAB)


def upload(driver, elem_id: str, *paths: Path) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=file]")
    field.send_keys("\n".join(str(p) for p in paths))


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def messages(driver) -> list[str]:
    """The texts of Gradio's message toasts, folded away or not."""
    from selenium.webdriver.common.by import By

    toasts = driver.find_elements(By.CSS_SELECTOR, ".toast-body")
    return [toast.get_attribute("textContent").strip() for toast in toasts]


def wait_for_text(driver, text: str, seconds: float = 120.0, source: bool = False) -> None:
    """Wait until ``text`` shows on the page (or, with ``source``, is anywhere in its
    HTML: Gradio's error toasts fold their message away)."""
    deadline = time.monotonic() + seconds
    while text not in (driver.page_source if source else page_text(driver)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared; the page says:\n{page_text(driver)}"
                                 f"\nits messages: {messages(driver)}")
        time.sleep(0.2)
