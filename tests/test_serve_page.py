"""The web page end to end in headless Chromium (Debian chromium + chromium-driver, driven by
selenium): /?q=... shows a grid of thumbnails with file name, span and score; a click plays the moment
in place; a picked or dropped file searches by it; a token in #token= reaches the API; nothing loads
from outside the server. Screenshots of the grid and of a clip playing are saved under pytest's
temporary folder (or OMNISEARCH_SCREENSHOTS when set)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from serve_helpers import LiveServer

pytest.importorskip("selenium")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian chromium and chromium-driver")
TOKEN = "page-token-5678"


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> Path:
    folder = os.environ.get("OMNISEARCH_SCREENSHOTS")
    out = Path(folder) if folder else tmp_path_factory.mktemp("screens")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--autoplay-policy=no-user-gesture-required",
        "--no-first-run",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _app(serve_index, serve_library, **kw):
    from omnisearch.serve.app import create_app
    from omnisearch.serve.config import ServeConfig

    return create_app(ServeConfig(db=str(serve_library[1]), **kw), index=serve_index)


@pytest.fixture(scope="module")
def page_base(serve_index, serve_library):
    with LiveServer(_app(serve_index, serve_library)) as base:
        yield base


def _wait(driver, script: str, timeout: float = 120.0):
    """Poll a JS expression until it is truthy; return its value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}; page says: {_message(driver)}")


def _message(driver) -> str:
    return driver.execute_script("return document.getElementById('message').textContent;")


LOADED_THUMBS = (
    "[...document.querySelectorAll('.hit img')].filter(i => i.complete && i.naturalWidth > 0).length"
)


def _cards(driver) -> list[dict]:
    return driver.execute_script(
        """return [...document.querySelectorAll('.hit')].map(h => ({
            file: h.querySelector('.file').textContent,
            span: h.querySelector('.span').textContent,
            score: h.querySelector('.score').textContent,
            src: h.querySelector('img') && h.querySelector('img').src}));"""
    )


def test_q_in_the_url_shows_a_grid_of_thumbnails_then_a_click_plays_the_moment(browser, page_base, screens):
    browser.get(f"{page_base}/?q={quote('budget for the warehouse')}")
    all_loaded = f"{LOADED_THUMBS} == document.querySelectorAll('.hit img').length"
    n = _wait(browser, f"{LOADED_THUMBS} >= 3 && {all_loaded} && {LOADED_THUMBS}")
    cards = _cards(browser)
    assert len(cards) >= n and cards[0]["file"] == "talk.mp4"
    assert all(re.fullmatch(r"\d\d:\d\d-\d\d:\d\d|picture", c["span"]) for c in cards)
    assert cards[0]["span"] == "00:00-00:10"  # the warehouse sentence, in the first window
    assert all(re.fullmatch(r"-?\d\.\d{3}", c["score"]) for c in cards)
    assert "/api/clips/" in cards[0]["src"] and cards[0]["src"].endswith("/thumbnail")
    assert browser.find_element("id", "q").get_attribute("value") == "budget for the warehouse"
    assert not browser.find_element("id", "token-form").is_displayed()  # no token needed here
    browser.save_screenshot(str(screens / "results.png"))

    browser.find_elements("css selector", ".hit")[0].click()
    video = "document.querySelector('.hit video')"
    playing = f"(v => v && v.currentTime > 1.0 && !v.paused && v.videoWidth > 0)({video})"
    _wait(browser, playing, timeout=90)
    assert browser.execute_script(f"return {video}.duration") > 5
    browser.save_screenshot(str(screens / "playing.png"))
    print(f"screenshots: {screens / 'results.png'} {screens / 'playing.png'}")


def test_the_page_loads_nothing_from_outside_the_server(browser, page_base):
    browser.get(f"{page_base}/?q=beep")
    _wait(browser, f"{LOADED_THUMBS} >= 1")
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert urls and all(u.startswith(page_base) for u in urls), urls


def test_a_picked_file_searches_by_it(browser, page_base, serve_library):
    browser.get(page_base + "/")
    browser.find_element("id", "file").send_keys(str(serve_library[0] / "beep.wav"))
    _wait(browser, "document.querySelectorAll('.hit').length > 0")
    assert _cards(browser)[0]["file"] == "beep.wav"
    assert "beep.wav" in _message(browser)


def test_a_dropped_file_searches_by_it(browser, page_base, serve_library):
    browser.get(page_base + "/")
    _wait(browser, "document.readyState === 'complete'")
    data = base64.b64encode((serve_library[0] / "card.png").read_bytes()).decode()
    browser.execute_script(
        """const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'card.png', {type: 'image/png'}));
        for (const type of ['dragenter', 'dragover', 'drop']) window.dispatchEvent(
            new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));""",
        data,
    )
    _wait(browser, "document.querySelectorAll('.hit').length > 0")
    assert _cards(browser)[0]["file"] == "card.png"


def test_a_token_in_the_fragment_reaches_the_api_and_the_media(browser, serve_index, serve_library):
    with LiveServer(_app(serve_index, serve_library, token=TOKEN)) as base:
        browser.get(f"{base}/?q=warehouse")
        _wait(browser, "!document.getElementById('token-form').hidden")  # asks for the token
        browser.get(f"{base}/?q=warehouse#token={TOKEN}")
        browser.refresh()
        _wait(browser, f"{LOADED_THUMBS} >= 1 && {LOADED_THUMBS} == document.querySelectorAll('.hit').length")
        srcs = [c["src"] for c in _cards(browser)]
        assert all(s.startswith("blob:") for s in srcs), srcs  # fetched with the Authorization header
        browser.execute_script("sessionStorage.clear();")
