"""Every mart on a small hand-checkable world: six staged records, four real disputes.

    X1  grid report G1 (待处理, never updated) + township record T1 (resolved 09-05):
        a cross-level status conflict; 张三 and 李四
    X2  county case C1 (in progress since 09-03) + the province's copy P1
    X3  county case C2 in town B (resolved), which the province never received: sync gap
    X4  grid report G2 in town B (待处理 since 09-15, grid SLA 3 days): overdue;
        张三 and 李四 again: a repeat dispute
    X5  grid report G3 in town B, escalated to the township on 09-18, which has no record
        of it yet: in flight (status family `escalated`)
    X6  grid report G4 in town A, escalated on 09-10 at 12:19, and the township's ledger
        T2, which dates its resolution 09-10 (midnight): the township's word wins, the
        case is resolved (the grid's later clock made it open and overdue)
The data's clock (marts.as_of) is the newest state: C2's, 2026-09-20 12:00.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from packs.disputes.codes import CaseStatus
from packs.disputes.reference import load_reference
from silobridge.codes import code_lists
from silobridge.contracts import staging_of
from silobridge.marts import pack_marts
from silobridge.packs import entity, pack
from warehouse.db import session
from warehouse.marts import MartError, load_marts
from warehouse.merge import merge
from warehouse.staging import protect
from warehouse.vault import Vault

TZ = timezone(timedelta(hours=8))
A, B = "330421001", "330421002"


def t(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 9, day, hour, tzinfo=TZ)


def _record(row: int, source: str, sid: str, town: str, category: str, status: str,
            occurred: datetime, level: int, **extra: object) -> dict:
    return {"batch_id": 1, "row_no": row, "origin": f"hand/{sid}", "raw_hash": f"{row:032x}",
            "mapping": "hand", "run_id": "hand", "loaded_at": t(21), "source": source,
            "source_record_id": sid, "category_code": category, "county_code": town[:6],
            "town_code": town, "village_code": town + "201", "occurred_at": occurred,
            "source_level": level, "status": status, **extra}


RECORDS = [
    _record(1, "grid", "G1", A, "04", "registered", t(1), 0, grid_report_ref="G1",
            reported_at=t(1, 11), source_updated_at=t(1, 11), handling_level=0),
    _record(2, "township", "T1", A, "04", "resolved", t(1), 20, grid_report_ref="G1",
            township_ref="T1", reported_at=t(1, 11), accepted_at=t(2),
            resolved_at=t(5), source_updated_at=t(5), resolved=True),
    _record(3, "county", "C1", A, "04", "in_progress", t(2), 30, county_ref="C1",
            reported_at=t(3), accepted_at=t(3), source_updated_at=t(10), handling_level=30),
    _record(4, "province", "P1", A, "04", "in_progress", t(2), 50, county_ref="C1",
            province_ref="P1", reported_at=t(3), source_updated_at=t(11), handling_level=30),
    _record(5, "county", "C2", B, "11", "resolved", t(6), 30, county_ref="C2",
            reported_at=t(7), accepted_at=t(7), resolved_at=t(19),
            source_updated_at=t(20, 12), handling_level=30),
    _record(6, "grid", "G2", B, "04", "registered", t(15), 0, grid_report_ref="G2",
            reported_at=t(15, 11), source_updated_at=t(15, 11), handling_level=0),
    _record(7, "grid", "G3", B, "04", "escalated", t(18, 9), 0, grid_report_ref="G3",
            reported_at=t(18, 10), source_updated_at=t(18, 14), handling_level=20),
    _record(8, "grid", "G4", A, "04", "escalated", t(9, 9), 0, grid_report_ref="G4",
            reported_at=t(9, 12), source_updated_at=t(10, 12) + timedelta(minutes=19),
            handling_level=20),
    _record(9, "township", "T2", A, "04", "resolved", t(9, 0), 20, grid_report_ref="G4",
            township_ref="T2", resolved_at=t(10, 0), resolved=True),
]
PARTIES = [
    {"batch_id": 1, "row_no": row, "seq": seq, "role": "其他", "kind": "person", "name": name,
     "phone": phone}
    for row in (1, 2, 6)
    for seq, (name, phone) in enumerate([("张三", "13800000001"), ("李四", "13800000002")])
] + [{"batch_id": 1, "row_no": 5, "seq": 0, "role": "申请方", "kind": "person",
      "name": "王五", "phone": "13800000005"}]


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("marts") / "wh.duckdb"
    with session(db) as con:
        load_reference(con, None)  # township names; this world needs no village registry
        _stage(con, RECORDS, PARTIES)
        summary = merge(con, "run-hand", entity("disputes"), pack_marts(), code_lists=code_lists())
        assert summary.link["cases"] == 6
    return db


def _stage(con: duckdb.DuckDBPyConnection, records: list[dict], parties: list[dict]) -> None:
    for table, rows in (("cases", records), ("parties", parties)):
        keys = list(dict.fromkeys(k for r in rows for k in r))  # from_pylist reads row 1's
        staged = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows])
        if table == "parties":  # phones are staged only as ciphertext, link and mask
            fields = staging_of(pack("disputes")).children["parties"].protected
            staged = protect(staged, Vault(bytes(32)), fields)
        con.register("_rows", staged)
        con.execute(f"INSERT INTO staging.{table} BY NAME SELECT * FROM _rows")
        con.unregister("_rows")


def query(db: Path, sql: str) -> list[tuple]:
    with session(db, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_as_of_is_the_newest_state(marts: Path) -> None:
    assert query(marts, "SELECT as_of FROM marts.as_of") == [(t(20, 12),)]


def test_backlog_and_overdue_by_township(marts: Path) -> None:
    rows = query(marts, "SELECT county_name, town_code, town_name, cases, open_cases, "
                        "escalated_cases, overdue_cases, oldest_open_days "
                        "FROM marts.backlog_by_township ORDER BY town_code")
    # A: X1 and X6 resolved, C1 open 17 days at the county (SLA 60); B: C2 resolved, G2
    # open 5 days at the grid (SLA 3), G3 in flight for 2 days to the township (SLA 30)
    assert rows == [("嘉善县", A, "魏塘街道", 3, 1, 0, 0, 17),
                    ("嘉善县", B, "罗星街道", 3, 1, 1, 1, 5)]


def test_one_status_family_in_every_mart(marts: Path) -> None:
    cases = query(marts, """
        SELECT c.grid_report_ids, c.status, c.status_source, c.resolved, o.status_family
        FROM core.cases c LEFT JOIN marts.open_cases o USING (case_id)
        WHERE c.grid_report_ids && ['G3', 'G4'] ORDER BY 1""")
    assert cases == [(["G3"], "escalated", "grid", False, "escalated"),
                     (["G4"], "resolved", "township", True, None)]
    words = query(marts, "SELECT source_record_id, status_family FROM marts.level_status "
                         "WHERE source_record_id IN ('G3', 'G4', 'T2') ORDER BY 1")
    assert words == [("G3", "escalated"), ("G4", "escalated"), ("T2", "resolved")]
    # a grid escalation that the township resolved is no conflict between the levels
    assert query(marts, "SELECT count(*) FROM marts.status_conflicts s JOIN core.cases c "
                        "USING (case_id) WHERE c.grid_report_ids = ['G4']") == [(0,)]
    families = dict(query(marts, "SELECT status, status_family FROM ref.status_family"))
    assert families == {s.value: s.family.value for s in CaseStatus}


def test_resolution_by_category_and_level(marts: Path) -> None:
    rows = query(marts, """
        SELECT category_code, level, cases, resolved_cases, resolution_rate,
               mean_days_to_resolve
        FROM marts.resolution_by_category_level WHERE county_name = '嘉善县'
        ORDER BY category_code, level""")
    assert rows == [
        ("04", 0, 1, 0, 0.0, None),      # G2, still open at the grid
        # X1: reported 09-01 11:00, resolved 09-05 10:00 (3.96 days); X6: reported 09-09
        # 12:00, resolved 09-10 00:00 (0.5 days); X5 in flight
        ("04", 20, 3, 2, 0.6667, 2.23),
        ("04", 30, 1, 0, 0.0, None),     # X2, open at the county
        ("11", 30, 1, 1, 1.0, 12.0),     # C2: reported 09-07, resolved 09-19
    ]


def test_escalation_rate(marts: Path) -> None:
    rows = query(marts, "SELECT county_name, town_code, month, cases, escalated_to_county, "
                        "escalation_rate FROM marts.escalation_rate ORDER BY town_code")
    assert rows == [("嘉善县", A, "2026-09", 3, 1, 0.3333), ("嘉善县", B, "2026-09", 3, 1, 0.3333)]


def test_repeat_disputes(marts: Path) -> None:
    rows = query(marts, "SELECT name_a, name_b, cases FROM marts.repeat_disputes")
    assert [(*sorted(r[:2]), r[2]) for r in rows] == [("张三", "李四", 2)]


def test_status_conflicts(marts: Path) -> None:
    rows = query(marts, """
        SELECT c.grid_report_ids, s.resolved_at_levels, s.open_at_levels
        FROM marts.status_conflicts s JOIN core.cases c USING (case_id)""")
    assert rows == [(["G1"], ["township"], ["grid"])]


def test_sync_gap(marts: Path) -> None:
    rows = query(marts, "SELECT county_case_no, status, days_waiting FROM marts.sync_gap")
    assert rows == [("C2", "resolved", 0)]


# A later batch: G2 names another party instead of 张三 and 李四 (who now meet once), the
# county resolves C1 while the province's copy still says in progress, and the province
# receives C2 (which it too has as in progress).
LATER = [
    {**_record(1, "grid", "G2", B, "04", "registered", t(15), 0, grid_report_ref="G2",
               reported_at=t(15, 11), source_updated_at=t(16), handling_level=0),
     "batch_id": 2},
    {**_record(2, "county", "C1", A, "04", "resolved", t(2), 30, county_ref="C1",
               reported_at=t(3), accepted_at=t(3), resolved_at=t(12),
               source_updated_at=t(12), handling_level=30, resolved=True), "batch_id": 2},
    {**_record(3, "province", "P2", B, "11", "in_progress", t(6), 50, county_ref="C2",
               province_ref="P2", reported_at=t(7), source_updated_at=t(20, 13),
               handling_level=30), "batch_id": 2},
]
LATER_PARTIES = [{"batch_id": 2, "row_no": 1, "seq": 0, "role": "其他", "kind": "person",
                  "name": "赵六", "phone": "13800000006"}]


@pytest.mark.parametrize("full", [False, True])
def test_the_kept_marts_follow_new_data(marts: Path, tmp_path: Path, full: bool) -> None:
    """The marts the merge keeps as tables, after an incremental merge and a full one."""
    db = tmp_path / "wh.duckdb"
    shutil.copy(marts, db)
    with session(db) as con:
        _stage(con, LATER, LATER_PARTIES)
        summary = merge(con, "run-later", entity("disputes"), pack_marts(),
                        code_lists=code_lists(), full=full)
        assert summary.mode == ("full" if full else "incremental")
    assert query(db, "SELECT * FROM marts.repeat_disputes") == []
    assert query(db, "SELECT * FROM marts.sync_gap") == []
    rows = query(db, """
        SELECT c.grid_report_ids, c.county_ids, s.resolved_at_levels, s.open_at_levels
        FROM marts.status_conflicts s JOIN core.cases c USING (case_id) ORDER BY 1, 2""")
    assert rows == [(["G1"], None, ["township"], ["grid"]),
                    (None, ["C1"], ["county"], ["province"]),
                    (None, ["C2"], ["county"], ["province"])]


def test_an_upgraded_warehouse_gets_the_files_marts(marts: Path, tmp_path: Path) -> None:
    """A warehouse whose marts earlier migrations made (views in marts, three of them kept
    in core tables) has them replaced by the files' marts at its next merge, even one
    that touches nothing, with the rows a fresh build gives."""
    db = tmp_path / "wh.duckdb"
    shutil.copy(marts, db)
    names = [m.name for m in pack_marts()]
    before = {n: query(db, f"SELECT * FROM {n} ORDER BY ALL") for n in names}
    assert all(before[n] for n in names if n != "marts.sync_status")
    con = duckdb.connect(str(db))
    try:  # what migrations 0004 to 0014 left: other objects under the marts' names
        for m in pack_marts():
            con.execute(f"DROP {'TABLE' if m.is_table else 'VIEW'} {m.name}")
            con.execute(f"CREATE {'TABLE' if m.is_table else 'VIEW'} {m.name} AS "
                        "SELECT 'legacy' AS made_by")
        con.execute("DROP TABLE ops.marts")
        con.execute("DELETE FROM ops.schema_migrations WHERE version = 15")
    finally:
        con.close()
    with session(db) as con:  # opening applies 0015: the ledger, with those objects in it
        assert con.execute("SELECT name, digest FROM ops.marts ORDER BY name").fetchall() == \
            sorted((n, "") for n in names)
        summary = merge(con, "run-upgrade", entity("disputes"), pack_marts(),
                        code_lists=code_lists())
        assert summary.records_touched == 0
    assert {n: query(db, f"SELECT * FROM {n} ORDER BY ALL") for n in names} == before


# A mart the pack adds: a file in the folder, a table after the next merge.
CASES_BY_TOWN = """
MODEL (
  name marts.cases_by_town,
  kind FULL,
  grain town_code,
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '各镇街案件数 / cases by township',
  column_descriptions (
    town_code = '乡镇街道代码 / township code',
    cases = '案件数 / number of cases'
  )
);
SELECT town_code, count(*) AS cases FROM core.cases GROUP BY town_code
"""
RECORDS_PER_CASE = """
MODEL (
  name marts.records_per_case,
  kind INCREMENTAL_BY_KEY (key case_id),
  grain case_id,
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '案件来源记录 / each case's source records',
  column_descriptions (
    case_id = '案件编号 / case id',
    records = '来源记录数 / source records',
    sources = '来源系统 / source systems'
  )
);
SELECT case_id, count(*) AS records, list_sort(list(source)) AS sources
FROM core.records WHERE @touched(case_id) GROUP BY case_id
""".replace("case's", "case''s")


def _folder_with(tmp_path: Path, **files: str) -> Path:
    """A copy of the dispute pack's marts folder with more files in it."""
    folder = tmp_path / "marts"
    shutil.copytree(pack("disputes").path("marts"), folder)
    for name, text in files.items():
        (folder / f"{name}.sql").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("full", [False, True])
