"""The quality report's words and shape: one catalog, complete in Chinese and English; a
Chinese page by default and an English one beside it; a table of contents over collapsed
sections; quarantine examples that show a record's identity and the columns that failed,
not every column it has."""

from __future__ import annotations

import json
import re
import string
from typing import TYPE_CHECKING

import duckdb
import pytest

from conform.mapping import load_mappings
from packs.disputes.conforming import CONTRACT
from quality.masking import failed_columns
from quality.messages import LANGUAGES, Words, catalog
from quality.report import PAGES, TEMPLATES
from quality.report_data import quarantine
from schemas.reasons import Reason
from silobridge.contracts import all_mappings
from silobridge.packs import pack
from silobridge.quality_files import of_packs

if TYPE_CHECKING:
    from conftest import QualityRun

#: the report's template and the blocks it includes
TEMPLATE = "\n".join(p.read_text("utf-8") for p in sorted(TEMPLATES.glob("*.html.j2")))
HAN = re.compile(r"[\u4e00-\u9fff]")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_entry_has_both_languages_with_the_same_placeholders() -> None:
    entries = catalog()
    assert len(entries) > 100
    for key, entry in entries.items():
        assert set(entry) == set(LANGUAGES), key
        assert all(entry.values()), key
        assert _fields(entry["zh"]) == _fields(entry["en"]), key
        # each language's entry is written in it (the switch names the other language;
        # the mojibake description quotes garbled Chinese)
        if key not in ("page.other_language", "page.list_separator"):
            assert HAN.search(entry["zh"]), key
        if key not in ("page.other_language", "reason_note.mojibake"):
            assert not HAN.search(entry["en"]), key


def test_every_label_the_template_asks_for_is_in_the_catalog() -> None:
    # t("section." ~ id) is checked through the sections listed
    keys = [k for k in re.findall(r'\bt\(\s*"([^"]+)"', TEMPLATE) if not k.endswith(".")]
    listed = re.search(r"set sections = \[(.*?)\]", TEMPLATE, re.S)
    assert listed
    sections = re.findall(r'"([^"]+)"', listed.group(1))
    assert len(keys) > 60 and len(sections) == 8
    missing = {k for k in keys if k not in catalog()} | \
        {s for s in sections if f"section.{s}" not in catalog()}
    assert missing == set()
    for table, value in re.findall(r'\bcode\(\s*"([a-z_]+)",\s*"([a-z_]+)"', TEMPLATE):
        assert f"{table}.{value}" in catalog()


def test_every_reason_has_a_label_and_a_description_in_both_languages() -> None:
    for reason in Reason:
        for table in ("reason", "reason_note"):
            assert set(catalog()[f"{table}.{reason.value}"]) == set(LANGUAGES)


def test_every_check_that_ran_has_a_label(quality_run: QualityRun) -> None:
    con = duckdb.connect(str(quality_run.settings.warehouse_path), read_only=True)
    try:
        checks = {c for (c,) in con.execute(
            "SELECT DISTINCT check_name FROM ops.quality_results").fetchall()}
    finally:
        con.close()
    assert len(checks) > 20
    labels = {k for f in of_packs() for k in f.labels()}
    assert sorted(c for c in checks if f"check.{c}" not in catalog() and c not in labels) == []


def test_a_code_without_a_label_shows_as_itself() -> None:
    words = Words("zh")
    assert words.code("source", "grid") == "网格巡查"
    assert words.code("check", "a_check_added_later") == "a_check_added_later"
    with pytest.raises(KeyError):
        words.t("page.no_such_label")


def test_chinese_by_default_with_an_english_page_beside_it(quality_run: QualityRun) -> None:
    folder = quality_run.settings.reports_dir / "quality"
    assert PAGES == {"zh": "index.html", "en": "index.en.html"}
    zh = (folder / "index.html").read_text("utf-8")
    en = (folder / "index.en.html").read_text("utf-8")
    assert '<html lang="zh-CN">' in zh and '<html lang="en">' in en
    assert 'href="index.en.html"' in zh and 'href="index.html"' in en
    for lang, page in (("zh", zh), ("en", en)):
        words = Words(lang)  # type: ignore[arg-type]
        for key in ("page.title", "section.quarantine-section", "chart.volume",
                    "chart.run_axis", "reason.missing_required", "check.no_drift"):
            assert words.t(key) in page, (lang, key)
    # a pack's checks are named by its quality files, in each page's language
    labels = {k: v for f in of_packs() for k, v in f.labels().items()}
    for check in ("rejected_share", "status_conflict_share"):
        assert f"<td>{labels[check].zh}<br>" in zh and f"<td>{labels[check].en}<br>" in en
    assert "Quarantine by reason" not in zh and "隔离记录" not in en


def test_contents_and_collapsed_sections(quality_run: QualityRun) -> None:
    page = (quality_run.settings.reports_dir / "quality" / "index.html").read_text("utf-8")
    toc = re.search(r'<nav class="toc".*?</nav>', page, re.S)
    assert toc
    targets = re.findall(r'href="#([^"]+)"', toc.group(0))
    sections = re.findall(r'<details class="section" id="([^"]+)"( open)?>', page)
    assert targets == [s for s, _ in sections] and len(targets) == 8
    # the overview stays open; long lists start collapsed; failed steps open only when
    # there are any (none here)
    assert {s for s, is_open in sections if is_open} == {"accounting-section",
                                                         "trends-section"}
    assert page.count('<details class="reason"') >= 5


def test_examples_show_identity_and_only_the_failed_columns(quality_run: QualityRun) -> None:
    mappings = all_mappings(quality_run.settings)
    by_name = {m.name: m for m in mappings}
    con = duckdb.connect(str(quality_run.settings.warehouse_path), read_only=True)
    try:
        reasons = quarantine(con, mappings)
        raw = {qid: (mapping, json.loads(record) if record else None) for qid, mapping, record
               in con.execute("""
                   SELECT q.quarantine_id, q.mapping, r.record::VARCHAR FROM quarantine.records q
                   JOIN raw.records r USING (batch_id, row_no)""").fetchall()}
    finally:
        con.close()
    examples = [e for r in reasons for e in r["examples"]]
    assert len(examples) >= 10
    shown = hidden = 0
    for e in examples:
        mapping, record = raw[e.quarantine_id]
        assert e.source and e.origin and e.row_no >= 0
        if not isinstance(record, dict):
            assert e.unreadable is not None and e.fields == []
            continue
        assert e.source_id or e.id_derived
        wanted = failed_columns(by_name[mapping], [r["field"] for r in e.reasons])
        allowed = set(wanted) | {a for c in wanted
                                 for a in by_name[mapping].columns.aliases.get(c, ())}
        columns = [cell.column for cell in e.fields]
        assert set(columns) <= allowed, (e.reasons, columns)
        assert len(columns) == len(wanted)
        shown += len(columns)
        hidden += len(record) - len([c for c in columns if c in record])
    assert shown > 0 and hidden > 10 * shown  # the raw columns that did not fail stay out


def test_failed_columns_follow_the_mapping() -> None:
    mappings = {m.name: m for m in load_mappings(pack("disputes").path("mappings"), CONTRACT)}
    township, grid = mappings["township_csv"], mappings["grid"]
    assert failed_columns(township, ["occurred_at"]) == ["fsrq"]
    # a party's ID number comes from each party group's ID column
    assert failed_columns(township, ["parties[0].id_number"]) == ["sqrsfzh", "bsqrsfzh"]
    assert failed_columns(grid, ["parties[0].name", "reported_at"])[0] == "parties"
    assert failed_columns(grid, ["*"]) == []
