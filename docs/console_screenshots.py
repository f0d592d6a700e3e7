"""The README's console screenshots, taken from `cadencia run` on its demo portfolio:

    python docs/console_screenshots.py     # writes docs/images/console-*.png

Needs Debian's chromium and chromium-driver, and selenium (`.[dev]`)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

OUT = Path(__file__).with_name("images")


def main() -> None:
    data = tempfile.mkdtemp(prefix="cadencia-shots-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.process.cli", "run", "--port", "0", "--data-dir", data],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = None
    assert proc.stdout is not None
    for line in proc.stdout:  # printed once the demo's ten days are played
        if m := re.search(r"serving on (http://\S+)", line):
            url = m.group(1)
            break
    assert url, "cadencia run did not say where it serves"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--window-size=1280,1000"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(browser, 20)
    try:
        OUT.mkdir(exist_ok=True)
        browser.get(f"{url}/console#campaigns")
        wait.until(lambda b: b.find_element(By.ID, "who").text)
        form = browser.find_element(By.ID, "campaign-form")
        form.find_element(By.NAME, "campaign").send_keys("cards-early")
        form.find_element(By.NAME, "days_past_due_min").send_keys("30")
        form.find_element(By.NAME, "days_past_due_max").send_keys("90")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda b: "cards-early" in b.find_element(By.ID, "campaign-table").text)
        browser.save_screenshot(str(OUT / "console-campaigns.png"))
        browser.get(f"{url}/console#results")
        browser.execute_script(
            "const f = document.querySelector('#results-form');"
            "f.from.value = '2026-03-01'; f.to.value = '2026-03-12'; f.by.value = 'day,channel';"
            "f.requestSubmit();"
        )
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results-chart canvas"))
        browser.save_screenshot(str(OUT / "console-results.png"))
        browser.get(f"{url}/console#account")
        form = browser.find_element(By.ID, "account-form")
        form.find_element(By.NAME, "account_id").send_keys("D-00007")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#timeline-table tbody tr"))
        browser.execute_script("document.querySelector('#timeline-table').scrollIntoView()")
        browser.save_screenshot(str(OUT / "console-account.png"))
        browser.get(f"{url}/console#models")
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#model-table tbody tr"))
        browser.save_screenshot(str(OUT / "console-models.png"))
    finally:
        browser.quit()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


if __name__ == "__main__":
    main()
