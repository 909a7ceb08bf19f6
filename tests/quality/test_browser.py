"""The quality report in a real browser: Debian's Chromium, headless, driven by Playwright."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import QualityRun

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_report_renders_tables_and_charts(quality_run: QualityRun, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `apt-get install chromium` (the browser "
                    "tests never download one)")
    from playwright.sync_api import sync_playwright

    page_file = quality_run.settings.reports_dir / "quality" / "index.html"
    shots = [page_file.parent / "screenshot.png", tmp_path / "screenshot.png"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            sources = page.locator("#accounting tbody tr").evaluate_all(
                "rows => rows.map(r => r.cells[0].textContent.trim())")
            charts = page.locator(".chart")
            chart_count = charts.count()
            drawn = [charts.nth(i).locator("svg").evaluate(
                "s => ({marks: s.querySelectorAll('path, rect, text, line').length, "
                "width: s.getBoundingClientRect().width})") for i in range(chart_count)]
            page.screenshot(path=str(shots[0]), full_page=True)
        finally:
            browser.close()
    shutil.copyfile(shots[0], shots[1])
    assert sources == ["province", "county", "township", "grid"]
    assert chart_count >= 2
    assert all(d["marks"] > 20 and d["width"] > 100 for d in drawn), drawn
    assert [r for r in requests if not r.startswith("file://")] == []  # self-contained
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