def test_a_mart_file_added_to_the_folder_is_a_table_after_the_merge(
        marts: Path, tmp_path: Path, full: bool) -> None:
    folder = _folder_with(tmp_path, cases_by_town=CASES_BY_TOWN,
                          records_per_case=RECORDS_PER_CASE)
    db = tmp_path / "wh.duckdb"
    shutil.copy(marts, db)
    added = load_marts(folder)
    with session(db) as con:
        merge(con, "run-added", entity("disputes"), added,
              code_lists=code_lists())  # nothing new: the merge builds the two
    assert query(db, "SELECT * FROM marts.cases_by_town ORDER BY ALL") == [(A, 3), (B, 3)]
    truth = ("SELECT case_id, count(*), list_sort(list(source)) FROM core.records "
             "GROUP BY ALL ORDER BY ALL")
    assert query(db, "SELECT * FROM marts.records_per_case ORDER BY ALL") == query(db, truth)
    # analysts see the header's words as the warehouse's comments
    assert query(db, "SELECT comment FROM duckdb_tables() WHERE table_name = 'cases_by_town'"
                 ) == [("各镇街案件数 / cases by township",)]
    assert query(db, "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = "
                     "'cases_by_town' ORDER BY column_index") == [
        ("town_code", "乡镇街道代码 / township code"), ("cases", "案件数 / number of cases")]
    assert query(db, "SELECT kind, grain, owner FROM ops.marts WHERE name = "
                     "'marts.records_per_case'") == [
        ("INCREMENTAL_BY_KEY", ["case_id"], "嘉善县社会矛盾纠纷调处化解中心")]
    # later data: the FULL mart recomputed whole, the other for the cases touched
    with session(db) as con:
        _stage(con, LATER, LATER_PARTIES)
        assert merge(con, "run-later", entity("disputes"), added,
                     code_lists=code_lists(), full=full).mode == \
            ("full" if full else "incremental")
    assert query(db, "SELECT * FROM marts.cases_by_town ORDER BY ALL") == [(A, 3), (B, 3)]
    assert query(db, "SELECT * FROM marts.records_per_case ORDER BY ALL") == query(db, truth)
    assert [r for r in query(db, truth) if r[1] == 2 and "province" in r[2]] != []


