"""Wide rows: a record whose numbered columns are a series (P001 … P096, the quarter-hour
loads of one transformer and day) becomes one child row per column, through the real
XLSX connector, landing, conform, validation, staging, quarantine and accounting.

The contract is made here (a day of a transformer, its points); the mapping is the one a
pack writes for the grid office's export (`MAPPING`). Files: the charging mock world's
export (its answer key names every blank point) and small hand-made ones for the edges.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import openpyxl
import pytest
import xlsxwriter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from conform.contract import ChildGroup, Contract
from conform.engine import conform
from conform.mapping import Mapping, MappingError, load_mappings
from conform.validate import validate_bulk
from connectors.file_drop import FileDropConfig, FileDropConnector
from packs.charging.mockworld.spec import WorldSpec
from packs.charging.mockworld.world import generate
from quality.masking import failed_columns
from schemas.scope import UNSCOPED
from silobridge.ingest import IngestSummary, _process_chunk
from warehouse.db import session
from warehouse.landing import land
from warehouse.staging import StagedTable, Staging, ensure_staged
from warehouse.vault import Vault

SHANGHAI = ZoneInfo("Asia/Shanghai")
SOURCE = "loads"


class LoadPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=0)
    transformer_id: str = Field(min_length=1)
    at: AwareDatetime
    load_kw: float = Field(ge=0)


class TransformerDay(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    transformer_id: str = Field(min_length=1)
    transformer_name: str | None = None
    rated_kva: int | None = None
    day: AwareDatetime
    points: tuple[LoadPoint, ...] = ()


CONTRACT = Contract(root=TransformerDay, groups={"points": ChildGroup(LoadPoint)},
                    header=("source",))

MAPPING = """
[mapping]
source = "loads"
applies_to = ["*.xlsx#*"]
description = "台区96点负荷日报: a row per transformer and day, P001…P096 in kW"

[fields]
transformer_id = "台区编号"
transformer_name = "台区名称"
rated_kva = "额定容量(kVA)"
day = { from = "日期", formats = ["%Y-%m-%d"] }

[points]
style = "columns"
columns = "P{:03d}"           # P001 … P096
numbers = [1, 96]
transformer_id = { field = "transformer_id" }
at = { field = "day", plus = { steps = "@number", every = "PT15M", start = 1 } }
load_kw = "@value"
"""

#: where the pipeline stages the contract's records (a pack's staging_of derives these)
STAGING = Staging(
    StagedTable("staging.transformer_days", {}, {
        "source": "VARCHAR", "transformer_id": "VARCHAR", "transformer_name": "VARCHAR",
        "rated_kva": "BIGINT", "day": "TIMESTAMPTZ"}),
    {"points": StagedTable("staging.points", {}, {
        "seq": "INTEGER NOT NULL", "transformer_id": "VARCHAR", "at": "TIMESTAMPTZ",
        "load_kw": "DOUBLE"}, "seq")})

HEADER = ["台区编号", "台区名称", "额定容量(kVA)", "日期"]


def _mapping(folder: Path, text: str = MAPPING) -> Mapping:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "loads.toml").write_text(text, encoding="utf-8")
    (m,) = load_mappings(folder, CONTRACT)
    return m


@dataclass
class Ingested:
    con: duckdb.DuckDBPyConnection
    summary: IngestSummary


def _ingest(drop: Path, db: Path, mapping: Mapping) -> Iterator[Ingested]:
    """Read the drop folder's workbooks with the real connector, land them, and run the
    ingest step's chunk (conform, validate, stage, quarantine, account) over them."""
    batches = list(FileDropConnector(FileDropConfig(path=drop, patterns=["*.xlsx"]),
                                     source=SOURCE).extract(None))
    with session(db) as con:
        ensure_staged(con, STAGING)
        ids = land(con, batches, "run-land")
        summary = _process_chunk(con, SOURCE, ids, "run-1", [mapping], None, UNSCOPED,
                                 Vault(bytes(32)), STAGING)
        yield Ingested(con, summary)


