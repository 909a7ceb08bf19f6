"""The conform engine on a real generated world, scored against its answer key, and on
small hand-made records for the rules the world exercises rarely or not at all."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pytest
from pydantic import ValidationError

from conform.engine import Conformed, ConformError, compile_sql, conform
from conform.mapping import Mapping, load_mappings, select_mapping
from conform.targets import shape_of
from packs.disputes.codes import CaseStatus
from packs.disputes.conforming import CONTRACT
from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import generate
from packs.disputes.models import DisputeCase
from packs.disputes.reference import DivisionRegistry, load_reference
from silobridge.extract import extract_source
from silobridge.packs import pack
from silobridge.settings import Settings

SPEC = WorldSpec(seed=7, cases=1500, days=20, defect_rate=0.05)
SOURCES = ("province", "county", "township", "grid")
REJECTABLE = ("impossible_date", "date_order", "unknown_code", "missing_required",
              "bad_check_digit", "mojibake")


# -- the world, landed raw and conformed ------------------------------------------------
@dataclass
class Record:
    mapping: str
    key: dict[str, str]     # answer_key/records.csv row
    truth: dict[str, str]   # answer_key/disputes.csv row
    raw: dict[str, Any]
    case: dict[str, Any]
    parties: list[dict[str, Any]]
    events: list[dict[str, Any]]
    errors: list[dict[str, Any]]

    def model_input(self) -> dict[str, Any]:
        data = {k: v for k, v in self.case.items() if v is not None and k != "_rid"}
        data["parties"] = [{k: v for k, v in p.items() if v is not None and k != "_rid"}
                           for p in self.parties]
        data["events"] = [{k: v for k, v in e.items() if v is not None and k != "_rid"}
                          for e in self.events]
        return data


@dataclass
class World:
    root: Path
    con: duckdb.DuckDBPyConnection
    registry: DivisionRegistry
    records: list[Record]
    results: dict[str, Conformed]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _conform_all(con: duckdb.DuckDBPyConnection, mappings: list[Mapping]) -> dict[str,
                                                                                  Conformed]:
    """Every parseable raw record, conformed with the mapping its origin selects."""
    con.execute("CREATE TEMP TABLE recs AS SELECT row_number() OVER (ORDER BY batch_id, "
                "row_no) AS _rid, source, origin, row_no, record FROM raw.records "
                "WHERE parse_error IS NULL")
    chosen = [(s, o, select_mapping(mappings, s, o).name) for s, o in
              con.execute("SELECT DISTINCT source, origin FROM recs").fetchall()]
    con.execute("CREATE TEMP TABLE chosen (source VARCHAR, origin VARCHAR, mapping VARCHAR)")
    con.executemany("INSERT INTO chosen VALUES (?, ?, ?)", chosen)
    results = {}
    for m in mappings:
        con.execute(f"CREATE OR REPLACE TEMP VIEW rel AS SELECT _rid, origin, record FROM "
                    f"recs JOIN chosen USING (source, origin) WHERE mapping = '{m.name}'")
        results[m.name] = conform(con, m, "rel")
    return results


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("conform-world")
    root = home / "world"
    generate(root, SPEC)
    with ProvinceGateway(root, port=0, fail_rate=0.0) as gateway:
        settings = Settings(home=home, province={"base_url": gateway.url})
        for source in SOURCES:
            extract_source(settings, source)
    con = duckdb.connect(str(settings.warehouse_path))
    load_reference(con, root / "reference")
    results = _conform_all(con, load_mappings(pack("disputes").path("mappings"), CONTRACT))
    keys = {}
    for r in _read_csv(root / "answer_key" / "records.csv"):
        k = (r["source"], r["record_key"]) if r["source"] == "province" else \
            (r["source"], r["origin"], r["row"])
        keys[k] = r
    truth = {r["dispute_id"]: r for r in _read_csv(root / "answer_key" / "disputes.csv")}
    raw = {rid: (s, o, str(n), json.loads(rec)) for rid, s, o, n, rec in con.execute(
        "SELECT _rid, source, origin, row_no, record FROM recs").fetchall()}
    records = []
    for name, c in results.items():
        by_rid: dict[str, dict[int, list]] = {"p": defaultdict(list), "e": defaultdict(list),
                                               "x": defaultdict(list)}
        for tag, table in (("p", c.children["parties"]), ("e", c.children["events"]),
                           ("x", c.errors)):
            for row in table.to_pylist():
                by_rid[tag][row["_rid"]].append(row)
        for case in c.root.to_pylist():
            source, origin, row_no, record = raw[case["_rid"]]
            k = (source, record["id"]) if source == "province" else (source, origin, row_no)
            key = keys[k]
            records.append(Record(name, key, truth[key["dispute_id"]], record, case,
                                  by_rid["p"][case["_rid"]], by_rid["e"][case["_rid"]],
                                  by_rid["x"][case["_rid"]]))
    yield World(root, con, DivisionRegistry.from_warehouse(con), records, results)
    con.close()


def _validate(w: World, r: Record) -> ValidationError | None:
    try:
        DisputeCase.model_validate(r.model_input(), context={"registry": w.registry})
    except ValidationError as e:
        return e
    return None


def _clean(w: World) -> list[Record]:
    return [r for r in w.records if not r.key["defect"]]


# -- the world against its answer key ---------------------------------------------------
def test_every_record_is_conformed_once_with_its_mapping(world: World) -> None:
    total = world.con.execute("SELECT count(*) FROM recs").fetchone()
    assert total == (len(world.records),)
    assert len({r.case["_rid"] for r in world.records}) == len(world.records)
    used = Counter(r.mapping for r in world.records)
    assert set(used) == {"province", "county", "township_csv", "township_csv_330421103",
                         "township_xlsx", "grid"}, used


def test_clean_records_conform_without_errors_and_match_the_truth(world: World) -> None:
    problems = []
    for r in _clean(world):
        c, t = r.case, r.truth
        where = f"{r.key['source']} {r.key['origin']}#{r.key['row']}"
        if r.errors:
            problems.append((where, "conform errors", r.errors))
        if c["category_code"] != t["category"]:
            problems.append((where, "category", c["category_code"], t["category"]))
        for f in ("county_code", "town_code", "village_code"):
            # the province gives a township code alone for some records
            if c[f] != t[f] and not (f == "village_code" and c[f] is None
                                     and r.mapping == "province"):
                problems.append((where, f, c[f], t[f]))
        if r.mapping == "grid" and c["grid_code"] != t["grid_code"]:
            problems.append((where, "grid_code", c["grid_code"], t["grid_code"]))
        local = c["occurred_at"].strftime("%Y-%m-%d %H:%M") if c["occurred_at"] else ""
        # day-only sources (compact township dates, ledgers) give midnight
        same = local[:10] == t["occurred_at"][:10] and (
            local.endswith("00:00") or local == t["occurred_at"][:16])
        if not same:
            problems.append((where, "occurred_at", local, t["occurred_at"]))
        if not r.parties or not all(p["name"] for p in r.parties):
            problems.append((where, "parties", r.parties))
        if c["status"] not in {s.value for s in CaseStatus}:
            problems.append((where, "status", c["status"]))
    for p in problems[:20]:
        print(*p)
    assert not problems, f"{len(problems)} clean records conformed wrongly"


def test_clean_records_pass_the_model(world: World) -> None:
    clean = _clean(world)
    failures = [(r, e) for r in clean if (e := _validate(world, r)) is not None]
    for r, e in failures[:20]:
        print(r.mapping, r.key["origin"], r.key["row"], [(x["loc"], x["type"], x["msg"])
                                                          for x in e.errors()])
    rate = len(failures) / len(clean)
    print(f"clean records rejected by DisputeCase: {len(failures)} / {len(clean)} "
          f"({rate:.2%})")
    assert rate <= 0.005


def _undetectable(r: Record) -> bool:
    """A broken "check character" on a 15-digit legacy ID: those IDs carry no check
    character (GB 11643-1989), so the mock world's mutation leaves a valid number."""
    if r.key["defect"] != "bad_check_digit":
        return False
    column = {"sqrsfzh": "sqrsfzh", "身份证号": "当事人/身份证号"}.get(r.key["defect_field"])
    first = (r.raw.get(column) or "").split("、")[0] if column else ""
    return len(first) == 15 and first.isdigit()


