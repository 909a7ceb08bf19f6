"""The proof that a pack is enough: a tiny pack defined only in tests/packs/tiny (water
meters: a CSV drop and a JSON Lines drop, one model, facts, one mart) runs end to end
through the engine — extract, conform, quarantine, gate, facts merge, mart, snapshot —
with `silobridge run --domain meters`, over three cycles: a first day, a day that
restates an hour and brings a bad file, and a run with nothing new."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bench.differential.checksums import VARYING, checksums

TINY = Path(__file__).parent / "tiny"
SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
DAY = datetime(2026, 11, 30, tzinfo=UTC) - timedelta(hours=8)  # 00:00 Beijing time
UTILITY_METERS = ("M000001", "M000002", "M000003")
SMART_METERS = ("M100001", "M100002")


def _volume(meter: str, hour: int) -> float:
    """A meter's use in an hour: small, varied, exact in three decimals."""
    return round((int(meter[1:]) % 7 + 1) * 0.013 + hour * 0.002, 3)


def _utility_csv(folder: Path, day: datetime, extra: list[str]) -> Path:
    rows = ["表号,抄表时段,用水量"]
    for meter in UTILITY_METERS:
        for hour in range(24):
            local = day + timedelta(hours=8 + hour)
            rows.append(f"{meter},{local:%Y/%m/%d %H:%M},{_volume(meter, hour)}")
    path = folder / f"{(day + timedelta(hours=8)):%Y-%m-%d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*rows, *extra]) + "\n", encoding="utf-8")
    return path


def _smart_jsonl(folder: Path, name: str, hours: range, day: datetime,
                 extra: list[str], scale: float = 1.0) -> Path:
    lines = [json.dumps({"meterNo": m, "hourStart": int((day + timedelta(hours=h)).timestamp()),
                         "m3": round(_volume(m, h) * scale, 3)})
             for m in SMART_METERS for h in hours]
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return path


