"""The README's questions for analysts, asked of a real snapshot of the demo world (the
default mock world, through the whole pipeline), in the DuckDB 1.5 CLI and in DuckDB 2.x;
each answer is checked against the same question computed apart, in Python, from the
warehouse's core tables, the pack's code lists and the grid system's registry."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from typer.testing import CliRunner

from packs.disputes.codes import CATEGORY_LIST, CaseStatus, StatusFamily
from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import generate
from schemas.divisions import JIASHAN
from schemas.divisions import load as load_divisions
from silobridge.cli import app
from silobridge.run import run_pipeline
from silobridge.settings import Settings
from silobridge.snapshot import snapshot_dir
from warehouse.snapshot import SNAPSHOT

README = Path(__file__).resolve().parents[2] / "README.md"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def readme_questions() -> list[tuple[str, str]]:
    """(question, SQL) of the README's block of questions, in order."""
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- questions:start -->")[1].split("<!-- questions:end -->")[0]
    sql = block.split("```sql\n")[1].split("```")[0]
    out = []
    for statement in sql.split(";"):
        lines = statement.strip().splitlines()
        if lines:
            assert lines[0].startswith("-- "), lines[0]
            out.append((lines[0].removeprefix("-- "), "\n".join(lines[1:])))
    return out


QUESTIONS = readme_questions()


@dataclass
class Demo:
    home: Path
    snapshot: Path
    core: dict[str, list[dict[str, Any]]]  # the warehouse's tables, as read apart
    villages: dict[str, str]  # name → code, from the grid system's registry


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    result = con.execute(sql)
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("analysts") / "home"
    generate(home / "world", WorldSpec())  # the demo world: the README's names are in it
    gateway = ProvinceGateway(home / "world", port=0).start()
    try:
        run_pipeline(Settings(home=home, province={"base_url": gateway.url}))
    finally:
        gateway.stop()
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        core = {
            "cases": _rows(con, "SELECT * FROM core.cases"),
            # each record's newest version as staged, for each level's latest word
            "words": _rows(con, """
                SELECT r.case_id, r.source, r.record_uid, s.status,
                       coalesce(s.source_updated_at, s.reported_at, s.occurred_at) AS said_at
                FROM core.records r JOIN staging.cases s USING (batch_id, row_no)"""),
            "sla": _rows(con, "SELECT * FROM ref.sla"),
        }
        timezone = ZoneInfo(con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0])
    finally:
        con.close()
    core["timezone"] = [{"tz": timezone}]
    with (home / "world" / "reference" / "villages.csv").open(encoding="utf-8") as f:
        villages = {r["name"]: r["code"] for r in csv.DictReader(f)}
    yield Demo(home, snapshot_dir(Settings(home=home)) / SNAPSHOT, core, villages)


# -- the answers, computed apart -----------------------------------------------------------
def _family(status: str) -> StatusFamily:
    return CaseStatus(status).family


def _town_name(code: str) -> str:
    return load_divisions().townships[code].name


def _backlog(d: Demo) -> list[tuple[Any, ...]]:
    tz = d.core["timezone"][0]["tz"]
    as_of = max(c["status_at"] for c in d.core["cases"])
    sla = {r["level"]: r["days"] for r in d.core["sla"]}
    towns: dict[str, Counter[str]] = defaultdict(Counter)
    for c in d.core["cases"]:
        family = _family(c["status"])
        if c["county_code"] != JIASHAN or family is StatusFamily.VOID:
            continue
        t = towns[c["town_code"]]
        t["cases"] += 1
        t[family.value] += 1
        if family in (StatusFamily.OPEN, StatusFamily.ESCALATED):
            since = c["accepted_at"] or c["reported_at"] or c["occurred_at"]
            age = (as_of.astimezone(tz).date() - since.astimezone(tz).date()).days
            level = c["handling_level"] if c["handling_level"] is not None \
                else c["highest_level"]
            t["overdue"] += age > sla[level]
    rows = [(_town_name(code), t["cases"], t["open"], t["escalated"], t["overdue"])
            for code, t in towns.items()]
    return sorted(rows, key=lambda r: (-r[2], r[0]))[:5]


def _minutes(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000) // 60_000_000


def _resolution(d: Demo) -> list[tuple[Any, ...]]:
    names = {c.code: c.zh for c in CATEGORY_LIST}
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in d.core["cases"]:
        if c["county_code"] == JIASHAN and c["highest_level"] == 30 \
                and _family(c["status"]) is not StatusFamily.VOID:
            by[c["category_code"]].append(c)
    rows = []
    for code, cases in by.items():
        resolved = [c for c in cases if _family(c["status"]) is StatusFamily.RESOLVED]
        days = [(_minutes(c["resolved_at"]) - _minutes(c["reported_at"] or c["occurred_at"]))
                / 1440 for c in resolved]
        if len(cases) >= 20:
            rows.append((names[code], len(cases), len(resolved),
                         round(len(resolved) / len(cases), 4),
                         round(statistics.median(days), 2) if days else None))
    return sorted(rows, key=lambda r: (r[3], r[0]))[:5]


def _escalation(d: Demo) -> list[tuple[Any, ...]]:
    months: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for c in d.core["cases"]:
        if c["county_code"] == JIASHAN and _family(c["status"]) is not StatusFamily.VOID:
            m = months[(c["occurred_at"].astimezone(SHANGHAI).strftime("%Y-%m"),
                        c["town_code"])]
            m["cases"] += 1
            m["escalated"] += c["highest_level"] >= 30
    latest = max(month for month, _ in months)
    rows = [(_town_name(town), m["cases"], m["escalated"], round(m["escalated"] / m["cases"], 4))
            for (month, town), m in months.items() if month == latest]
    return sorted(rows, key=lambda r: (-r[3], -r[1], r[0]))