def test_defective_records_are_rejected(world: World) -> None:
    total, caught, skipped = Counter(), Counter(), Counter()
    for r in world.records:
        kind = r.key["defect"]
        if kind not in REJECTABLE:
            continue
        if _undetectable(r):
            skipped[kind] += 1
            continue
        total[kind] += 1
        if r.errors or _validate(world, r) is not None:
            caught[kind] += 1
        else:
            print("not rejected:", r.mapping, kind, r.key["defect_field"], r.key["origin"],
                  r.key["row"])
    for kind in REJECTABLE:
        print(f"{kind:18s} {caught[kind]:4d} / {total[kind]:4d}"
              + (f"  (+{skipped[kind]} undetectable)" if skipped[kind] else ""))
    assert set(total) == set(REJECTABLE)
    assert sum(caught.values()) / sum(total.values()) >= 0.99
    for kind in REJECTABLE:
        assert caught[kind] / total[kind] >= 0.99, kind


def test_errors_name_canonical_fields_and_known_reasons(world: World) -> None:
    from schemas.reasons import Reason

    reasons = {x.value for x in Reason}
    party = re.compile(r"^(parties|events)\[\d+\]\.\w+$")
    for c in world.results.values():
        for e in c.errors.to_pylist():
            assert e["reason"] in reasons
            assert e["field"] in shape_of(CONTRACT).root or party.match(e["field"]) \
                or e["field"] in ("parties", "events"), e["field"]
            assert e["message"]


