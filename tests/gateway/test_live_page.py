"""The live page (`GET /live`) in headless Chromium, its microphone a fake device playing the JFK clip:
the page streams it to /v1/realtime and shows partial text, then the final transcript."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import requests

from devstack.gateway_process import GatewayProcess
from live_client.stream import pcm16
from tests.audio_files import normalize
from tests.gateway.realtime import wav_bytes
from tests.gateway_process import TEST_API_KEY
from whisper_runtime.audio import SAMPLE_RATE

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: Playwright cannot download its own browsers here
TRAILING_SILENCE_S = 2  # server_vad hears the clip end before Chromium loops the file
# The clip's phrases, as the transcript must hold them once the page has streamed it all.
PHRASES = ("fellow americans", "ask not what your country can do for you", "ask what you can do for your country")
# Every text the partial line shows, recorded by the test (the page itself keeps no history).
RECORD_PARTIALS = """() => {
  window.partialsSeen = [];
  const partial = document.getElementById("partial");
  new MutationObserver(() => partial.textContent && window.partialsSeen.push(partial.textContent))
    .observe(partial, {childList: true, characterData: true, subtree: true});
}"""


@pytest.fixture
def microphone(tmp_path: Path, jfk_pcm: np.ndarray) -> Path:
    """The JFK clip and a silence after it as a 16 kHz PCM16 WAV file: what Chromium's fake device plays."""
    samples = np.concatenate([pcm16(jfk_pcm), np.zeros(SAMPLE_RATE * TRAILING_SILENCE_S, dtype="<i2")])
    path = tmp_path / "microphone.wav"
    path.write_bytes(wav_bytes(samples, SAMPLE_RATE))
    return path


@pytest.fixture
def chromium(microphone: Path) -> Iterator[Browser]:
    """Headless system Chromium with a fake microphone playing `microphone`, media permission granted."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra's playwright is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (make deps does)")
    args = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required",
        *(["--no-sandbox"] if os.geteuid() == 0 else []),
    ]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield browser
        browser.close()


def test_the_page_is_served_without_a_key(gateway: GatewayProcess) -> None:
    response = requests.get(f"{gateway.url}/live", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<title>Dattavani ASR · live transcription</title>" in response.text


def _open(browser: Browser, gateway: GatewayProcess, key: str) -> tuple[Page, list[str]]:
    """The live page with `key` in its address, and the errors its console will show."""
    page = browser.new_page()
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{gateway.url}/live#key={key}")
    return page, errors


def test_the_microphone_is_transcribed_live(chromium: Browser, gateway: GatewayProcess) -> None:
    """Start: partial text while the clip plays, then its whole transcript; Stop closes the session normally."""
    page, console = _open(chromium, gateway, TEST_API_KEY)
    assert page.input_value("#key") == TEST_API_KEY
    assert "key=" not in page.url, "the key is taken out of the address"
    page.evaluate(RECORD_PARTIALS)
    page.click("#start")
    page.wait_for_function("document.body.dataset.state === 'live'", timeout=15_000)

    def transcript() -> str:
        return normalize(page.inner_text("#transcript"))

    deadline_ms = 60_000
    while deadline_ms > 0 and not all(phrase in transcript() for phrase in PHRASES):
        assert page.evaluate("document.body.dataset.state") == "live", (page.inner_text("#status"), console)
        page.wait_for_timeout(250)
        deadline_ms -= 250
    assert all(phrase in transcript() for phrase in PHRASES), (transcript(), page.inner_text("#status"), console)
    partials: list[str] = page.evaluate("window.partialsSeen")
    assert partials, "partial text was shown while the clip played"
    assert not page.inner_text("#status").startswith("Error"), page.inner_text("#status")

    page.click("#stop")
    page.wait_for_function("document.body.dataset.state === 'closed'", timeout=5_000)
    assert page.inner_text("#status") == "Stopped."
    assert not console


def test_a_refused_key_is_shown(chromium: Browser, gateway: GatewayProcess) -> None:
    """The upgrade is refused (401) before the socket opens: a browser sees close code 1006 only."""
    page, _ = _open(chromium, gateway, "not-our-key")
    page.click("#start")
    page.wait_for_function("document.body.dataset.state === 'error'", timeout=15_000)
    assert "(1006)" in page.inner_text("#status")
    assert page.is_enabled("#start") and not page.is_enabled("#stop")
