"""The reports in a real browser, offline: Debian's Chromium, headless, driven by Playwright,
reading the reports from a real HTTP server on 127.0.0.1 with every request to any other
host aborted and recorded. A page that asks the internet for anything fails the test, and
so does a local file it links that is missing, or a script error."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

if TYPE_CHECKING:
    from conftest import QualityRun

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PNG = b"\x89PNG\r\n\x1a\n"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LOCAL_SCHEMES = {"data", "blob", "about"}
SUITES = ["batch_county", "batch_grid", "batch_province", "batch_township"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(quality_run: QualityRun) -> Iterator[str]:
    """The reports folder over HTTP on 127.0.0.1 (a free port)."""
    handler = functools.partial(_Quiet, directory=str(quality_run.settings.reports_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Offline:
    """What the pages asked for that the test did not let through, or that failed."""

    blocked: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, context: Any) -> None:
        context.route("**/*", self._route)
        context.on("response", lambda r: r.status >= 400 and self.missing.append(
            f"{r.status} {r.url}"))
        context.on("page", lambda p: p.on("pageerror", lambda e: self.errors.append(str(e))))

    def check(self) -> None:
        assert (self.blocked, self.missing, self.errors) == ([], [], []), \
            "blocked, missing, script errors"

    def _route(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in LOCAL_SCHEMES or url.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


def _chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `apt-get install chromium` (the browser "
                    "tests never download one)")


@contextmanager
def _offline_browser(offline: Offline) -> Iterator[Callable[..., Any]]:
    """Debian's Chromium, as `new_page(**context_options)`: each page in a context of its
    own that `offline` watches (requests beyond 127.0.0.1 aborted and recorded)."""
    _chromium()
    from playwright.sync_api import sync_playwright

    def new_page(**options: Any) -> Any:
        context = browser.new_context(**options)
        offline.watch(context)
        return context.new_page()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield new_page
        finally:
            browser.close()


STYLE = """() => {
  const css = (selector, property) => {
    const el = document.querySelector(selector);
    return el ? getComputedStyle(el)[property] : null;
  };
  return {
    navbar: css('.navbar', 'display'),
    container: css('.container-fluid', 'paddingLeft'),
    icon: css('.fas', 'fontFamily'),
    jquery: typeof window.jQuery === 'function' && typeof jQuery.fn.collapse === 'function',
  };
}"""
ICON_FONT = """async () => {
  await document.fonts.ready;
  return [...document.fonts].filter(f => f.family.includes('Font Awesome') &&
                                         f.status === 'loaded').length;
}"""


LINKED = """() => [...document.querySelectorAll('link[href], script[src], img[src]')]
  .map(e => e.href || e.src)"""


def _linked(page: Any) -> list[str]:
    """Every stylesheet, script, icon and image the page links that does not load from
    the local server, fetched here (not by the page: the favicon and any asset the
    browser did not need for this view count too)."""
    failed = []
    for url in page.evaluate(LINKED):
        if urlsplit(url).hostname not in LOCAL_HOSTS:
            failed.append(f"outside {url}")
            continue
        try:
            with urlopen(url) as response:
                response.read()
        except HTTPError as e:
            failed.append(f"{e.code} {url}")
    return failed


def _styled(page: Any) -> dict[str, Any]:
    return {**page.evaluate(STYLE), "icon_fonts": page.evaluate(ICON_FONT)}


def test_data_docs_render_offline(quality_run: QualityRun, served: str,
                                  tmp_path: Path) -> None:
    from playwright.sync_api import expect

    offline = Offline()
    with _offline_browser(offline) as new_page:
        page = new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{served}/data_docs/index.html", wait_until="networkidle")
        offline.check()
        validations = page.locator("#Validation-Results tbody tr").all_inner_texts()
        index_style = _styled(page)
        index_linked = _linked(page)
        page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        suites_pane = page.locator("#Expectation-Suites")
        suites_hidden = suites_pane.is_hidden()
        page.get_by_role("tab", name="Expectation Suites").click()  # Bootstrap's tabs
        expect(suites_pane).to_be_visible()
        suites = [r.strip() for r in suites_pane.locator("tbody tr").all_inner_texts()]
        page.get_by_role("tab", name="Validation Results").click()
        expect(page.locator("#Validation-Results")).to_be_visible()
        # a validation of the grid batch, reached as a user would: its row's link
        page.locator("tbody tr", has_text="batch_grid").locator(
            "a[href^='validations/']").first.click()
        page.wait_for_load_state("networkidle")
        offline.check()
        validation_url = page.url
        heading = page.locator("h4").first.inner_text()
        validation_style = _styled(page)
        validation_linked = _linked(page)
        more = page.get_by_text("Show more info...").first
        target = page.locator(more.get_attribute("href") or "")
        shown_before = target.is_visible()
        more.click()
        target.wait_for(state="visible")  # Bootstrap's collapse, from the site's script
        page.screenshot(path=str(tmp_path / "validation.png"), full_page=True)
        # a dark system theme must not fetch GX's dark logo from the internet
        new_page(color_scheme="dark").goto(validation_url, wait_until="networkidle")
    offline.check()
    assert suites_hidden
    assert suites == SUITES  # sorted by name, as GX's table options ask
    assert len(validations) == len(SUITES)
    assert any("batch_grid" in row for row in validations)
    assert "/validations/batch_grid/" in validation_url
    assert heading == "Expectation Validation Result"
    assert index_linked == [] and validation_linked == []
    for style in (index_style, validation_style):
        assert style["navbar"] == "flex"        # Bootstrap's .navbar (UA default: block)
        assert style["container"] == "48px"     # Bootstrap's .pl-5
        assert "Font Awesome" in style["icon"]  # the icon font's stylesheet
        assert style["icon_fonts"] >= 1         # and the font file itself
        assert style["jquery"]
    assert not shown_before
    for shot in ("index.png", "validation.png"):
        data = (tmp_path / shot).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000


def test_quality_report_renders_offline_in_both_languages(
        quality_run: QualityRun, served: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page_file = quality_run.settings.reports_dir / "quality" / "index.html"
    shots = [page_file.parent / "screenshot.png", tmp_path / "screenshot.png"]
    offline = Offline()
    seen: dict[str, dict[str, Any]] = {}
    with _offline_browser(offline) as new_page:
        page = new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{served}/quality/index.html", wait_until="networkidle")
        offline.check()
        page.screenshot(path=str(shots[0]), full_page=True)
        seen["zh"] = _report(page)
        # the table of contents leads to a collapsed section; its summary opens it
        page.locator("nav.toc a[href='#quarantine-section']").click()
        quarantine = page.locator("#quarantine-section")
        reasons = quarantine.locator("details.reason")
        hidden_before = not reasons.first.is_visible()
        quarantine.locator("summary").first.click()
        expect(reasons.first).to_be_visible()
        reasons.first.locator("summary").click()
        expect(reasons.first.locator(".example").first).to_be_visible()
        # the language switch
        page.locator("#language").click()
        page.wait_for_load_state("networkidle")
        seen["en"] = {**_report(page), "url": page.url}
    shutil.copyfile(shots[0], shots[1])
    offline.check()
    for lang, report in seen.items():
        assert report["sources"] == ["province", "county", "township", "grid"], lang
        assert len(report["charts"]) >= 2
        assert all(d["marks"] > 20 and d["width"] > 100 for d in report["charts"]), report
        # collapsed sections: the overview and the charts, not every row of every list
        assert report["height"] < 4000, (lang, report["height"])
    assert seen["zh"]["lang"] == "zh-CN" and seen["zh"]["title"] == "silobridge · 数据质量报告"
    assert seen["en"]["lang"] == "en" and seen["en"]["title"] == "silobridge · data quality"
    assert seen["en"]["url"].endswith("/quality/index.en.html")
    assert hidden_before
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000


REPORT = """() => ({
  lang: document.documentElement.lang,
  title: document.querySelector('h1').textContent.trim(),
  sources: [...document.querySelectorAll('#accounting tbody tr')].map(r => r.dataset.source),
  charts: [...document.querySelectorAll('.chart svg')].map(s => ({
    marks: s.querySelectorAll('path, rect, text, line').length,
    width: s.getBoundingClientRect().width})),
  height: document.documentElement.scrollHeight,
})"""


def _report(page: Any) -> dict[str, Any]:
    return page.evaluate(REPORT)


def test_the_guard_catches_a_page_that_reaches_out(served: str, quality_run: QualityRun
                                                   ) -> None:
    """The test's own net: a page linking a CDN stylesheet is caught, not let through."""
    probe = quality_run.settings.reports_dir / "probe.html"
    probe.write_text('<link rel="stylesheet" href="https://cdn.example.org/x.css">'
                     '<img src="missing.png">', encoding="utf-8")
    offline = Offline()
    try:
        with _offline_browser(offline) as new_page:
            new_page().goto(f"{served}/probe.html", wait_until="networkidle")
    finally:
        probe.unlink()
    assert offline.blocked == ["https://cdn.example.org/x.css"]
    assert [m.split()[0] for m in offline.missing] == ["404"]
