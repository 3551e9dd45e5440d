"""The merchandiser's search page in headless Chromium (Debian's, driven by Playwright): type a
query, pick a region and two adapters, see both answers side by side as catalog product cards."""

import shutil

import pytest

from helpers import TOKEN

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: `make browser` installs Debian's (as root)")
def test_search_page_shows_base_and_tuned_side_by_side(app, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(f"{app}/")
        page.fill("#token", TOKEN)
        page.dispatch_event("#token", "change")  # loads the adapter list with the token
        page.wait_for_function("document.querySelector('#right').options.length > 1")
        page.fill("#query", "samsung fridge under ₹60,000")
        page.select_option("#region", "EU")
        page.select_option("#left", "base")
        page.select_option("#right", "typo")
        page.click("#go")
        page.wait_for_selector("#right-col .card")  # constrained decoding: even a random model names catalog SKUs
        page.wait_for_function("document.querySelector('#left-col .meta').textContent.includes('ms')")
        cards = page.locator("#right-col .card")
        assert cards.count() >= 1 and "EUR" in cards.first.inner_text()
        assert page.inner_text("#left-title") == "base" and page.inner_text("#right-title") == "typo"
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        page.fill("#token", "wrong")
        page.click("#go")
        page.wait_for_selector("#right-col .error")
        assert "401" in page.inner_text("#right-col .error")
        browser.close()
    assert (tmp_path / "page.png").stat().st_size > 10_000