def test_messages_never_show_ids_or_phones(world: World) -> None:
    secrets = set()
    for r in world.records:
        for p in r.parties:
            secrets.update(v for k in ("id_number", "credit_code", "phone")
                           if (v := p[k]) and len(v) >= 11)
    messages = [e["message"] for c in world.results.values() for e in c.errors.to_pylist()]
    assert messages
    assert not [m for m in messages if any(s in m for s in secrets)]


def test_gender_tables_follow_each_feed(world: World) -> None:
    """The 17th digit of a resident ID is odd for men: the gender codes must agree,
    including 西塘镇's own table (1 男, 0 女)."""
    checked = Counter()
    for r in _clean(world):
        for p in r.parties:
            number, gender = p["id_number"], p["gender"]
            if number and len(number) == 18 and gender is not None:
                assert gender == (1 if int(number[16]) % 2 else 2), (r.mapping, p)
                checked[r.mapping] += 1
    assert checked["township_csv_330421103"] > 20 and checked["township_csv"] > 100


def test_organisations_are_told_from_persons(world: World) -> None:
    kinds = Counter()
    for r in _clean(world):
        for p in r.parties:
            kinds[(r.mapping, p["kind"])] += 1
            if p["kind"] == "organisation":
                assert p["id_number"] is None and p["gender"] is None
                if r.mapping != "grid":  # the grid app keeps no credit codes
                    assert p["credit_code"] and not p["credit_code"][:17].isdigit()
    for m in ("county", "township_csv", "township_xlsx", "grid", "province"):
        assert kinds[(m, "organisation")] > 0 and kinds[(m, "person")] > 0, m


def test_county_flow_events_and_times(world: World) -> None:
    county = [r for r in _clean(world) if r.mapping == "county"]
    assert sum(len(r.events) for r in county) > len(county)
    for r in county:
        assert [e["seq"] for e in r.events] == list(range(len(r.events)))
        assert all(e["action"] and e["at"] for e in r.events)
    cases = world.results["county"].root
    assert cases.schema.field("occurred_at").type == pa.timestamp("us", tz="Asia/Shanghai")
    assert cases.schema.field("amount").type == pa.decimal128(14, 2)


