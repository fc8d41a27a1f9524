"""Real-browser tests: headless Chromium driven by Playwright's sync API against
pytest-django's live server."""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    """Chromium for one module.

    Playwright's sync API runs an event loop in the test thread, so Django must be told to
    allow the ORM calls made there (test data, database set-up and flushes). Both the loop and
    the variable end with the module: neither reaches other tests, nor the subprocesses they
    start (`check --deploy` refuses the variable).
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


def csp_violations(context) -> list[str]:
    """What the site's Content-Security-Policy blocks in `context`'s pages (an inline script,
    a connection elsewhere): Chromium reports each on the console."""
    blocked: list[str] = []

    def seen(message):
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    context.on("console", seen)
    return blocked


@pytest.fixture
def new_page(browser):
    """Pages in separate browser contexts: each person has their own cookies. Everything
    runs under the site's Content-Security-Policy: a test whose pages had anything blocked
    fails when it ends."""
    contexts, blocked = [], []

    def open_page():
        context = browser.new_context(locale="en-US", timezone_id="UTC")
        context.set_default_timeout(10_000)
        contexts.append(context)
        blocked.append(csp_violations(context))
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    assert [text for texts in blocked for text in texts] == []
