"""The class summary as a TA opens it: in a real headless browser (Debian's chromium, driven by
Playwright), from the results folder of a graded class. The page loads, every link on it leads to
something that is there (each student's feedback, each anchor), nothing is fetched from a network,
and neither the summary nor any feedback page logs a console error.

`make test` installs chromium where it is missing (`make browser`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright
from test_classbook import CLASS, GradedClass, graded_class  # noqa: F401 - the shared class

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.is_file(), "Debian's chromium is missing: `make browser` installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=60_000)
        yield browser
        browser.close()


class Visit:
    """A page opened with everything it logs and fetches on record."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.errors: list[str] = []
        self.fetched: list[str] = []
        self.context = browser.new_context(java_script_enabled=True)
        self.page: Page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on("request", self._request)
        response = self.page.goto(url, wait_until="load")
        assert response is None or response.ok, url

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _request(self, request: Request) -> None:
        self.fetched.append(request.url)

    def close(self) -> None:
        self.context.close()


def file_of(url: str) -> Path:
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return Path(unquote(parsed.path))


@pytest.mark.slow
def test_the_summary_loads_links_resolve_no_console_error(
    browser: Browser,
    graded_class: GradedClass,  # noqa: F811 - the fixture imported above
) -> None:
    summary = graded_class.out / "summary.html"
    visit = Visit(browser, summary.as_uri())
    page = visit.page
    try:
        assert page.title() == "Exercise 2 — PyTorch basics: class summary"
        assert "4 of 5 graded" in page.inner_text("body")
        rows = page.locator("table.students tr[id]")
        assert rows.count() == len(CLASS) + 1
        shown = page.locator("table.students").inner_text()
        for name, *_ in CLASS:
            assert name in shown
        histogram = page.locator("svg[aria-label^='score histogram'] rect")
        assert histogram.count() == 10
        assert histogram.first.bounding_box() is not None

        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        anchors = [h for h in hrefs if "#" in h]
        files = [h for h in hrefs if "#" not in h]
        screen = [h for h in files if h.endswith("/similarity.html")]  # the similar pairs' evidence
        assert len(files) == len(CLASS) + 2 and len(screen) == 1 and anchors
        for href in anchors:  # "to look at" and the similar pairs point at rows of the table
            target = href.split("#", 1)[1]
            assert page.locator(f"[id='{unquote(target)}']").count() == 1, href
        feedback_pages = []
        for href in files:
            path = file_of(href)
            assert path.is_file(), f"{href} leads nowhere"
            assert path.is_relative_to(graded_class.out)
            if href not in screen:
                feedback_pages.append(href)
        assert not visit.errors, visit.errors
        assert all(u.startswith(("file:", "data:")) for u in visit.fetched), visit.fetched
    finally:
        visit.close()

    # follow each link as a TA would: the student's own feedback, also without errors
    for href in feedback_pages:
        visit = Visit(browser, href)
        try:
            heading = visit.page.inner_text("h1")
            assert heading.startswith("Exercise 2 — PyTorch basics — "), heading
            assert visit.page.locator("table").count() >= 2
            assert not visit.errors, (href, visit.errors)
            assert all(u.startswith(("file:", "data:")) for u in visit.fetched), visit.fetched
        finally:
            visit.close()

    visit = Visit(browser, screen[0])
    try:
        assert visit.page.title() == "Exercise 2 — PyTorch basics: similarity screen"
        assert visit.page.locator("details").count() >= 1  # a pair, its evidence folded in
        assert not visit.errors, visit.errors
        assert all(u.startswith(("file:", "data:")) for u in visit.fetched), visit.fetched
    finally:
        visit.close()
