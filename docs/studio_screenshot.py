"""Take docs/images/studio.png: the studio painting the bundled example, mid-run.

    .venv/bin/python docs/studio_screenshot.py

Needs painterly[test] (Gradio, Selenium) and Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import browser  # noqa: E402  tests/browser.py, the helpers the end-to-end test uses


def main() -> None:
    from selenium.webdriver.common.by import By

    process, url = browser.start_studio()
    driver = browser.browser(1280, 1250)
    try:
        driver.get(url)
        browser.wait_for_text(driver, "painterly studio", 60)
        browser.upload(driver, "photo", ROOT / "examples/content/tubingen.jpg")
        browser.upload(driver, "paintings", ROOT / "examples/style/starry_night.jpg")
        browser.set_number(driver, "size", 384)
        time.sleep(1.0)
        driver.find_element(By.CSS_SELECTOR, "#start").click()
        browser.wait_for_text(driver, "at 384 px", 300)  # into the last stage
        time.sleep(8)
        out = ROOT / "docs" / "images" / "studio.png"
        driver.save_screenshot(str(out))
        print(out)
    finally:
        driver.quit()
        process.terminate()


if __name__ == "__main__":
    main()
