"""The scope checks end to end: real GBK township exports and grid JSON Lines drops,
ingested into a real DuckDB file. A record of another province is quarantined as
out_of_scope and one dated three years ahead of its receipt as in_future, each for that
reason alone; the other rows load and every batch's accounting holds. A deployment may
flag them instead (loaded, counted by the gate as warnings); a replay decides by when
the batch landed, not by the wall clock; the mock world, advanced, trips neither check.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from packs.disputes.mockworld.clock import SHANGHAI, epoch_ms
from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.world import advance
from quality.pipeline import gate_source
from schemas.reasons import Reason
from schemas.scope import Scope
from silobridge.cli import app
from silobridge.ingest import ingest_source
from silobridge.quality_files import of_source
from silobridge.quarantine import replay
from silobridge.settings import SOURCE_NAMES, Settings

#: three years past the moment the test's batches land (read off the clock once: only
#: the size of the gap matters, never how fast anything runs)
AHEAD = datetime.now(SHANGHAI).replace(tzinfo=None, microsecond=0) + timedelta(days=3 * 365)
TOWN = "330421001"
BEIJING_TOWN, BEIJING_GRID = "110101001", "110101001001001"
DROP_DAY = "20260910"


def _clean(world: Path, origin_prefix: str, n: int) -> list[tuple[str, int]]:
    """(origin, row) of `n` records of the world's answer key without a defect."""
    with (world / "answer_key" / "records.csv").open(encoding="utf-8") as f:
        rows = [(r["origin"], int(r["row"])) for r in csv.DictReader(f)
                if r["origin"].startswith(origin_prefix) and not r["defect"]]
    assert len(rows) >= n
    return rows[:n]


def _quarantined(settings: Settings, key: str) -> dict[str, list[tuple[str, str]]]:
    """The source's record id (raw field `key`) → the (field, reason)s it was held for."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute("""
            SELECT r.record->>?, list_transform(q.reasons, lambda x: [x.field, x.reason])
            FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
            WHERE q.status = 'open'""", [key]).fetchall()
    return {rid: [tuple(p) for p in problems] for rid, problems in rows}


def _accounting(settings: Settings, source: str) -> tuple[int, int, int, int]:
    """(read, loaded, quarantined, duplicates) summed over the source's ingested batches,
    each of which must add up on its own."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT read, loaded, quarantined, duplicates FROM ops.accounting "
            "WHERE source = ? AND kind = 'ingest'", [source]).fetchall()
    assert rows
    for read, loaded, quarantined, duplicates in rows:
        assert read == loaded + quarantined + duplicates
    return tuple(sum(column) for column in zip(*rows, strict=True))  # type: ignore[return-value]


# -- township: GBK CSV exports ----------------------------------------------------------
def _township_rows(world: Path, n: int) -> tuple[list[str], list[dict[str, str]]]:
    """The header and `n` clean rows of TOWN's exports, decoded."""
    header: list[str] = []
    out = []
    for origin, row in _clean(world, TOWN + "/", n):
        text = (world / "township" / origin).read_bytes().decode("gbk")
        lines = list(csv.reader(io.StringIO(text)))
        header = lines[0]
        out.append(dict(zip(header, lines[row - 1], strict=True)))
    return header, out


