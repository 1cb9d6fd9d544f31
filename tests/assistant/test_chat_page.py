"""The chat page at / in headless Chromium: key once, ask, read the streamed answer, open what it
cites. Debian's chromium and chromium-driver drive it (no browser download); without them the
tests skip, saying what to install."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.chat.prompt import ABSTAIN_TEXT
from tests.api.api_helpers import LiveSystem

from .chat_live import start_chat_system

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason="needs Debian's chromium and chromium-driver "
    "(as root: apt-get install chromium chromium-driver; make test does it)",
)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    system = start_chat_system(tmp_path_factory.mktemp("chat-page"))
    yield system
    system.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--window-size=1400,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def open_page(browser: WebDriver, live: LiveSystem, user: str) -> None:
    browser.get(live.base_url + "/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    browser.find_element(By.ID, "key").send_keys(live.keys[user])
    browser.find_element(By.ID, "key-save").click()
    assert browser.find_element(By.ID, "key-set").is_displayed()


def ask(browser: WebDriver, question: str, timeout: float) -> str:
    """Type ``question``, wait for its answer to finish; the answer's text."""
    before = len(browser.find_elements(By.CSS_SELECTOR, ".turn"))
    browser.find_element(By.ID, "message").send_keys(question)
    browser.find_element(By.ID, "send").click()
    finished = f".turn:nth-child({before + 1})[data-done]"
    turn = WebDriverWait(browser, timeout).until(
        lambda b: b.find_element(By.CSS_SELECTOR, finished)
    )
    assert turn.get_attribute("data-done") == "true", turn.text
    text: str = turn.find_element(By.CSS_SELECTOR, ".answer").text
    return text


def test_the_page_keeps_the_key_asks_and_lists_the_conversation(
    browser: WebDriver, live: LiveSystem
) -> None:
    open_page(browser, live, "alice")

    answer = ask(browser, "Who won the football world cup in 2022?", timeout=600)

    assert answer == ABSTAIN_TEXT
    WebDriverWait(browser, 30).until(
        lambda b: "world cup" in b.find_element(By.ID, "conversations").text
    )
    browser.refresh()  # the key stays for the tab
    assert browser.find_element(By.ID, "key-set").is_displayed()


def test_a_plan_event_renders_its_steps_status_and_citations(
    browser: WebDriver, live: LiveSystem
) -> None:
    open_page(browser, live, "alice")
    plan = {
        "status": "proposed",
        "steps": [
            {"command": "set_parameter", "asset": "press-3", "tag": "speed_spm", "value": 16}
        ],
        "citations": ["press-3-manual#6-troubleshooting/6.2-vibration-and-noise:0"],
        "refusal": None,
        "request_status": "waiting_approval",
        "message": "waiting for approval by a supervisor",
    }

    browser.execute_script("window.andonChat.handleEvent('plan', arguments[0])", plan)

    card = browser.find_element(By.CSS_SELECTOR, ".plan")
    assert "set_parameter press-3 (tag speed_spm, value 16)" in card.text
    assert "proposed" in card.text and "waiting_approval" in card.text
    assert "waiting for approval by a supervisor" in card.text
    link = card.find_element(By.CSS_SELECTOR, "a.cite")
    assert link.get_attribute("data-citation") == plan["citations"][0]


@pytest.mark.slow
def test_an_answer_streams_in_and_its_citation_opens_the_passage(
    browser: WebDriver, live: LiveSystem
) -> None:
    open_page(browser, live, "alice")

    answer = ask(browser, "Which oil goes into the press 3 recirculating lube system?", 600)

    assert "220" in answer
    links = [
        link
        for link in browser.find_elements(By.CSS_SELECTOR, ".turn:last-child a.cite")
        if not link.get_attribute("data-citation").startswith("plant:")
    ]
    assert links, answer
    shown_texts = []
    for link in links:
        citation = link.get_attribute("data-citation")
        link.click()
        WebDriverWait(browser, 30).until(
            lambda b, c=citation: (
                b.find_element(By.ID, "passage-title").text == c
                and b.find_element(By.ID, "passage-text").text
            )
        )
        expected = live.get("/passages", "alice", params={"citation_id": citation}).json()
        shown = browser.find_element(By.ID, "passage-text").text
        assert shown.split() == expected["text"].split()
        shown_texts.append(shown)
    assert any("Mobilgear 600 XP 220" in text for text in shown_texts), answer