def _accounting(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int, int, int]]:
    """origin's file → (read, loaded, quarantined, duplicates), from ops.accounting."""
    rows = con.execute("""
        SELECT split_part(b.origin, '#', 1), a.read, a.loaded, a.quarantined, a.duplicates
        FROM ops.accounting a JOIN ops.batches b USING (batch_id)""").fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _problems(con: duckdb.DuckDBPyConnection
              ) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """(file, first column's value) of each quarantined record → its (field, reason,
    message)s."""
    rows = con.execute("""
        SELECT split_part(r.origin, '#', 1), r.record->>'台区编号', q.reasons
        FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)""").fetchall()
    out: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for file, key, reasons in rows:
        items = json.loads(reasons) if isinstance(reasons, str) else reasons
        out[file, key] = sorted((p["field"], p["reason"], p["message"]) for p in items)
    return out


# -- the mock world's export ------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wide") / "world"
    generate(folder, WorldSpec(seed=7, stations=30, days=1))
    return folder


@pytest.fixture(scope="module")
def from_world(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    home = tmp_path_factory.mktemp("wide-db")
    yield from _ingest(world / "grid", home / "wh.duckdb", _mapping(home / "mappings"))


def test_every_row_of_the_export_is_96_points_or_quarantined(world: Path,
                                                             from_world: Ingested) -> None:
    con = from_world.con
    (workbook,) = (world / "grid").glob("*.xlsx")
    sheet = openpyxl.load_workbook(workbook, read_only=True).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    with (world / "answer_key" / "defects.csv").open(encoding="utf-8") as f:
        defects = [r for r in csv.DictReader(f) if r["source"] == "grid"
                   and r["origin"].endswith(".xlsx")]
    broken = {r["record"].split("@")[0] for r in defects
              if r["kind"] in ("blank_point", "negative_load")}
    assert any(r["kind"] == "blank_point" for r in defects)
    # every raw record accounted for: loaded or quarantined, none lost
    assert _accounting(con) == {workbook.name: (len(rows), len(rows) - len(broken),
                                                len(broken), 0)}
    problems = _problems(con)
    assert set(problems) == {(workbook.name, series) for series in broken}
    for d in defects:
        if d["kind"] != "blank_point":
            continue
        series, point = d["record"].split("@")
        number = int(point.removeprefix("P"))
        assert (f"points[{number - 1}].load_kw", "missing_required",
                f"{point}: load_kw is required but empty or absent") \
            in problems[workbook.name, series]
    # the loaded rows: their points as the file holds them, a quarter-hour each
    staged = con.execute("""
        SELECT transformer_id, seq, "at", load_kw FROM staging.points
        ORDER BY transformer_id, seq""").fetchall()
    expected = [(row[0], k, datetime.fromisoformat(row[3]).replace(tzinfo=SHANGHAI)
                 + timedelta(minutes=15 * k), row[4 + k])
                for row in rows if row[0] not in broken for k in range(96)]
    assert [(t, s, a.astimezone(SHANGHAI), v) for t, s, a, v in staged] == sorted(expected)
    days = con.execute("SELECT count(*), count(DISTINCT transformer_id) FROM "
                       "staging.transformer_days").fetchone()
    assert days == (len(rows) - len(broken),) * 2


# -- hand-made exports: every edge ------------------------------------------------------
def _load(tr: int, k: int) -> float:
    """The hand-made files' load of transformer `tr` in quarter `k` (0-based)."""
    return round(100 * tr + k + 0.25, 2)


def _workbook(path: Path, day: str, numbers: list[int],
              rows: list[tuple[str, dict[int, Any]]]) -> None:
    """A workbook as the grid office exports it; `rows`: (id, number → cell) where a
    number missing from the dict is the plain load and None a blank cell."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("96点负荷")
    ws.write_row(0, 0, [*HEADER, *(f"P{n:03d}" for n in numbers)])
    for i, (ident, cells) in enumerate(rows, start=1):
        ws.write_row(i, 0, [ident, f"{ident}号配变", 630, day])
        for j, n in enumerate(numbers):
            value = cells.get(n, _load(int(ident[-1]), n - 1))
            if value is not None:
                ws.write(i, 4 + j, value)
    wb.close()


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    home = tmp_path_factory.mktemp("wide-hand")
    drop = home / "drop"
    drop.mkdir()
    every = list(range(1, 97))
    # a good day: one clean row, one with a blank point, one with a point that is text
    _workbook(drop / "a_20260901.xlsx", "2026-09-01",
              every, [("TQ1", {}), ("TQ2", {65: None}), ("TQ3", {10: "停电"})])
    # the same export delivered again under another name: duplicates
    (drop / "b_20260901_copy.xlsx").write_bytes((drop / "a_20260901.xlsx").read_bytes())
    # a file without the column P050 (drift), and a day with four columns fewer
    _workbook(drop / "c_20260902.xlsx", "2026-09-02",
              [n for n in every if n != 50], [("TQ1", {})])
    _workbook(drop / "d_20260903.xlsx", "2026-09-03", every[:92], [("TQ1", {}), ("TQ2", {})])
    # a day that does not exist: said once, not again by each of its 96 points
    _workbook(drop / "e_bad_day.xlsx", "2026-09-31", every, [("TQ1", {})])
    yield from _ingest(drop, home / "wh.duckdb", _mapping(home / "mappings"))


def test_a_clean_row_is_exactly_its_96_points(hand_made: Ingested) -> None:
    rows = hand_made.con.execute("""
        SELECT d.transformer_id, d.transformer_name, d.rated_kva, d.day, p.seq,
               p.transformer_id, p."at", p.load_kw
        FROM staging.transformer_days d JOIN staging.points p USING (batch_id, row_no)
        ORDER BY p.seq""").fetchall()
    midnight = datetime(2026, 9, 1, tzinfo=SHANGHAI)
    assert [(a, b, c, d.astimezone(SHANGHAI), s, t, at.astimezone(SHANGHAI), v)
            for a, b, c, d, s, t, at, v in rows] == [
        ("TQ1", "TQ1号配变", 630, midnight, k, "TQ1", midnight + timedelta(minutes=15 * k),
         _load(1, k)) for k in range(96)]
    # the ends, written out: P001 is 00:00–00:15, P096 23:45–24:00
    assert rows[0][4:] == (0, "TQ1", midnight, 100.25)
    assert (rows[-1][4], rows[-1][6].astimezone(SHANGHAI), rows[-1][7]) == (
        95, datetime(2026, 9, 1, 23, 45, tzinfo=SHANGHAI), 195.25)


def test_bad_points_are_named_and_every_record_is_accounted_for(hand_made: Ingested) -> None:
    con = hand_made.con
    assert _accounting(con) == {
        "a_20260901.xlsx": (3, 1, 2, 0),
        "b_20260901_copy.xlsx": (3, 0, 0, 3),
        "c_20260902.xlsx": (1, 0, 1, 0),
        "d_20260903.xlsx": (2, 0, 2, 0),
        "e_bad_day.xlsx": (1, 0, 1, 0),
    }
    problems = _problems(con)
    assert problems["a_20260901.xlsx", "TQ2"] == [
        ("points[64].load_kw", "missing_required",
         "P065: load_kw is required but empty or absent")]
    assert problems["a_20260901.xlsx", "TQ3"] == [
        ("points[9].load_kw", "bad_value", "P010: value '停电' is not a number")]
    # an absent column reads as empty: the record says which point, drift which column
    assert problems["c_20260902.xlsx", "TQ1"] == [
        ("points[49].load_kw", "missing_required",
         "P050: load_kw is required but empty or absent")]
    short = [(f"points[{n - 1}].load_kw", "missing_required",
              f"P{n:03d}: load_kw is required but empty or absent") for n in range(93, 97)]
    assert problems["d_20260903.xlsx", "TQ1"] == problems["d_20260903.xlsx", "TQ2"] == short
    assert problems["e_bad_day.xlsx", "TQ1"] == [
        ("day", "impossible_date", "日期 '2026-09-31' is not a date/time in the formats "
         "%Y-%m-%d")]
    drift = {(d["origin"].split("#")[0], d["kind"], d["column"])
             for d in hand_made.summary.drift}
    assert drift == {("c_20260902.xlsx", "missing", "P050"),
                     *(("d_20260903.xlsx", "missing", f"P{n:03d}") for n in range(93, 97))}


def test_a_quarantine_example_shows_the_failed_point(tmp_path: Path) -> None:
    """The quality report shows the raw columns behind a failed field: for a point, its
    own column of the series; for a field read from the record, that field's column."""
    mapping = _mapping(tmp_path)
    assert failed_columns(mapping, ["points[64].load_kw"]) == ["P065"]
    assert failed_columns(mapping, ["points[3].at"]) == ["日期", "P004"]  # day + number
    assert failed_columns(mapping, ["points[0].transformer_id", "day"]) == ["台区编号", "日期"]


# -- the same capability on any block, and the language's checks -------------------------
def test_a_json_block_reads_the_records_fields_too(tmp_path: Path) -> None:
    text = MAPPING.replace('applies_to = ["*.xlsx#*"]', 'applies_to = ["*"]').replace(
        '''style = "columns"
columns = "P{:03d}"           # P001 … P096
numbers = [1, 96]''', 'from = "hours"').replace('steps = "@number", every = "PT15M", '
                                                 'start = 1', 'steps = "h", every = "PT1H", '
                                                 'start = 0').replace('"@value"', '"kw"')
    mapping = _mapping(tmp_path, text)
    con = duckdb.connect()
    con.execute("CREATE TABLE rel (_rid BIGINT, origin VARCHAR, record JSON)")
    record = {"台区编号": "TQ9", "日期": "2026-09-01",
              "hours": json.dumps([{"h": "0", "kw": "5"}, {"h": "23", "kw": "6"}])}
    con.execute("INSERT INTO rel VALUES (1, 'x', ?)", [json.dumps(record, ensure_ascii=False)])
    conformed = conform(con, mapping, "rel")
    validated = validate_bulk(con, conformed, CONTRACT, None)
    assert validated.rejected == {}
    midnight = datetime(2026, 9, 1, tzinfo=SHANGHAI)
    assert [(p["transformer_id"], p["at"], p["load_kw"])
            for p in validated.children["points"].to_pylist()] == [
        ("TQ9", midnight, 5.0), ("TQ9", midnight + timedelta(hours=23), 6.0)]


#: (text of the mapping → its replacement, the key the error names, what it says)
BROKEN = [
    (('columns = "P{:03d}"', 'columns = "P"'), "points.columns", "exactly one number field"),
    (('columns = "P{:03d}"', 'columns = "P{name}"'), "points.columns",
     "exactly one number field"),
    (('numbers = [1, 96]', 'numbers = [96, 1]'), "points.numbers", "must run upwards"),
    (('numbers = [1, 96]\n', ''), "points", "needs `columns` and `numbers`"),
    (('style = "columns"', 'style = "columns"\nfrom = "x"'), "points", "no other of"),
    (('every = "PT15M"', 'every = "15 minutes"'), "points.at.plus.every", "timedelta"),
    (('every = "PT15M"', 'every = "PT0S"'), "points.at.plus", "positive duration"),
    ((', start = 1 }', ' }'), "points.at.plus.start", "Field required"),
    (('load_kw = "@value"', 'load_kw = { from = "@value", plus = { steps = "@number", '
      'every = "PT15M", start = 1 } }'), "points.load_kw.plus", "moves a date/time"),
    (('rated_kva = "额定容量(kVA)"', 'rated_kva = "@number"'), "fields.rated_kva.from",
     "only for a block with style = \"columns\""),
    (('transformer_id = { field = "transformer_id" }', 'transformer_id = { field = "x" }'),
     "points.transformer_id.field", "no field 'x'"),
    (('steps = "@number"', 'steps = { from = "@number", formats = ["%H"] }'),
     "points.at.plus.steps", "this field is int"),
]


@pytest.mark.parametrize(("change", "key", "match"), BROKEN)
def test_a_broken_series_names_its_file_and_key(tmp_path: Path, change: tuple[str, str],
                                                key: str, match: str) -> None:
    assert change[0] in MAPPING
    with pytest.raises(MappingError) as e:
        _mapping(tmp_path, MAPPING.replace(*change))
    assert (e.value.file.endswith("loads.toml"), e.value.key, match in e.value.problem) == (
        True, key, True), e.value