def test_ledger_keys_are_stable_across_versions(world: World) -> None:
    """A ledger entry written again (new status, another date style) keeps its key."""
    ledger = [r for r in world.records if r.mapping == "township_xlsx"
              and not r.key["defect"]]
    by_dispute: dict[str, set[str]] = defaultdict(set)
    styles: dict[str, set[str]] = defaultdict(set)
    for r in ledger:
        by_dispute[r.key["dispute_id"]].add(r.case["source_record_id"])
        styles[r.key["dispute_id"]].add(re.sub(r"\d+", "9", r.raw["发生日期"]))
    assert all(k.startswith("ledger:") for keys in by_dispute.values() for k in keys)
    assert all(len(keys) == 1 for keys in by_dispute.values())
    assert any(len(s) > 1 for s in styles.values()), "no entry changed its date style"
    owners = defaultdict(set)
    for d, keys in by_dispute.items():
        owners[next(iter(keys))].add(d)
    assert all(len(d) == 1 for d in owners.values())


# -- hand-made records ------------------------------------------------------------------
@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "villages.csv").write_text(
        "code,name,town_code,town_name,county_code,kind,former_names,lon_wgs84,lat_wgs84\n"
        "330421103001,秀孙社区,330421103,西塘镇,330421,社区,,120.9,30.9\n"
        "330421103201,蒋群村,330421103,西塘镇,330421,村,港西村,120.9,30.9\n"
        "330421107201,北塘村,330421107,陶庄镇,330421,村,,120.9,30.9\n", encoding="utf-8")
    (registry / "grids.csv").write_text(
        "code,name,village_code\n330421103201001,蒋群村第1网格,330421103201\n",
        encoding="utf-8")
    c = duckdb.connect(str(tmp_path / "t.duckdb"))
    load_reference(c, registry)
    yield c
    c.close()


@pytest.fixture(scope="module")
def mappings() -> dict[str, Mapping]:
    return {m.name: m for m in load_mappings(pack("disputes").path("mappings"), CONTRACT)}


def _run(con: duckdb.DuckDBPyConnection, mapping: Mapping, origin: str,
         *records: dict[str, Any]) -> Conformed:
    con.execute("CREATE OR REPLACE TABLE rel (_rid BIGINT, origin VARCHAR, record JSON)")
    if records:
        con.executemany("INSERT INTO rel VALUES (?, ?, ?)",
                        [(i, origin, json.dumps(r, ensure_ascii=False))
                         for i, r in enumerate(records, start=1)])
    return conform(con, mapping, "rel")


def _errors(c: Conformed, rid: int = 1) -> list[tuple[str, str]]:
    return [(e["field"], e["reason"]) for e in c.errors.to_pylist() if e["_rid"] == rid]


TOWNSHIP_ROW = {
    "sjbh": "330421103-20260902084211-591", "wgsjbh": "", "sjmc": "甲与乙纠纷",
    "sjms": "…", "fsrq": "2026/09/01 20:11", "fsdd": "嘉善县西塘镇蒋群村12组", "cjmc": "蒋群村委会",
    "sjlb": "04", "sjgm": "个体", "sjrs": "3", "sjje": "", "sqrxm": "洪兰英、嘉善精芯五金有限公司",
    "sqrxb": "0、", "sqrsfzh": "330421195602092620、91330421314PXBCF5H",
    "sqrdh": "18800273112、", "bsqrxm": "白兰英", "bsqrxb": "0", "bsqrsfzh": "330421196003129369",
    "bsqrdh": "+86 13427161643", "slrq": "2026/09/02 08:42", "tjy": "蒋丽萍", "hjfs": "",
    "sfHjcg": "否", "hjrq": "", "clzt": "已受理", "gxsj": "2026-09-02 08:42:11",
}


