"""The lab page in a real headless Chromium (Debian's chromium + chromium-driver, through Selenium):
every tab renders without a console error, the page loads in under 5 seconds, a screenshot per tab."""

from __future__ import annotations

import shutil
import time

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
TABS = ["Hidden state", "Vanishing gradients", "Attention", "Generation knobs"]
ATTENTION_TABS = ["Sentiment: words", "Captioning: photo", "Speech: spectrogram"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1600"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM or not DRIVER:
        pytest.skip("Chromium or chromedriver is not installed (apt-get install chromium chromium-driver; "
                    ".ci/run does it); the browser test needs both")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _tab(driver, label):
    from selenium.webdriver.common.by import By

    buttons = [button for button in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']")
               if button.text.strip() == label]
    assert buttons, f"no tab {label!r}; tabs: {[b.text for b in driver.find_elements(By.CSS_SELECTOR, 'button[role=tab]')]}"
    return buttons[0]


def _errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_every_tab_renders_without_console_errors(browser, lab_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    start = time.perf_counter()
    browser.get(lab_server.url)
    WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "button[role='tab']")))
    load_seconds = time.perf_counter() - start
    assert load_seconds < 5.0, f"the page took {load_seconds:.1f} s to show its tabs"
    print(f"lab: server up {lab_server.startup_seconds:.1f} s after start, page shown {load_seconds:.2f} s after request")

    tabs = TABS + (["Forecast"] if any(b.text.strip() == "Forecast" for b in browser.find_elements(By.CSS_SELECTOR, "button[role='tab']")) else [])
    shots = []
    for label in tabs:
        _tab(browser, label).click()
        WebDriverWait(browser, 10).until(lambda driver, label=label: _tab(driver, label).get_attribute("aria-selected") == "true")
        assert any(panel.is_displayed() for panel in browser.find_elements(By.CSS_SELECTOR, "[role='tabpanel']")), label
        # every tab has a primary button to act with, and it is visible
        assert any(button.is_displayed() for button in browser.find_elements(By.CSS_SELECTOR, "button.primary")), label
        if label == "Attention":
            for inner in ATTENTION_TABS:
                _tab(browser, inner).click()
                WebDriverWait(browser, 10).until(lambda driver, inner=inner: _tab(driver, inner).get_attribute("aria-selected") == "true")
                shots.append(tmp_path / f"tab-attention-{inner.split(':')[0].lower()}.png")
                browser.save_screenshot(str(shots[-1]))
        else:
            shots.append(tmp_path / f"tab-{label.lower().replace(' ', '-')}.png")
            browser.save_screenshot(str(shots[-1]))
        errors = _errors(browser)
        assert not errors, f"console errors on tab {label!r}: {errors}"
    assert all(shot.stat().st_size > 5000 for shot in shots), [shot.stat().st_size for shot in shots]
    print("screenshots:", *shots, sep="\n  ")


def test_a_tab_answers_in_the_browser(browser, lab_server, tmp_path):
    """Press the gradient tab's button and see its numbers appear on the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(lab_server.url)
    WebDriverWait(browser, 30).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "button[role='tab']"))
    _tab(browser, "Vanishing gradients").click()
    button = next(b for b in browser.find_elements(By.CSS_SELECTOR, "button.primary")
                  if b.is_displayed() and b.text.strip() == "Measure the gradients")
    button.click()
    WebDriverWait(browser, 120).until(lambda driver: "orders of magnitude lost" in driver.page_source)
    browser.save_screenshot(str(tmp_path / "gradients-measured.png"))
    assert not _errors(browser)