def _village(d: Demo) -> list[tuple[Any, ...]]:
    code = d.villages["西南村"]
    labels = {c.code: (c.zh, c.en) for c in CATEGORY_LIST}
    by: dict[str, Counter[str]] = defaultdict(Counter)
    for c in d.core["cases"]:
        if c["village_code"] == code:
            k = by[c["category_code"]]
            k["cases"] += 1
            k[_family(c["status"]).value] += 1
    rows = [(*labels[cat], k["cases"], k["open"], k["escalated"]) for cat, k in by.items()]
    return sorted(rows, key=lambda r: (-r[2], r[0]))


def _statuses(d: Demo) -> list[tuple[Any, ...]]:
    counts = Counter(CaseStatus(c["status"]) for c in d.core["cases"]
                     if c["county_code"] == JIASHAN)
    rows = [(s.family.zh, s.zh, s.en, n) for s, n in counts.items()]
    return sorted(rows, key=lambda r: (-r[3], r[2]))


def _conflicts(d: Demo) -> list[tuple[Any, ...]]:
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for w in d.core["words"]:
        key = (w["case_id"], w["source"])
        if key not in newest or (w["said_at"], w["record_uid"]) > (
                newest[key]["said_at"], newest[key]["record_uid"]):
            newest[key] = w
    by_case: dict[str, dict[str, StatusFamily | None]] = defaultdict(dict)
    for (case, source), w in newest.items():
        by_case[case][source] = _family(w["status"]) if w["status"] else None
    conflicts = [levels for levels in by_case.values()
                 if StatusFamily.RESOLVED in levels.values()
                 and StatusFamily.OPEN in levels.values()]
    county = sum(levels.get("county") is StatusFamily.RESOLVED for levels in conflicts)
    return [(len(conflicts), county)]


#: one computation per README question, in the README's order
ANSWERS: list[Callable[[Demo], list[tuple[Any, ...]]]] = [
    _backlog, _resolution, _escalation, _village, _statuses, _conflicts]


def test_the_readme_asks_enough_questions() -> None:
    assert len(QUESTIONS) == len(ANSWERS) >= 5
    assert any("村" in question for question, _ in QUESTIONS)  # one by village name


def _duckdb_15(snapshot: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows from the DuckDB 1.5 CLI (PyPI duckdb-cli, in the dev environment)."""
    done = subprocess.run([sys.executable, "-m", "duckdb_cli", "-readonly", str(snapshot),
                           "-json", "-c", sql], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return [tuple(r.values()) for r in json.loads(done.stdout or "[]")]


def _same(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=0.006) if any(isinstance(v, float) for v in w) \
            else g == w, (g, w)


@pytest.mark.parametrize("number", range(len(QUESTIONS)),
                         ids=[q for q, _ in QUESTIONS])
def test_each_readme_question_answers_alike_in_duckdb_15_and_2(demo: Demo,
                                                                number: int) -> None:
    question, sql = QUESTIONS[number]
    want = ANSWERS[number](demo)
    assert want and all(want), question  # a question with an answer
    con = duckdb.connect(str(demo.snapshot), read_only=True)
    try:
        assert con.execute("SELECT version()").fetchall()[0][0].startswith("v2.")
        two = [tuple(r) for r in con.execute(sql).fetchall()]
    finally:
        con.close()
    _same(two, want)
    assert _duckdb_15(demo.snapshot, sql) == two


def test_silobridge_tables_lists_every_table_with_its_labels(demo: Demo) -> None:
    env = {"SILOBRIDGE_HOME": str(demo.home), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["tables", "--json"], env=env)
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    con = duckdb.connect(str(demo.snapshot), read_only=True)
    try:
        shown = {name for (name,) in con.execute("SHOW TABLES").fetchall()}
        for t in listed:
            assert t["label_zh"] and t["label_en"], t
            (n,) = con.execute(f"SELECT count(*) FROM {t['table_name']}").fetchall()[0]
            assert t["row_count"] == n, t
    finally:
        con.close()
    assert {t["view_name"].removeprefix("main.") for t in listed} == shown
    assert {"core.cases", "ref.divisions", "ref.grids", "ref.codes"} <= {
        t["table_name"] for t in listed}
    result = CliRunner().invoke(app, ["tables", "cases"], env=env)
    assert result.exit_code == 0 and "status_family_zh" in result.output
    assert "状态族" in result.output
    result = CliRunner().invoke(app, ["tables", "no_such_table"], env=env)
    assert result.exit_code == 1 and "silobridge tables` lists them" in result.output


def test_villages_and_grids_have_names(demo: Demo) -> None:
    con = duckdb.connect(str(demo.snapshot), read_only=True)
    try:
        (villages, grids, unnamed) = con.execute("""
            SELECT (SELECT count(*) FROM divisions WHERE level = 'village'),
                   (SELECT count(*) FROM grids),
                   (SELECT count(*) FROM cases WHERE county_code = '330421'
                      AND (village_code IS NOT NULL AND village_name IS NULL
                           OR grid_code IS NOT NULL AND grid_name IS NULL))""").fetchall()[0]
    finally:
        con.close()
    assert (villages, grids) == (len(demo.villages), len(
        (demo.home / "world" / "reference" / "grids.csv").read_text().splitlines()) - 1)
    assert unnamed == 0