def test_a_township_row_with_local_gender_codes_and_an_organisation(
        con: duckdb.DuckDBPyConnection, mappings: dict[str, Mapping]) -> None:
    c = _run(con, mappings["township_csv_330421103"], "330421103/20260902.csv", TOWNSHIP_ROW)
    assert _errors(c) == []
    case = c.root.to_pylist()[0]
    assert (case["town_code"], case["county_code"], case["village_code"]) == (
        "330421103", "330421", "330421103201")
    assert case["occurred_at"] == datetime.fromisoformat("2026-09-01T20:11:00+08:00")
    assert (case["status"], case["resolved"], case["source_level"]) == ("accepted", False, 20)
    parties = c.children["parties"].to_pylist()
    assert [(p["seq"], p["role"], p["kind"], p["gender"]) for p in parties] == [
        (0, "申请方", "person", 2), (1, "申请方", "organisation", None),
        (2, "被申请方", "person", 2)]
    assert parties[1]["credit_code"] == "91330421314PXBCF5H" and parties[1]["id_number"] is None
    assert parties[2]["phone"] == "+86 13427161643"  # normalising is the model's job
    # the shared township table reads 0 as "unknown", not as 女
    c = _run(con, mappings["township_csv"], "330421103/20260902.csv", TOWNSHIP_ROW)
    assert [p["gender"] for p in c.children["parties"].to_pylist()] == [0, None, 0]


def test_blank_values_are_null_and_bad_values_are_reported_once(
        con: duckdb.DuckDBPyConnection, mappings: dict[str, Mapping]) -> None:
    row = dict(TOWNSHIP_ROW, sjmc="\u3000 ", sjms=" 说明\t", sjlb="35", fsrq="20261520",
               sjrs="三", cjmc="不存在村", sqrxb="3、", clzt="办理中")
    c = _run(con, mappings["township_csv"], "330421103/20260902.csv", row)
    case = c.root.to_pylist()[0]
    assert case["title"] is None and case["summary"] == "说明"
    assert sorted(_errors(c)) == sorted([
        ("category_code", "unknown_code"), ("occurred_at", "impossible_date"),
        ("people_count", "bad_value"), ("village_code", "unknown_code"),
        ("status", "unknown_code"), ("parties[0].gender", "unknown_code")])
    messages = {e["field"]: e["message"] for e in c.errors.to_pylist()}
    assert "'35'" in messages["category_code"] and "'20261520'" in messages["occurred_at"]


def test_a_missing_column_is_missing_required(con: duckdb.DuckDBPyConnection,
                                              mappings: dict[str, Mapping]) -> None:
    row = {k: v for k, v in TOWNSHIP_ROW.items() if k not in ("fsrq", "sjbh")}
    c = _run(con, mappings["township_csv"], "330421103/20260902.csv", row,
             dict(TOWNSHIP_ROW, fssj=TOWNSHIP_ROW["fsrq"], fsrq=None))
    assert sorted(_errors(c)) == [("occurred_at", "missing_required"),
                                  ("source_record_id", "missing_required")]
    assert _errors(c, 2) == []  # the drifted name is a declared alias


GRID_ROW = {
    "reportId": "WG7871f44914af662d", "gridCode": "330421103201001", "gridName": "x",
    "reporter": "陈伟", "reporterPhone": "13639047375", "reportTime": "1788884301631",
    "happenTime": "1788843621000", "eventType": "邻居吵架", "eventDesc": "…", "address": "x",
    "lng": "120.985201", "lat": "30.975627", "coordSys": "GCJ02", "partyCount": "2",
    "parties": json.dumps([{"name": "汪晨", "phone": "14593055317", "role": "当事人"},
                           {"name": "嘉善佳禾食品有限公司", "phone": None, "role": "当事单位"}],
                          ensure_ascii=False),
    "status": "已上报", "handleResult": "", "relatedReportId": None, "appVersion": "3.3.0",
}


