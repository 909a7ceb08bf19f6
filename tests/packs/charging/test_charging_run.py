"""The charging pack's departments' series through the whole engine with `silobridge run
--domain charging`, over three cycles on the shared charging world: the first day's
traffic and parking files; the second day's, with the transport department restating a
count of the first; then nothing new. Checked against the world's answer key."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest

from bench.differential.checksums import VARYING, checksums

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
DAYS = ("20260901", "20260902")
GRID_EXPORT = "嘉定供电台区负荷_{day}.xlsx"


def _run(home: Path, operators: dict[str, str], *, as_json: bool = True) -> Any:
    env = os.environ | operators | {"SILOBRIDGE_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run([SILOBRIDGE, "run", "--domain", "charging",
                           *(["--json"] if as_json else [])],
                          env=env, capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout) if as_json else proc.stdout


def _rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _deliver(world: Path, home: Path, day: str) -> None:
    """The day's files as each department drops them in the home's world."""
    target = home / "world" / "charging"
    for folder, name in (("traffic", f"{day}.csv"), ("parking", f"{day}.jsonl"),
                         ("grid", GRID_EXPORT.format(day=day))):
        (target / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(world / folder / name, target / folder / name)


def _restate_transformer_day(home: Path) -> tuple[str, float]:
    """The grid office re-exports the first day with one transformer's 10th point
    corrected (openpyxl writes the file anew, as the office's tool would)."""
    path = home / "world" / "charging" / "grid" / GRID_EXPORT.format(day=DAYS[0])
    book = openpyxl.load_workbook(path)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    row = sheet[2]
    cell = row[header.index("P010")]
    cell.value = round(float(cell.value) + 11.5, 2)
    book.save(path)
    return str(row[0].value), cell.value


def _restate_first_count(home: Path) -> tuple[str, str, int]:
    """The transport department corrects one count of the first day's file (GBK, as sent)."""
    path = home / "world" / "charging" / "traffic" / f"{DAYS[0]}.csv"
    lines = path.read_bytes().decode("gbk").split("\r\n")
    segment, at, vehicles, *rest = lines[1].split(",")
    corrected = int(vehicles) + 7
    lines[1] = ",".join([segment, at, str(corrected), *rest])
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    return segment, at, corrected


def _defects(world: Path, source: str, kind: str) -> set[str]:
    with (world / "answer_key" / "defects.csv").open(encoding="utf-8") as f:
        return {r["record"] for r in csv.DictReader(f)
                if r["source"] == source and r["kind"] == kind}


@pytest.fixture(scope="module")
def cycles(charging_world: Path, operator_env: dict[str, str],
           deliver_lists: Callable[[Path], None],
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("charging-run") / "home"
    # the stations' sources read their lists too (test_charging_stations checks them)
    deliver_lists(home)
    _deliver(charging_world, home, DAYS[0])
    state: dict[str, Any] = {"home": home, "first": _run(home, operator_env)}
    _deliver(charging_world, home, DAYS[1])
    state["restated"] = _restate_first_count(home)
    state["restated_load"] = _restate_transformer_day(home)
    state["second"] = _run(home, operator_env)
    state["after_second"] = checksums(home / "warehouse.duckdb", ("core", "marts"),
                                      ignore=VARYING)
    state["third"] = _run(home, operator_env, as_json=False)
    state["after_third"] = checksums(home / "warehouse.duckdb", ("core", "marts"),
                                     ignore=VARYING)
    return state


def test_every_row_is_loaded_quarantined_or_a_counted_duplicate(cycles: dict) -> None:
    rows = _rows(cycles["home"], """
        SELECT a.batch_id, a."read", a.loaded, a.quarantined, a.duplicates,
               (SELECT count(*) FROM raw.records r WHERE r.batch_id = a.batch_id)
        FROM ops.accounting a JOIN ops.batches b USING (batch_id)
        WHERE a.kind = 'ingest' AND b.source IN ('traffic', 'parking', 'grid_loads')""")
    assert len(rows) == 8  # two days of three sources, the restated count and load files
    for _batch, read, loaded, quarantined, duplicates, raw in rows:
        assert read == raw == loaded + quarantined + duplicates


def test_impossible_occupancy_is_quarantined_exactly(cycles: dict,
                                                     charging_world: Path) -> None:
    """Every snapshot with more free berths than berths is quarantined with its reason,
    and no other parking record is: recall 1.0, no clean row lost."""
    got = _rows(cycles["home"], """
        SELECT r.record->>'parkCode' || '@' || substr(r.record->>'collectTime', 12, 5),
               list_sort(list_transform(q.reasons, lambda x: x.field || ':' || x.reason))
        FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
        WHERE q.source = 'parking'""")
    assert {key for key, _ in got} == _defects(charging_world, "parking", "free_over_total")
    assert {tuple(reasons) for _, reasons in got} == {("free_berths:out_of_range",)}


def test_series_merge_as_facts_and_a_restated_count_replaces_the_old(cycles: dict) -> None:
    home = cycles["home"]
    segment, at, corrected = cycles["restated"]
    assert _rows(home, f"""
        SELECT vehicles FROM core.segment_flows
        WHERE segment_id = '{segment}'
          AND starts_at = TIMESTAMPTZ '{at}:00+08:00'""") == [(corrected,)]
    merged = cycles["second"]["facts"]["charging"]["tables"]["segment_flows"]
    assert merged["replaced"] == 1
    # the rest of the restated file repeats rows already read: counted duplicates, so the
    # second run loads the new day and the one corrected count
    traffic = cycles["second"]["sources"]["traffic"]
    assert traffic["duplicates"] == cycles["first"]["sources"]["traffic"]["loaded"] - 1
    assert merged["inserted"] + merged["replaced"] == traffic["loaded"]
    # one row per segment and 5 minutes, one per car park and 15 minutes
    assert _rows(home, """SELECT count(*) = count(DISTINCT (segment_id, starts_at))
                          FROM core.segment_flows""") == [(True,)]
    assert _rows(home, """SELECT count(*) = count(DISTINCT (car_park_id, reported_at))
                          FROM core.car_park_occupancy""") == [(True,)]


def test_a_restated_transformer_day_replaces_the_old_values(cycles: dict,
                                                           charging_world: Path) -> None:
    home = cycles["home"]
    transformer, corrected = cycles["restated_load"]
    assert _rows(home, f"""
        SELECT load_kw FROM core.transformer_loads
        WHERE transformer_id = '{transformer}'
          AND starts_at = TIMESTAMPTZ '2026-09-01 02:15:00+08:00'""") == [(corrected,)]
    merged = cycles["second"]["facts"]["charging"]["tables"]["transformer_loads"]
    assert merged["replaced"] == 1
    # the rest of the day, sent again, is unchanged (its bad points refused again)
    (kept,) = _rows(home, f"""
        SELECT count(*) FROM core.transformer_loads WHERE transformer_id = '{transformer}'
        AND starts_at < TIMESTAMPTZ '2026-09-02 00:00:00+08:00'""")[0]
    assert merged["unchanged"] == kept - 1
    assert merged["read"] == merged["inserted"] + merged["replaced"] + merged["unchanged"] \
        + sum(merged["rejected"].values())
    # one row per transformer and quarter hour
    assert _rows(home, """SELECT count(*) = count(DISTINCT (transformer_id, starts_at))
                          FROM core.transformer_loads""") == [(True,)]


def test_bad_load_points_are_refused_alone_and_the_rest_of_the_day_merges(
        cycles: dict, charging_world: Path) -> None:
    """Each blank, negative or mis-scaled point the world injected is refused by itself,
    with the pack's reason (quarantine.transformer_loads); every other point of every
    transformer-day is in core: nothing clean is lost."""
    home = cycles["home"]
    refused = {(f"{t}@P{n:03d}", reason) for t, n, reason in _rows(home, """
        SELECT transformer_id,
               1 + (epoch(starts_at) - epoch(time_bucket(INTERVAL 1 DAY, starts_at,
                                                         'Asia/Shanghai')))::BIGINT // 900,
               reason
        FROM quarantine.transformer_loads""")}
    truth = {(p, reason) for kind, reason in (("blank_point", "blank_point"),
                                              ("negative_load", "negative_load"),
                                              ("load_spike", "spike"))
             for p in _defects(charging_world, "grid", kind)}
    assert refused == truth  # every bad point, and no clean one
    # every point of every transformer-day is in core or refused
    assert _rows(home, """
        SELECT (SELECT count(*) FROM core.transformer_loads)
             + (SELECT count(DISTINCT (transformer_id, starts_at))
                FROM quarantine.transformer_loads)""")[0][0] % 96 == 0


def test_the_marts_add_up_the_core_series(cycles: dict) -> None:
    home = cycles["home"]
    assert _rows(home, "SELECT sum(vehicles) FROM marts.segment_hours") == \
        _rows(home, "SELECT sum(vehicles) FROM core.segment_flows")
    assert _rows(home, "SELECT sum(reports) FROM marts.car_park_hours") == \
        _rows(home, "SELECT count(*) FROM core.car_park_occupancy")
    assert _rows(home, """SELECT count(*) FROM marts.car_park_hours
                          WHERE occupancy NOT BETWEEN 0 AND 1""") == [(0,)]


def test_the_audits_find_the_frozen_feed_and_the_counter_resets(cycles: dict,
                                                                charging_world: Path) -> None:
    """The world froze one car park's feed for a stretch and reset some detectors'
    counters; the pack's audits report them, as warnings (the data is kept)."""
    failed = {f["check"]: f for f in cycles["second"]["quality"]["failed"]}
    resets = _defects(charging_world, "traffic", "counter_reset")
    assert resets, "the shared world resets some counters"
    found = _rows(cycles["home"], """
        SELECT segment_id || '@' || strftime(timezone('Asia/Shanghai', starts_at), '%H:%M')
        FROM (SELECT segment_id, starts_at, running_total,
                     lag(running_total) OVER (PARTITION BY segment_id ORDER BY starts_at) AS before
              FROM core.segment_flows) WHERE running_total < before""")
    assert {f for (f,) in found} == resets
    assert failed["counter_resets"]["severity"] == "warning"
    assert failed["frozen_car_park_feeds"]["severity"] == "warning"


def test_the_snapshot_publishes_the_pack(cycles: dict) -> None:
    tables = cycles["second"]["snapshot"]["tables"]
    assert set(tables) >= {"core.segment_flows", "core.car_park_occupancy",
                           "marts.segment_hours", "marts.car_park_hours"}
    assert tables["core.segment_flows"] == _rows(
        cycles["home"], "SELECT count(*) FROM core.segment_flows")[0][0]


def test_a_run_with_nothing_new_changes_nothing(cycles: dict) -> None:
    assert cycles["after_third"] == cycles["after_second"]
    assert "facts charging.segment_flows: 0 staged rows read" in cycles["third"]
