"""The answer key agrees with the files: every listing exists, every defect can be found
in its origin and looks like its kind."""

from __future__ import annotations

import csv
import itertools
import json
import sqlite3
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq

from packs.charging.mockworld.ids import vin_check_digit
from packs.charging.mockworld.operator_store import UNKNOWN_STATUS


def _slot(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return (int(h) * 60 + int(m)) // 5


def test_every_listing_is_in_its_source(small_world: Path, read_truth: Any) -> None:
    by_source = defaultdict(set)
    for r in read_truth("listings.csv"):
        by_source[r["source"]].add(r["listing_id"])
    con = sqlite3.connect(small_world / "register/register.sqlite")
    assert by_source.pop("register") == {r[0] for r in con.execute(
        "SELECT reg_no FROM t_station_register")}
    for op, ids in by_source.items():
        stations = json.loads((small_world / f"operators/{op}/stations.json").read_text("utf-8"))
        assert ids == {s["StationID"] for s in stations}
    co_operated = defaultdict(set)
    for r in read_truth("listings.csv"):
        if r["source"] != "register":
            co_operated[r["station_key"]].add(r["source"])
    assert any(len(v) == 2 for v in co_operated.values())


def test_every_defect_kind_is_present_and_findable(small_world: Path, read_truth: Any) -> None:
    defects = read_truth("defects.csv")
    kinds = {d["kind"] for d in defects}
    assert kinds >= {"swapped_coordinates", "unknown_status", "stale_status",
                     "energy_over_rated", "end_before_start", "bad_vin_check_digit",
                     "details_sum_mismatch", "unknown_connector", "missing_coordinates",
                     "detector_fault", "gap", "counter_reset", "frozen_feed", "free_over_total",
                     "blank_point", "negative_load", "load_spike", "unknown_transformer"}, kinds
    rated = {r["connector_id"]: float(r["rated_kw"]) for r in read_truth("connectors.csv")}
    for d in defects:
        assert _found(small_world, d, rated), d


def _found(world: Path, d: dict[str, str], rated: dict[str, float]) -> bool:
    path, rec, kind = world / d["origin"], d["record"], d["kind"]
    if path.suffix == ".parquet" and "status" in d["origin"]:
        cid, when = rec.split("@")
        t = pq.read_table(path, filters=[("ConnectorID", "=", cid)]).to_pydict()
        by_slot = dict(zip(t["Slot"], t["Status"], strict=True))
        if kind == "unknown_status":
            return by_slot[_slot(when)] == UNKNOWN_STATUS
        a, b = when.split("-")
        seen = {by_slot[s] for s in range(_slot(a), _slot(b) + 1)} - {UNKNOWN_STATUS}
        return len(seen) <= 1
    if path.suffix == ".parquet":
        o = next(r for r in pq.read_table(path).to_pylist() if r["StartChargeSeq"] == rec)
        details = json.loads(o["ChargeDetails"])
        hours = (_t(o["EndTime"]) - _t(o["StartTime"])) / 3600
        checks = {
            "energy_over_rated": lambda: o["TotalPower"] > rated[o["ConnectorID"]] * hours,
            "end_before_start": lambda: hours < 0,
            "bad_vin_check_digit": lambda: o["CarVin"][8] != vin_check_digit(o["CarVin"]),
            "details_sum_mismatch": lambda: abs(sum(x["DetailPower"] for x in details)
                                                - o["TotalPower"]) > 1,
            "unknown_connector": lambda: o["ConnectorID"] not in rated,
        }
        return checks[kind]()
    if path.name == "stations.json":
        s = next(s for s in json.loads(path.read_text("utf-8")) if s["StationID"] == rec)
        return s["StationLng"] < 90 < s["StationLat"]
    if path.suffix == ".sqlite":
        row = sqlite3.connect(path).execute(
            "SELECT lng, station_name FROM t_station_register WHERE reg_no = ?", (rec,)).fetchone()
        if kind == "missing_coordinates":
            return row[0] is None
        return sqlite3.connect(path).execute(
            "SELECT count(*) FROM t_station_register WHERE station_name = ?",
            (row[1],)).fetchone()[0] == 2
    if path.suffix == ".xlsx":
        tr, point = rec.split("@P")
        ws = openpyxl.load_workbook(path, read_only=True).active
        row = next(r for r in ws.iter_rows(values_only=True) if r[0] == tr)
        values, i = row[4:], int(point) - 1
        v = values[i]
        near = [abs(values[j]) for j in (i - 1, i + 1)
                if 0 <= j < len(values) and values[j] is not None]
        return {"blank_point": v is None, "negative_load": v is not None and v < 0,
                "load_spike": v is not None and v > 5 * max(near, default=0)}[kind]
    if path.name == "station_transformer.csv":
        lines = path.read_text("utf-8-sig").splitlines()
        return "TQ310114O" in lines[int(rec) - 1]
    if path.suffix == ".jsonl":
        park, when = rec.split("@")
        rows = [json.loads(x) for x in path.read_text("utf-8").splitlines()]
        rows = [r for r in rows if r["parkCode"] == park]
        if kind == "free_over_total":
            return any(r["freeBerth"] > r["totalBerth"] and r["collectTime"][11:16] == when
                       for r in rows)
        a, b = when.split("-")
        stretch = [r for r in rows if a <= r["collectTime"][11:16] <= b or (
            b == "00:00" and r["collectTime"][11:16] >= a)]
        return len({r["updateTime"] for r in stretch}) == 1
    # traffic (GBK CSV)
    seg, when = rec.split("@")
    with path.open(encoding="gbk") as f:
        rows = [r for r in csv.reader(f) if r[0] == seg]
    times = [r[1][11:] for r in rows]
    if kind == "counter_reset":
        counts = [int(r[4]) for r in rows]
        return any(b < a for a, b in itertools.pairwise(counts))
    a, b = when.split("-")
    inside = [r for r, t in zip(rows, times, strict=True) if a <= t <= b]
    if kind == "gap":
        return inside == []
    return inside != [] and all(r[2] == "0" for r in inside)


def _t(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").timestamp()