def test_a_changed_file_rebuilds_its_mart_and_those_downstream_only(marts: Path,
                                                                    tmp_path: Path) -> None:
    folder = _folder_with(tmp_path)
    db = tmp_path / "wh.duckdb"
    shutil.copy(marts, db)
    built = dict(query(db, "SELECT name, built_at FROM ops.marts"))
    conflicts = folder / "case_conflicts.sql"
    conflicts.write_text(conflicts.read_text(encoding="utf-8").replace(
        "AS open_stated_at", "AS open_stated_at  -- the newest open word"), encoding="utf-8")
    with session(db) as con:
        merge(con, "run-changed", entity("disputes"), load_marts(folder), code_lists=code_lists())
    rebuilt = {name for name, at in query(db, "SELECT name, built_at FROM ops.marts")
               if at != built[name]}
    assert rebuilt == {"core.case_conflicts", "marts.status_conflicts"}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("cases", CASES_BY_TOWN.replace("marts.cases_by_town", "core.cases"),
     "core.cases exists and is no mart: the build never replaces a table or view it did "
     "not make"),
    ("cases_by_town", CASES_BY_TOWN.replace("count(*) AS cases", "count(*) AS n"),
     "column_descriptions must describe the query's columns: undescribed: n; "
     "no such column: cases"),
    ("cases_by_town", CASES_BY_TOWN.replace("core.cases GROUP", "core.casez GROUP"),
     r"\(query from line 13\) Catalog Error: Table with name casez does not exist"),
    ("records_per_case",
     RECORDS_PER_CASE.replace("key case_id", "key record_uid, key_columns (case_id)"),
     r"kind INCREMENTAL_BY_KEY \(key record_uid\): the caller passes touched keys of "
     "case_id, party_key"),
])
def test_a_mart_the_warehouse_cannot_keep_names_its_file(
        marts: Path, tmp_path: Path, name: str, text: str, message: str) -> None:
    folder = _folder_with(tmp_path, **{name: text})
    db = tmp_path / "wh.duckdb"
    shutil.copy(marts, db)
    with session(db) as con, pytest.raises(MartError, match=message) as caught:
        merge(con, "run-bad", entity("disputes"), load_marts(folder),
              code_lists=code_lists(), full=False)
    assert caught.value.path == folder / f"{name}.sql"
    # the merge's transaction rolled back: the warehouse is as it was
    assert query(db, "SELECT count(*) FROM ops.marts") == [(len(pack_marts()),)]


def test_marts_that_read_each_other_in_a_circle_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "marts"
    folder.mkdir()
    for a, b in (("ping", "pong"), ("pong", "ping")):
        (folder / f"{a}.sql").write_text(CASES_BY_TOWN.replace("cases_by_town", a)
                                         .replace("core.cases", f"marts.{b}"), "utf-8")
    with pytest.raises(MartError, match=r"read each other in a circle: marts\.p.ng → "):
        load_marts(folder)
