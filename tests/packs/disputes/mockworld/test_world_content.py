"""The world is what it claims: real codes, real formats, and an answer key that agrees
with every file, row and database record."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import openpyxl
import pytest
from stdnum.cn import uscc

from packs.disputes.mockworld.defects import QUARANTINE_DEFECTS, Defect
from packs.disputes.mockworld.disputes import COUNTY_PATHS
from packs.disputes.mockworld.render_township import FEEDS
from schemas import divisions
from schemas.divisions import JIASHAN
from schemas.geo import gcj02_to_wgs84
from schemas.identifiers import resident_id_ok


def _key(world: Path) -> list[dict[str, str]]:
    with (world / "answer_key/records.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _by_origin(world: Path, source: str) -> dict[str, dict[int, dict[str, str]]]:
    out: dict[str, dict[int, dict[str, str]]] = defaultdict(dict)
    for row in _key(world):
        if row["source"] == source:
            out[row["origin"]][int(row["row"])] = row
    return out


def test_divisions_follow_the_code_rules(small_world: Path) -> None:
    towns = {t.code for t in divisions.load().townships_of(JIASHAN)}
    assert len(towns) == 9
    with (small_world / "reference/villages.csv").open(encoding="utf-8") as f:
        villages = list(csv.DictReader(f))
    assert {v["town_code"] for v in villages} == towns
    for v in villages:
        assert re.fullmatch(r"\d{12}", v["code"]) and v["code"][:9] == v["town_code"]
        community = int(v["code"][9:]) < 200
        assert v["kind"] == ("社区" if community else "村")
        assert v["name"].endswith(v["kind"])
    with (small_world / "reference/grids.csv").open(encoding="utf-8") as f:
        grids = list(csv.DictReader(f))
    codes = {v["code"] for v in villages}
    assert all(re.fullmatch(r"\d{15}", g["code"]) and g["village_code"] in codes
               and g["code"].startswith(g["village_code"]) for g in grids)


def test_grid_exports_match_the_answer_key(small_world: Path) -> None:
    key = _by_origin(small_world, "grid")
    files = sorted((small_world / "grid").glob("*.jsonl"))
    assert files and {f.name for f in files} >= set(key)
    for f in files:
        lines = f.read_text(encoding="utf-8").splitlines()
        assert sorted(key.get(f.name, {})) == list(range(1, len(lines) + 1))
        for n, line in enumerate(lines, start=1):
            rec = json.loads(line)
            assert rec["reportId"] == key[f.name][n]["record_key"]
            assert rec["coordSys"] == "GCJ02"


def test_township_csv_files_are_gbk_and_match_the_answer_key(small_world: Path) -> None:
    key = _by_origin(small_world, "township")
    csv_towns = [t for t, feed in FEEDS.items() if feed.fmt == "csv"]
    seen = 0
    for town in csv_towns:
        for f in sorted((small_world / "township" / town).glob("*.csv")):
            raw = f.read_bytes()
            text = raw.decode(FEEDS[town].encoding)
            rows = list(csv.reader(io.StringIO(text)))
            origin = f"{town}/{f.name}"
            assert sorted(key.get(origin, {})) == list(range(2, len(rows) + 1))
            assert rows[0][0] == "sjbh"
            if len(rows) > 1:
                with pytest.raises(UnicodeDecodeError):
                    raw.decode("utf-8")
                seen += 1
            for n, row in enumerate(rows[1:], start=2):
                if key[origin][n]["defect_field"] != "sjbh":
                    assert row[0] == key[origin][n]["record_key"]
    assert seen > 20


def test_xlsx_ledgers_open_with_a_real_reader(small_world: Path) -> None:
    key = _by_origin(small_world, "township")
    ledgers = sorted((small_world / "township").glob("*/*.xlsx"))
    assert ledgers
    for path in ledgers:
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            assert str(ws.cell(1, 1).value).startswith("嘉善县")
            merged = {str(r) for r in ws.merged_cells.ranges}
            assert "A1:L1" in merged and "F2:H2" in merged
            assert ws.cell(2, 6).value == "当事人" and ws.cell(3, 6).value == "姓名"
            last = ws.max_row
            assert ws.cell(last, 1).value == "合计"
            origin = f"{path.parent.name}/{path.name}#{ws.title}"
            assert sorted(key[origin]) == list(range(4, last))
            assert ws.cell(last, 2).value == f"共{last - 4}件"


def test_databases_match_the_answer_key(small_world: Path) -> None:
    key = _key(small_world)
    county = sqlite3.connect(small_world / "county/county.sqlite")
    ids = {r[0] for r in county.execute("SELECT id FROM t_dispute_case")}
    assert {int(r["row"]) for r in key if r["source"] == "county"} == ids
    province = sqlite3.connect(small_world / "province/platform.sqlite")
    pids = {r[0] for r in province.execute("SELECT id FROM mdjf_sj")}
    assert {r["record_key"] for r in key if r["source"] == "province"} == pids


def test_province_shows_id_numbers_masked(small_world: Path) -> None:
    con = sqlite3.connect(small_world / "province/platform.sqlite")
    for (dsr,) in con.execute("SELECT dsr FROM mdjf_sj"):
        for party in json.loads(dsr):
            if "sfzh" in party:
                assert re.fullmatch(r"\d{6}\*{8}[\dX]{4}", party["sfzh"])


def test_clean_ids_are_valid_and_bad_check_digits_are_not(small_world: Path) -> None:
    key = {r["row"]: r for r in _key(small_world) if r["source"] == "county"}
    con = sqlite3.connect(small_world / "county/county.sqlite")
    rows = con.execute("SELECT case_id, party_type, id_no, id FROM t_dispute_party "
                       "ORDER BY case_id, id").fetchall()
    first_of_case: dict[int, int] = {}
    for case_id, _, _, pid in rows:
        first_of_case.setdefault(case_id, pid)
    broken = 0
    for case_id, party_type, id_no, pid in rows:
        valid = resident_id_ok(id_no) if party_type == 1 else uscc.is_valid(id_no)
        bad = key[str(case_id)]["defect"] == "bad_check_digit" and first_of_case[case_id] == pid
        assert valid != bad, (case_id, pid)
        broken += bad
    assert broken >= 1


def test_life_cycles_are_in_order(small_world: Path) -> None:
    with (small_world / "answer_key/disputes.csv").open(encoding="utf-8") as f:
        disputes = list(csv.DictReader(f))
    assert len(disputes) == 900
    for d in disputes:
        times = [d["occurred_at"], d["reported_at"], d["resolved_at"], d["closed_at"]]
        present = [t for t in times if t]
        assert present == sorted(present), d["dispute_id"]
        if d["closed_at"]:
            assert d["status_now"] == "closed" and d["resolved_at"]
    paths = {d["dispute_id"]: d["path"] for d in disputes}
    county_disputes = {r["dispute_id"] for r in _key(small_world) if r["source"] == "county"}
    assert county_disputes and all(paths[d] in COUNTY_PATHS for d in county_disputes)
    share = Counter(d["county_code"] == JIASHAN for d in disputes)
    assert share[False] > 0.15 * len(disputes)  # the province holds other counties too


def test_every_defect_kind_is_injected_and_detectable(small_world: Path) -> None:
    key = _key(small_world)
    kinds = Counter(r["defect"] for r in key if r["defect"])
    assert set(kinds) == {k.value for k in Defect}
    assert set(Defect) > QUARANTINE_DEFECTS
    # mojibake in a GBK file is UTF-8 text decoded as GB18030: it decodes back
    rows = [r for r in key if r["source"] == "township" and r["defect"] == "mojibake"]
    for r in rows:
        town = r["origin"].split("/")[0]
        text = (small_world / "township" / r["origin"]).read_bytes().decode(FEEDS[town].encoding)
        record = list(csv.DictReader(io.StringIO(text)))[int(r["row"]) - 2]
        assert record["sqrxm"].encode("gb18030").decode("utf-8").strip()


def test_drift_is_recorded_for_the_files_that_drifted(small_world: Path) -> None:
    with (small_world / "answer_key/drift.csv").open(encoding="utf-8") as f:
        drift = list(csv.DictReader(f))
    assert {(d["source"], d["expected"], d["found"]) for d in drift} == {
        ("grid", "occurTime", "happenTime"), ("township", "fsrq", "fssj")}
    for d in drift:
        path = small_world / d["source"] / d["origin"]
        head = path.read_bytes()[:400].decode("gbk" if d["source"] == "township" else "utf-8",
                                               errors="ignore")
        if head:
            assert d["found"] in head and d["expected"] not in head


def test_grid_coordinates_are_gcj02_near_their_village(small_world: Path) -> None:
    with (small_world / "reference/villages.csv").open(encoding="utf-8") as f:
        centres = {v["code"]: (float(v["lon_wgs84"]), float(v["lat_wgs84"]))
                   for v in csv.DictReader(f)}
    for f in sorted((small_world / "grid").glob("*.jsonl"))[:3]:
        for line in f.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if not rec.get("gridCode") or rec["gridCode"][:12] not in centres:
                continue
            lon, lat = gcj02_to_wgs84(rec["lng"], rec["lat"])
            clon, clat = centres[rec["gridCode"][:12]]
            assert abs(lon - clon) < 0.006 and abs(lat - clat) < 0.006
            # GCJ-02 is offset from WGS84 by a few hundred metres here
            assert abs(rec["lng"] - lon) > 0.002