def test_a_grid_report(con: duckdb.DuckDBPyConnection, mappings: dict[str, Mapping]) -> None:
    c = _run(con, mappings["grid"], "20260909.jsonl", GRID_ROW,
             dict(GRID_ROW, eventType="其它情况"), dict(GRID_ROW, gridCode="330421103201901"),
             dict(GRID_ROW, reportTime="1788884301"), dict(GRID_ROW, parties="[{broken"))
    cases = {r["_rid"]: r for r in c.root.to_pylist()}
    one = cases[1]
    assert (one["grid_code"], one["village_code"], one["town_code"], one["county_code"]) == (
        "330421103201001", "330421103201", "330421103", "330421")
    # epoch milliseconds are instants
    assert one["occurred_at"] == datetime.fromtimestamp(1788843621, ZoneInfo("Asia/Shanghai"))
    assert one["occurred_at"].utcoffset() == timedelta(hours=8)
    assert (one["category_code"], one["status"], one["handling_level"], one["datum"]) == (
        "04", "escalated", 20, "GCJ02")
    assert _errors(c, 1) == []
    assert _errors(c, 2) == [("category_code", "unknown_code")]
    # an unknown grid is reported once; the codes made from it stay empty silently
    assert _errors(c, 3) == [("grid_code", "unknown_code")]
    assert cases[3]["town_code"] is None
    assert _errors(c, 4) == [("reported_at", "impossible_date")]
    assert _errors(c, 5) == [("parties", "bad_value")]
    kinds = [(p["_rid"], p["kind"]) for p in c.children["parties"].to_pylist() if p["_rid"] == 1]
    assert kinds == [(1, "person"), (1, "organisation")]


LEDGER_ROW = {
    "序号": "7", "发生日期": "2026.9.3", "村（社区）": "北塘村委会", "纠纷类型": "征地拆迁纠纷",
    "纠纷简要情况": "甲与乙", "当事人/姓名": "王丽丽、嘉善联软木业有限公司、徐洋",
    "当事人/身份证号": "330421195006039161、9133042157H617MW54、330421195410194251",
    "当事人/联系电话": "18000402066、13075779975", "化解情况/是否化解": "√",
    "化解情况/化解日期": "2026-09-17", "调解员": "蒋丽萍", "备注": None,
}


def test_ledger_rows(con: duckdb.DuckDBPyConnection, mappings: dict[str, Mapping]) -> None:
    c = _run(con, mappings["township_xlsx"], "330421107/台账_20260917.xlsx#2026年9月",
             LEDGER_ROW, dict(LEDGER_ROW, 发生日期="9月3日", **{"化解情况/是否化解": None}),
             dict(LEDGER_ROW, 发生日期="2026-09-03", **{"化解情况/是否化解": None,
                                                     "备注": "已上报县矛调中心"}),
             dict(LEDGER_ROW, 发生日期="2026.2.31", 纠纷类型="综合类"))
    cases = {r["_rid"]: r for r in c.root.to_pylist()}
    assert {cases[i]["source_record_id"] for i in (1, 2, 3)} == {cases[1]["source_record_id"]}
    assert cases[1]["source_record_id"].startswith("ledger:")
    assert cases[2]["occurred_at"].date().isoformat() == "2026-09-03"
    assert (cases[1]["status"], cases[1]["resolved"], cases[3]["status"]) == (
        "resolved", True, "escalated")
    assert cases[1]["category_code"] == "12" and cases[1]["village_code"] == "330421107201"
    assert sorted(_errors(c, 4)) == [("category_code", "unknown_code"),
                                     ("occurred_at", "impossible_date")]
    parties = [p for p in c.children["parties"].to_pylist() if p["_rid"] == 1]
    # phones are listed for persons only
    assert [(p["kind"], p["phone"]) for p in parties] == [
        ("person", "18000402066"), ("organisation", None), ("person", "13075779975")]


def test_county_category_unknown_is_reported_once(con: duckdb.DuckDBPyConnection,
                                                  mappings: dict[str, Mapping]) -> None:
    row = {"case_no": "2609143304210005", "category_code": "35", "occur_time":
           "2026-09-12 13:48:03", "status": "40", "current_level": "20", "town_code":
           "330421103", "village_code": "330421103201", "parties": "[]", "flows": "[]"}
    c = _run(con, mappings["county"], "t_dispute_case", row)
    assert _errors(c) == [("category_code", "unknown_code")]
    data = {k: v for k, v in c.root.to_pylist()[0].items() if v is not None and k != "_rid"}
    with pytest.raises(ValidationError) as e:  # the model then finds it missing
        DisputeCase.model_validate(data)
    assert [x["loc"] for x in e.value.errors()] == [("category_code",)]


