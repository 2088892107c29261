"""The chat page at `/` in headless Chromium: type a message, read the streamed reply, and check it
is the reply the API gives for the same conversation (greedy, so it is one text)."""
import os
import shutil

import pytest

from conftest import ServerProcess

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

# CI installs Debian's chromium and chromium-driver (scripts/test.sh); elsewhere the test needs them too.
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
    reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_typed_message_streams_the_same_reply_the_api_gives(ternary_bin, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    with ServerProcess(ternary_bin, "-np", "2", "--ctx-size", "256", "-t", "2") as server:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 60)
        model = browser.find_element(By.ID, "model")
        wait.until(lambda _: model.text != "loading…")
        assert model.text == server.client().models.list().data[0].id
        browser.execute_script("document.getElementById('temperature').value = '0'")

        box = browser.find_element(By.ID, "input")
        box.send_keys("ROMEO: What light through yonder window breaks?")
        box.send_keys(Keys.ENTER)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".message.assistant[data-state='done']"))
        reply = browser.find_element(By.CSS_SELECTOR, ".message.assistant")
        shown = reply.text
        stats = browser.find_element(By.CSS_SELECTOR, ".stats").text
        user = browser.find_element(By.CSS_SELECTOR, ".message.user").text

        expected = server.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "ROMEO: What light through yonder window breaks?"}],
            max_tokens=256, temperature=0).choices[0].message.content
        assert user == "ROMEO: What light through yonder window breaks?"
        assert "error" not in reply.get_attribute("class"), f"the page shows an error: {shown!r}"
        # innerText folds runs of white space at the edges; compare the words.
        assert shown.split() == expected.split() and expected.strip()
        assert "tokens" in stats and "tok/s" in stats