def _run(home: Path, *, as_json: bool = True) -> Any:
    """`silobridge run --domain meters`: its JSON summary, or (as_json False) what it
    prints for people."""
    env = os.environ | {"SILOBRIDGE_HOME": str(home), "SILOBRIDGE_PACK_PATH": str(TINY),
                        "COLUMNS": "200"}
    proc = subprocess.run([SILOBRIDGE, "run", "--domain", "meters",
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


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("tiny") / "home"
    world = home / "world"
    # day 1: the company's CSV with one bad meter id, a negative volume and an impossible
    # time; the platform's first hours, one line broken and one sent twice
    _utility_csv(world / "utility", DAY, ["X12,2026/11/30 05:00,0.1",
                                          "M000009,2026/11/30 06:00,-2",
                                          "M000009,2026/11/31 07:00,0.2"])
    twice = json.dumps({"meterNo": "M100001", "hourStart": int(DAY.timestamp()), "m3": 0.5})
    _smart_jsonl(world / "smart", "2026-11-30T00.jsonl", range(12), DAY,
                 ["{not json", twice, twice])
    first = _run(home)
    state = {"first": first, "home": home,
             "after_first": _rows(home, "SELECT count(*) FROM core.meter_readings")[0][0]}
    # day 2: the platform restates hours 0-5 (doubled) and adds hours 12-23
    _smart_jsonl(world / "smart", "2026-11-30T12.jsonl", range(12, 24), DAY, [])
    _smart_jsonl(world / "smart", "2026-11-30T00-restated.jsonl", range(6), DAY, [], 2.0)
    state["second"] = _run(home)
    state["after_second"] = checksums(home / "warehouse.duckdb", ("core", "marts"),
                                      ignore=VARYING)
    state["third"] = _run(home, as_json=False)  # nothing new, as people see it
    state["after_third"] = checksums(home / "warehouse.duckdb", ("core", "marts"),
                                     ignore=VARYING)
    return state


def test_every_row_is_loaded_quarantined_or_a_counted_duplicate(cycles: dict) -> None:
    home = cycles["home"]
    for read, loaded, quarantined, duplicates in _rows(
            home, "SELECT \"read\", loaded, quarantined, duplicates FROM ops.accounting"):
        assert read == loaded + quarantined + duplicates
    sources = cycles["first"]["sources"]
    assert sources["utility"]["read"] == 3 * 24 + 3
    assert sources["utility"]["loaded"] == 3 * 24
    assert sources["utility"]["quarantined"] == 3
    # 24 readings, a broken line, and the same line twice: its first copy is loaded
    assert sources["smart"]["read"] == 2 * 12 + 3
    assert sources["smart"]["quarantined"] == 1
    assert sources["smart"]["duplicates"] == 1


def test_bad_rows_are_quarantined_with_their_reasons(cycles: dict) -> None:
    rows = _rows(cycles["home"], """
        SELECT q.source, q.row_no, u.field, u.reason
        FROM quarantine.records q, unnest(q.reasons) AS t(u) ORDER BY ALL""")
    assert rows == [
        ("smart", 25, "*", "unparseable"),  # the broken line, after 24 readings
        ("utility", 74, "meter_id", "bad_identifier"),  # X12: no meter id
        ("utility", 75, "volume_m3", "out_of_range"),  # a negative volume
        ("utility", 76, "read_at", "impossible_date"),  # 31 November
    ]


def test_readings_merge_as_facts_and_a_restated_hour_replaces_the_old(cycles: dict) -> None:
    home = cycles["home"]
    got = dict(((m, t), v) for m, t, v in _rows(home, """
        SELECT meter_id, read_at, volume_m3 FROM core.meter_readings"""))
    # the smart platform's first file sent M100001's hour 0 as 0.5, then the restatement
    # doubled it; the company's hours are as sent
    assert len(got) == (len(UTILITY_METERS) + len(SMART_METERS)) * 24
    for meter in UTILITY_METERS:
        assert got[(meter, DAY + timedelta(hours=3))] == pytest.approx(_volume(meter, 3))
    for meter in SMART_METERS:
        assert got[(meter, DAY + timedelta(hours=2))] == pytest.approx(2 * _volume(meter, 2))
        assert got[(meter, DAY + timedelta(hours=20))] == pytest.approx(_volume(meter, 20))
    facts = cycles["second"]["facts"]["meters"]["tables"]["meter_readings"]
    assert facts["replaced"] == len(SMART_METERS) * 6


def test_the_mart_adds_up_each_meters_day(cycles: dict) -> None:
    rows = {m: (v, h) for m, v, h in _rows(cycles["home"], """
        SELECT meter_id, volume_m3, hours FROM marts.daily_use""")}
    for meter in UTILITY_METERS:
        assert rows[meter] == (pytest.approx(sum(_volume(meter, h) for h in range(24))), 24)
    for meter in SMART_METERS:
        want = sum(_volume(meter, h) * (2 if h < 6 else 1) for h in range(24))
        assert rows[meter] == (pytest.approx(want), 24)


def test_the_snapshot_publishes_the_pack(cycles: dict) -> None:
    tables = cycles["second"]["snapshot"]["tables"]
    assert tables["core.meter_readings"] == (len(UTILITY_METERS) + len(SMART_METERS)) * 24
    assert tables["marts.daily_use"] == len(UTILITY_METERS) + len(SMART_METERS)


def test_a_run_with_nothing_new_changes_nothing(cycles: dict) -> None:
    assert cycles["after_third"] == cycles["after_second"]
    assert "facts meters.meter_readings: 0 staged rows read" in cycles["third"]



def test_quality_checks_the_packs_own_sources_by_its_data_clock(cycles: dict) -> None:
    """Freshness and volume of the meters' two sources only, and the meters' audit (no
    day with more than 24 hourly readings, which passes); the first day the platform
    had sent half a day (hours 0-11) while the company's export covered all of it: the
    platform's data is 12 h behind, a warning; the next day caught it up."""
    first, second = cycles["first"]["quality"], cycles["second"]["quality"]
    # pipeline and data freshness and volume of each source, and the pack's one audit
    assert first["checks"] == second["checks"] == 2 * 3 + 1
    assert [(f["source"], f["check"], f["severity"]) for f in first["failed"]] == [
        ("smart", "data_fresh", "warning")]
    assert "12.0 h behind" in first["failed"][0]["detail"]
    assert second["failed"] == []
    assert set(cycles["first"]["gates"]) == {"utility", "smart"}
    assert all(g["status"] == "passed" for g in cycles["first"]["gates"].values())


def test_every_installed_pack_runs_by_default(tiny_world: Path, tmp_path: Path) -> None:
    """`silobridge run` without --domain runs both installed packs, the dispute pack on
    its mock world and the meters beside it, into one warehouse and one snapshot."""
    from packs.disputes.mockworld.gateway import ProvinceGateway

    home = tmp_path / "home"
    shutil.copytree(tiny_world, home / "world")
    _utility_csv(home / "world" / "utility", DAY, [])
    _smart_jsonl(home / "world" / "smart", "2026-11-30T00.jsonl", range(24), DAY, [])
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        env = os.environ | {"SILOBRIDGE_HOME": str(home), "SILOBRIDGE_PACK_PATH": str(TINY),
                            "SILOBRIDGE_PROVINCE__BASE_URL": gateway.url}
        proc = subprocess.run([SILOBRIDGE, "run", "--json"], env=env, capture_output=True,
                              text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    assert set(summary["sources"]) == {"province", "county", "township", "grid", "utility",
                                       "smart"}
    assert summary["merge"]["cases_new"] > 0
    assert summary["facts"]["meters"]["tables"]["meter_readings"]["inserted"] == \
        (len(UTILITY_METERS) + len(SMART_METERS)) * 24
    tables = summary["snapshot"]["tables"]
    assert tables["core.cases"] > 0 and tables["marts.daily_use"] == 5
    assert summary["quality"]["failed_critical"] == 0

