"""Nothing under the reports folder leaks personal numbers, and source text is escaped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from quality.report import PAGES
from schemas.pii import find_numbers

if TYPE_CHECKING:
    from conftest import QualityRun

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _hits(text: str) -> list[str]:
    return find_numbers(text)


def _files(root: Path) -> list[Path]:
    return [f for f in sorted(root.rglob("*")) if f.is_file()]


def test_no_id_or_phone_numbers_anywhere_under_reports(quality_run: QualityRun) -> None:
    reports = quality_run.settings.reports_dir
    files = _files(reports)
    names = {f.relative_to(reports).as_posix() for f in files}
    assert "quality/index.html" in names and "data_docs/index.html" in names
    assert any(n.startswith("gx/uncommitted/validations/") and n.endswith(".json")
               for n in names), "GX stored no validation results"
    assert any(n.startswith("data_docs/validations/") for n in names)
    # the scan means something: the raw data is full of such numbers
    con = duckdb.connect(str(quality_run.settings.warehouse_path), read_only=True)
    try:
        raw = "\n".join(r for (r,) in con.execute(
            "SELECT record::VARCHAR FROM raw.records WHERE record IS NOT NULL").fetchall())
    finally:
        con.close()
    assert len(_hits(raw)) > 100
    from quality.datadocs import package_copies  # imports GX: only here

    copies = package_copies(reports / "data_docs")
    assert any(f.suffix == ".woff2" for f in copies)
    leaks = {f.relative_to(reports).as_posix(): hits for f in files if f not in copies
             and (hits := _hits(f.read_bytes().decode("utf-8", "replace")))}
    assert leaks == {}


def _report_pages(reports: Path) -> list[Path]:
    return [reports / "quality" / name for name in PAGES.values()]


def test_source_text_is_escaped_never_a_tag(quality_run: QualityRun) -> None:
    reports = quality_run.settings.reports_dir
    parties = quality_run.injected["parties"]
    parties = json.loads(parties) if isinstance(parties, str) else parties
    for path in _report_pages(reports):
        page = path.read_text("utf-8")
        assert ESCAPED in page  # the injected event type, shown as text
        assert "<script" not in page.lower()
        assert quality_run.injected["reportId"] in page
        # its parties' names and its free text are withheld, not just escaped
        for party in parties:
            assert party["name"] not in page
        assert "描述" not in page
    # GX never saw the record: its frames hold codes and ids of loaded rows only
    others = [f for f in _files(reports) if f.suffix in (".html", ".json")
              and f not in _report_pages(reports)]
    assert [f for f in others if "alert(1)" in f.read_text("utf-8", "replace")] == []


def test_no_names_in_the_report(quality_run: QualityRun) -> None:
    """Names are grade L3: quarantine examples withhold them, even inside derived ids."""
    con = duckdb.connect(str(quality_run.settings.warehouse_path), read_only=True)
    try:
        names = {n for (n,) in con.execute("""
            SELECT name FROM staging.parties WHERE length(name) >= 2 UNION
            SELECT handler FROM staging.cases WHERE length(handler) >= 2""").fetchall()}
    finally:
        con.close()
    assert len(names) > 500
    for path in _report_pages(quality_run.settings.reports_dir):
        page = path.read_text("utf-8")
        assert sorted(n for n in names if n in page) == []
