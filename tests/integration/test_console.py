"""The console in a real browser: Debian's chromium, headless, driven by Selenium through
chromium-driver. It loads the page, signs in, creates a campaign through the form (the API's
own validation answering), finds it listed, and reads results, rules, carriers and models; a
reader's token sees the results but not the admin's controls."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import BASE_CONFIG, account, wait_until

TOKENS = """
[auth.tokens]
"console-admin" = "admin"
"console-reader" = "reader"
"""
SHOTS = os.environ.get("CADENCIA_CONSOLE_SHOTS")  # a directory: save screenshots there (the README's)


@pytest.fixture
def config_text():
    return BASE_CONFIG + TOKENS


@pytest.fixture
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip(
            "chromium is not installed (Debian: apt-get install chromium chromium-driver; CI installs it)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    b = webdriver.Chrome(service=Service(driver), options=options)
    b.implicitly_wait(0)
    yield b
    b.quit()


def wait_for(browser, css, text=None, timeout_s=10.0):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(b):
        for e in b.find_elements(By.CSS_SELECTOR, css):
            if e.is_displayed() and (text is None or text in e.text):
                return e
        return False

    # the page re-renders tables as answers arrive: an element found may go stale; look again
    wait = WebDriverWait(browser, timeout_s, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(found, f"{css!r} with {text!r}")


def click_in_row(browser, rows_css, starts):
    """Click the button of the row whose text starts with `starts` (the page may re-render
    the table meanwhile: look again until the click lands)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def click(b):
        for row in b.find_elements(By.CSS_SELECTOR, rows_css):
            if row.text.startswith(starts):
                row.find_element(By.CSS_SELECTOR, "button").click()
                return True
        return False

    WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException]).until(click)


def shot(browser, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SHOTS) / f"console-{name}.png"))


def sign_in(browser, url, token, refused=None):
    browser.get(f"{url}/console")
    field = wait_for(browser, "#token")
    field.clear()
    field.send_keys(token)
    wait_for(browser, "#login-form button").click()
    if refused:
        wait_for(browser, "#login-error", refused)
    else:
        wait_for(browser, "#who", "signed in")


def test_an_admin_creates_a_campaign_and_a_reader_reads_results(api, flow, browser):
    from selenium.webdriver.common.by import By

    admin = {"authorization": "Bearer console-admin"}
    ids = [f"W-{i}" for i in range(6)]
    assert api.put("/v1/accounts", json=[account(a) for a in ids], headers=admin).status_code == 200
    now = "2026-03-02T08:00:00-06:00"
    answers = api.post("/v1/decide", json=[{"account_id": a, "now": now} for a in ids], headers=admin).json()
    assert any(a["action"] == "contact" for a in answers)
    url = str(api.base_url).rstrip("/")
    contacts = sum(a["action"] == "contact" for a in answers)
    report = "/v1/reports/results?from=2026-03-01&to=2026-03-07"
    wait_until(lambda: api.get(report, headers=admin).json()["totals"]["contacts"] == contacts)

    browser.get(f"{url}/console")
    wait_for(browser, "#login")  # nothing but the sign-in without a token
    assert not browser.find_element(By.ID, "tabs").is_displayed()
    sign_in(browser, url, "wrong", refused="unknown token")  # the API's own message
    sign_in(browser, url, "console-admin")
    assert "admin" in browser.find_element(By.ID, "who").text

    # create a campaign through the form; a bad one first: the API's validation answers
    form = wait_for(browser, "#campaign-form")
    form.find_element(By.NAME, "campaign").send_keys("bad id!")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "campaign" in wait_for(browser, "#campaign-error", "not valid").text
    field = form.find_element(By.NAME, "campaign")
    field.clear()
    field.send_keys("browser-early")
    form.find_element(By.NAME, "country").send_keys("MX")
    form.find_element(By.NAME, "days_past_due_min").send_keys("30")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, "#campaign-ok", "saved")
    row = wait_for(browser, "#campaign-table tbody tr", "browser-early")
    assert "country=MX" in row.text and "days_past_due_min=30" in row.text
    assert api.get("/v1/campaigns/browser-early", headers=admin).json()["filter"]["country"] == "MX"
    shot(browser, "campaigns")

    # start an experiment from the console, then promote an arm
    browser.get(f"{url}/console#experiments")
    assert "No experiment" in wait_for(browser, "#experiment-list", "No experiment").text
    form = wait_for(browser, "#experiment-form")
    form.find_element(By.NAME, "experiment").send_keys("console-value")
    definition = form.find_element(By.NAME, "definition")
    original = definition.get_attribute("value")
    definition.clear()
    definition.send_keys("{not json")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, "#experiment-error", "not JSON")
    definition.clear()
    definition.send_keys(original.replace('"share": 0.5}', '"share": 0.6}', 1))  # shares sum to 1.1
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, "#experiment-error", "shares must sum to 1")
    definition.clear()
    definition.send_keys(original)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    for text in ("careful", "champion", "optout_loss"):
        wait_for(browser, "#experiment-list table", text)
    browser.execute_script("window.confirm = () => true")
    click_in_row(browser, "#experiment-list tbody tr", "careful")
    wait_for(browser, "#experiment-list table", "promoted")
    assert api.get("/v1/experiments/console-value", headers=admin).json()["promoted"] == "careful"
    shot(browser, "experiments")

    browser.get(f"{url}/console#rules")
    assert "07:00-22:00" in wait_for(browser, "#windows-table tbody tr", "MX").text
    browser.get(f"{url}/console#carriers")
    wait_for(browser, "#carrier-table")
    browser.get(f"{url}/console#models")
    wait_for(browser, "#model-table")

    # a reader: results and the account's timeline, no admin controls
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{url}/console")
    sign_in(browser, url, "console-reader")
    assert not browser.find_element(By.ID, "campaign-form").is_displayed()
    assert wait_for(browser, "#campaign-table tbody tr", "browser-early")
    browser.get(f"{url}/console#results")
    form = wait_for(browser, "#results-form")
    browser.execute_script(
        "const f = document.querySelector('#results-form');"
        "f.from.value = '2026-03-01'; f.to.value = '2026-03-07';"
    )
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    total = wait_for(browser, "#results-table tfoot tr", "total")
    assert total.find_elements(By.CSS_SELECTOR, "td")[0].text == str(contacts)
    assert browser.find_elements(By.CSS_SELECTOR, "#results-chart canvas")  # the plot
    shot(browser, "results")
    browser.get(f"{url}/console#account")
    form = wait_for(browser, "#account-form")
    form.find_element(By.NAME, "account_id").send_keys(ids[0])
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "decision" in wait_for(browser, "#timeline-table tbody tr").text