def _write_gbk(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.DictWriter(text, header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(text.getvalue().encode("gbk"))


def _dated_ahead(row: dict[str, str]) -> dict[str, str]:
    """The row with every time it holds moved to AHEAD, in the export's own formats."""
    moved = dict(row)
    for column in ("fsrq", "slrq", "hjrq"):
        if moved[column]:
            moved[column] = AHEAD.strftime("%Y/%m/%d %H:%M")
    moved["gxsj"] = AHEAD.strftime("%Y-%m-%d %H:%M:%S")
    return moved


@pytest.fixture
def township_drop(small_world: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """TOWN's export with two clean rows and one dated ahead, and a Beijing township's
    export (its folder names the township) with one otherwise clean row."""
    header, rows = _township_rows(small_world, 4)
    drop = tmp_path / "township"
    _write_gbk(drop / TOWN / f"{DROP_DAY}.csv", header,
               [rows[0], rows[1], _dated_ahead(rows[2])])
    _write_gbk(drop / BEIJING_TOWN / f"{DROP_DAY}.csv", header, [rows[3]])
    ids = {"clean": rows[0]["sjbh"], "ahead": rows[2]["sjbh"], "beijing": rows[3]["sjbh"]}
    return drop, ids


def test_township_rows_of_another_province_or_ahead_are_quarantined(
        small_world: Path, tmp_path: Path, township_drop: tuple[Path, dict[str, str]]) -> None:
    drop, ids = township_drop
    settings = Settings(home=tmp_path / "home", township={"path": drop},
                        reference=small_world / "reference")
    summary = ingest_source(settings, "township")
    assert (summary.read, summary.loaded, summary.quarantined, summary.duplicates) == \
        (4, 2, 2, 0)
    # for that alone: not unknown_code (no village of that name under a Beijing township)
    assert _quarantined(settings, "sjbh") == {
        ids["beijing"]: [("county_code", "out_of_scope")],
        ids["ahead"]: [("occurred_at", "in_future")]}
    assert _accounting(settings, "township") == (4, 2, 2, 0)


# -- grid: JSON Lines drops -------------------------------------------------------------
@pytest.fixture
def grid_drop(small_world: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """One day's drop: a clean report, one from a Beijing grid, one dated ahead."""
    reports = []
    for origin, row in _clean(small_world, "20260", 3):
        lines = (small_world / "grid" / origin).read_text(encoding="utf-8").splitlines()
        reports.append(json.loads(lines[row - 1]))
    clean, beijing, ahead = reports
    beijing = {**beijing, "gridCode": BEIJING_GRID}
    ahead = {**ahead, "occurTime": epoch_ms(AHEAD), "reportTime": epoch_ms(AHEAD)}
    drop = tmp_path / "grid"
    drop.mkdir()
    (drop / f"{DROP_DAY}.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (clean, beijing, ahead)),
        encoding="utf-8")
    return drop, {"clean": clean["reportId"], "beijing": beijing["reportId"],
                  "ahead": ahead["reportId"]}


def _grid_settings(home: Path, world: Path, drop: Path, **validation: Any) -> Settings:
    return Settings(home=home, grid={"path": drop}, reference=world / "reference",
                    validation=validation)


def test_grid_reports_of_another_province_or_ahead_are_quarantined(
        small_world: Path, tmp_path: Path, grid_drop: tuple[Path, dict[str, str]]) -> None:
    drop, ids = grid_drop
    settings = _grid_settings(tmp_path / "home", small_world, drop)
    summary = ingest_source(settings, "grid")
    assert (summary.read, summary.loaded, summary.quarantined) == (3, 1, 2)
    assert _quarantined(settings, "reportId") == {
        ids["beijing"]: [("county_code", "out_of_scope")],
        ids["ahead"]: [("occurred_at", "in_future")]}
    assert _accounting(settings, "grid") == (3, 1, 2, 0)


def test_a_replay_decides_by_when_the_batch_landed(
        small_world: Path, tmp_path: Path, grid_drop: tuple[Path, dict[str, str]]) -> None:
    drop, ids = grid_drop
    settings = _grid_settings(tmp_path / "home", small_world, drop)
    ingest_source(settings, "grid")
    replayed = replay(settings, "grid")  # the wall clock has not moved: nothing changes
    assert (replayed.loaded, replayed.quarantined) == (0, 2)
    # had the batch landed four years later, the report would not have been ahead of it
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("UPDATE ops.batches SET landed_at = landed_at + INTERVAL 4 YEAR "
                    "WHERE source = 'grid'")
    replayed = replay(settings, "grid")
    assert (replayed.loaded, replayed.quarantined) == (1, 1)
    assert list(_quarantined(settings, "reportId")) == [ids["beijing"]]


def test_a_deployment_may_flag_them_for_the_gate_instead(
        small_world: Path, tmp_path: Path, grid_drop: tuple[Path, dict[str, str]]) -> None:
    drop, _ = grid_drop
    settings = _grid_settings(tmp_path / "home", small_world, drop,
                              out_of_scope="flag", in_future="flag")
    summary = ingest_source(settings, "grid")
    assert (summary.read, summary.loaded, summary.quarantined) == (3, 3, 0)
    decision = gate_source(settings, "grid", of_source("grid"))
    assert decision.status == "passed"
    assert {"in_scope", "not_in_future"} <= set(decision.warnings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        counts = dict(con.execute(
            "SELECT check_name, unexpected_count FROM ops.quality_results "
            "WHERE check_name IN ('in_scope', 'not_in_future')").fetchall())
    assert counts == {"in_scope": 1, "not_in_future": 1}


def test_quarantine_mode_leaves_the_gate_nothing_to_count(
        small_world: Path, tmp_path: Path, grid_drop: tuple[Path, dict[str, str]]) -> None:
    drop, _ = grid_drop
    settings = _grid_settings(tmp_path / "home", small_world, drop, out_of_scope="flag")
    ingest_source(settings, "grid")
    decision = gate_source(settings, "grid", of_source("grid"))
    assert "in_scope" in decision.warnings and "not_in_future" not in decision.warnings


# -- settings ---------------------------------------------------------------------------
def test_the_scope_comes_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    assert Settings().scope == Scope(("33",), timedelta(days=1))  # the vendored province
    monkeypatch.setenv("SILOBRIDGE_VALIDATION__DIVISIONS", '["330421", "330402"]')
    monkeypatch.setenv("SILOBRIDGE_VALIDATION__FUTURE_TOLERANCE", "PT36H")
    monkeypatch.setenv("SILOBRIDGE_VALIDATION__IN_FUTURE", "flag")
    assert Settings().scope == Scope(("330421", "330402"), timedelta(hours=36),
                                     frozenset({Reason.IN_FUTURE}))
    shown = json.loads(CliRunner().invoke(app, ["settings"]).stdout)
    assert shown["validation"] == {"divisions": ["330421", "330402"],
                                   "future_tolerance": "P1DT12H", "out_of_scope": "quarantine",
                                   "in_future": "flag"}
    for bad in ('["3a"]', "[]"):
        monkeypatch.setenv("SILOBRIDGE_VALIDATION__DIVISIONS", bad)
        with pytest.raises(ValidationError):
            Settings()


# -- the mock world ---------------------------------------------------------------------
def test_the_advanced_mock_world_trips_neither_check(small_world: Path,
                                                     tmp_path: Path) -> None:
    # The world's clock stands in the past of the real one (it starts 2026-09-01), so its
    # records, advanced too, all lie before the batches that carry them land.
    home = tmp_path / "home"
    shutil.copytree(small_world, home / "world")
    advance(home / "world", 3)
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = Settings(home=home, province={"base_url": gateway.url})
        reasons = {r for s in SOURCE_NAMES for r in ingest_source(settings, s).reasons}
    assert reasons and not reasons & {"out_of_scope", "in_future"}
