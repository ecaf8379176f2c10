"""The review page in a real headless Chromium (selenium + chromium-driver from apt)."""
from __future__ import annotations

import csv
import io
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait
from store_support import add_session, live_server

from massage_check.review.app import ReviewSettings, create_app
from massage_check.review.auth import hash_pin
from massage_check.store import TranscriptStore
from rules import load_questionnaire

PIN = "539172"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review-browser")
    store = TranscriptStore.open(tmp / "data")
    rules = load_questionnaire()
    rule = rules.rules[2]
    older = add_session(store, started=datetime.now(timezone.utc) - timedelta(days=2), outcome="ask_staff")
    sid = store.begin_session({"mode": "voice", "rules_sha256": rules.sha256})
    store.add_turn(sid, {"index": 0, "question_id": "blood_clot", "prompt": "Have you had a blood clot?",
                         "heard": "yes i have", "confidence": 0.52, "interpretation": "yes", "answer": "yes"})
    store.finish_session(sid, "see_doctor_first", [rule.id], "You reported a clot.", {"blood_clot": "yes"},
                         "result", completed=True)
    with live_server(create_app(store, ReviewSettings(pin_hash=hash_pin(PIN)))) as (host, port):
        yield {"url": f"http://{host}:{port}", "store": store, "sid": sid, "older": older, "rule": rule,
               "downloads": tmp / "downloads"}


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    assert CHROMIUM, "chromium is not installed: run `sh install.sh --dev` (DEV_APT has chromium)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    site["downloads"].mkdir()
    opts.add_experimental_option("prefs", {"download.default_directory": str(site["downloads"]),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                        "downloadPath": str(site["downloads"])})
    yield driver
    driver.quit()


def _click_and_wait(browser, element) -> None:
    """Click a link/button and wait until the next page has replaced this one."""
    element.click()

    def replaced(_: object) -> bool:
        try:
            element.is_enabled()
            return False
        except WebDriverException:      # stale, or "node does not belong to the document" mid-load
            return True

    WebDriverWait(browser, 20).until(replaced)
    WebDriverWait(browser, 20).until(lambda b: b.execute_script("return document.readyState") == "complete")


def _login(browser, site, pin: str) -> None:
    browser.get(site["url"] + "/login")
    browser.find_element(By.ID, "name").send_keys("Nurse K")
    browser.find_element(By.ID, "pin").send_keys(pin)
    _click_and_wait(browser, browser.find_element(By.ID, "login"))


def test_no_page_without_a_session_cookie(browser, site):
    browser.delete_all_cookies()
    browser.get(site["url"] + f"/session/{site['sid']}")
    assert browser.current_url.endswith("/login")
    assert "blood clot" not in browser.page_source and browser.find_element(By.ID, "pin")


def test_wrong_pin_is_refused(browser, site):
    browser.delete_all_cookies()
    _login(browser, site, "111119")
    assert browser.find_element(By.ID, "error").text == "Wrong PIN."
    browser.get(site["url"] + "/")
    assert browser.current_url.endswith("/login")


def test_log_in_list_open_session_export_log_out(browser, site):
    browser.delete_all_cookies()
    _login(browser, site, PIN)
    assert browser.current_url == site["url"] + "/"
    cookie = browser.get_cookie("mc_review")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""          # not readable by scripts

    rows = browser.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "a.open").text for r in rows] == [site["sid"][:8], site["older"][:8]]
    assert "See a doctor first" in rows[0].text

    _click_and_wait(browser, rows[0].find_element(By.CSS_SELECTOR, "a.open"))
    assert browser.find_element(By.ID, "sid").text == site["sid"]
    assert browser.find_element(By.ID, "outcome").text == "See a doctor first"
    turns = browser.find_element(By.ID, "turns").text
    assert "Have you had a blood clot?" in turns and "yes i have" in turns and "0.52" in turns
    why = browser.find_element(By.ID, f"rule-{site['rule'].id}").text
    assert site["rule"].source in why

    _click_and_wait(browser, browser.find_element(By.LINK_TEXT, "← All sessions"))
    browser.find_element(By.ID, "export").click()
    deadline = time.monotonic() + 20
    files: list[Path] = []
    while time.monotonic() < deadline:
        files = [f for f in site["downloads"].glob("*.csv")]
        if files and not list(site["downloads"].glob("*.crdownload")):
            break
        time.sleep(0.2)
    assert files, "the CSV was not downloaded"
    rows = list(csv.DictReader(io.StringIO(files[0].read_bytes().decode("utf-8-sig"))))
    assert {r["session_id"] for r in rows} == {site["sid"], site["older"]}

    _click_and_wait(browser, browser.find_element(By.ID, "logout"))
    assert browser.current_url.endswith("/login")
    browser.get(site["url"] + "/")
    assert browser.current_url.endswith("/login")

    actions = [e["action"] for e in site["store"].audit_log()]
    for action in ("login", "view_list", "view_session", "export_csv", "logout", "login_failed"):
        assert action in actions