def test_messages_hide_sensitive_values(con: duckdb.DuckDBPyConnection,
                                        mappings: dict[str, Mapping]) -> None:
    data = mappings["grid"].model_dump(by_alias=True, exclude_none=True)
    data["parties"][0]["phone"] = {"from": "phone", "match": "^1\\d{10}$"}
    strict_phones = type(mappings["grid"]).model_validate(data)
    rows = json.dumps([{"name": "", "phone": "139-0000-1234", "role": "当事人",
                        "idCard": "330421195006039161"}])
    c = _run(con, strict_phones, "x.jsonl", dict(GRID_ROW, parties=rows))
    errors = c.errors.to_pylist()
    assert sorted((e["field"], e["reason"]) for e in errors) == [
        ("parties[0].name", "missing_required"), ("parties[0].phone", "bad_value")]
    assert not any("0000" in e["message"] or "3304211950" in e["message"] for e in errors)


def test_output_shapes(con: duckdb.DuckDBPyConnection, mappings: dict[str, Mapping]) -> None:
    c = _run(con, mappings["county"], "t_dispute_case")
    parties, events = c.children["parties"], c.children["events"]
    assert (c.root.num_rows, parties.num_rows, events.num_rows, c.errors.num_rows) == (
        0, 0, 0, 0)
    assert c.root.column_names == ["_rid", *shape_of(CONTRACT).root]
    assert parties.column_names == ["_rid", "seq", "role", "kind", "name", "gender",
                                      "id_number", "id_number_masked", "credit_code", "phone",
                                      "address"]
    assert events.column_names == ["_rid", "seq", "action", "at", "from_level", "to_level",
                                     "org", "operator", "note"]
    assert c.errors.column_names == ["_rid", "field", "reason", "message"]
    assert "WITH" in compile_sql(mappings["county"])["root"]
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() \
        == (0,)


def test_the_registry_must_be_loaded(tmp_path: Path, mappings: dict[str, Mapping]) -> None:
    bare = duckdb.connect(str(tmp_path / "bare.duckdb"))
    bare.execute("CREATE TABLE rel (_rid BIGINT, origin VARCHAR, record JSON)")
    with pytest.raises(ConformError, match=r"ref\.divisions"):
        conform(bare, mappings["township_csv"], "rel")
    bare.close()


def test_load_reference_replaces_the_registry(tmp_path: Path) -> None:
    db = duckdb.connect(str(tmp_path / "registry.duckdb"))
    # the tables as the warehouse migration creates them
    db.execute("CREATE SCHEMA ref; CREATE TABLE ref.divisions (code VARCHAR PRIMARY KEY, name "
               "VARCHAR NOT NULL, level VARCHAR NOT NULL, parent_code VARCHAR, kind VARCHAR, "
               "former_names VARCHAR[]); CREATE TABLE ref.grids (code VARCHAR PRIMARY KEY, "
               "name VARCHAR NOT NULL, village_code VARCHAR NOT NULL);")
    bare = load_reference(db, None)
    assert bare["grids"] == 0 and bare["divisions"] > 1000
    row = db.execute("SELECT name, level, parent_code, kind, former_names FROM ref.divisions "
                     "WHERE code = '330421001'").fetchone()
    assert row == ("魏塘街道", "township", "330421", "街道", ["魏塘镇"])
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "villages.csv").write_text(
        "code,name,town_code,town_name,county_code,kind,former_names,lon_wgs84,lat_wgs84\n"
        "330421103201,蒋群村,330421103,西塘镇,330421,村,港西村;旧港村,120.9,30.9\n",
        encoding="utf-8")
    (registry / "grids.csv").write_text(
        "code,name,village_code\n330421103201001,蒋群村第1网格,330421103201\n", encoding="utf-8")
    for _ in range(2):  # loading again replaces, it does not add
        counts = load_reference(db, registry)
        assert counts == {"divisions": bare["divisions"] + 1, "grids": 1}
        assert db.execute("SELECT count(*) FROM ref.divisions").fetchone() == (
            counts["divisions"],)
    assert db.execute("SELECT parent_code, former_names FROM ref.divisions WHERE code = "
                      "'330421103201'").fetchone() == ("330421103", ["港西村", "旧港村"])
    db.close()
