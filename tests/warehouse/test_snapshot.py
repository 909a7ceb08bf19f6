"""The analyst snapshot's mechanics: masks in SQL agree with schemas.pii, every published
column is graded and labelled, ungraded or clear personal columns stop the publication,
a new snapshot replaces the old one atomically under a reader, and a publication killed
at any step leaves the DuckDB file and the Parquet files of one version."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel

from packs.disputes.catalogue import CATALOGUE, TABLES
from packs.disputes.reference import load_reference
from schemas.catalogue import (
    META,
    Catalogue,
    CatalogueError,
    FreeText,
    Hidden,
    PublishedTable,
    col,
)
from schemas.grades import Grade, contract_field
from schemas.labelled import CodeList, LabelledStrEnum
from schemas.pii import mask_address, mask_coordinate, mask_name, mask_text
from silobridge.marts import pack_marts
from warehouse import snapshot_copy
from warehouse.code_lists import seed_codes
from warehouse.db import session, transaction
from warehouse.faults import ENV_ACTION, ENV_POINT
from warehouse.marts import build_marts
from warehouse.snapshot import CURRENT, PARQUET, PUBLISH_POINTS, SNAPSHOT, VERSIONS, publish
from warehouse.snapshot_copy import MACROS

KEY = "0f" * 16

NAMES = ["张三", "欧阳娜娜", "李", "", None, "Zhang San"]
ADDRESSES = ["明旗社区12组164号", "嘉善县大云镇晓东村7组11号", "九溪村村委会旁", "罗星街道１８号",
             "", None]
TEXTS = [
    ("关于张三与李四邻里纠纷", {"张三": "张*", "李四": "李*"}),
    ("申请人张三丰反映：其与张三因宅基地发生纠纷", {"张三": "张*", "张三丰": "张**"}),
    ("联系电话13812345678，身份证330421199001011234，旧证330421900101123", {}),
    ("电话+86 13912345678；0086 13712345678；座机0573-84012345", {}),
    ("发生地点：晓东村7组11号，涉及金额43710.00元，涉及2人，3幢2单元501室", {}),
    ("比例 7.333333333333333 与编号 330421001001001 之外", {}),
    ("'; DROP TABLE core.cases; -- <script>alert(1)</script> [red]x[/red]", {}),
]


def test_the_sql_masks_agree_with_schemas_pii() -> None:
    con = duckdb.connect()
    con.execute(MACROS)
    for name in NAMES:
        assert con.execute("SELECT sb_mask_name(?)", [name]).fetchall()[0][0] == mask_name(name)
    for address in ADDRESSES:
        assert con.execute("SELECT sb_mask_address(?)", [address]).fetchall()[0][0] == \
            mask_address(address)
    for text, replacing in TEXTS:
        pairs = [{"f": k, "t": v} for k, v in sorted(replacing.items(),
                                                      key=lambda kv: (-len(kv[0]), kv[0]))]
        got = con.execute("SELECT sb_mask_text(?, ?::STRUCT(f VARCHAR, t VARCHAR)[])",
                          [text, pairs]).fetchall()[0][0]
        assert got == mask_text(text, replacing), text
    assert con.execute("SELECT round(?::DOUBLE, 2)", [120.98401734]).fetchall()[0][0] == \
        mask_coordinate(120.98401734)


def test_masked_text_keeps_its_meaning_without_its_people() -> None:
    assert mask_text(*TEXTS[0]) == "关于张*与李*邻里纠纷"
    assert mask_text(*TEXTS[1]) == "申请人张**反映：其与张*因宅基地发生纠纷"
    assert mask_text(*TEXTS[2]) == ("联系电话138****5678，身份证330421********1234，"
                                    "旧证330421*****1123")
    assert mask_text(*TEXTS[4]) == ("发生地点：晓东村*组*号，涉及金额43710.00元，涉及2人，"
                                    "*幢*单元*室")
    assert mask_text(*TEXTS[6]) == TEXTS[6][0]  # nothing personal: verbatim


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with session(path) as con:
        load_reference(con, None)  # the province, cities, counties and townships
        seed_codes(con, CATALOGUE.code_lists)  # what the first ingest writes
        with transaction(con, "marts"):  # what a merge builds, before any merge
            build_marts(con, pack_marts())
        con.execute("""
            INSERT INTO core.cases (case_id, category_code, bucket, title, county_code,
                town_code, address, occurred_at, status, sources, records, content_hash,
                created_run, updated_run, lon_wgs84, lat_wgs84, handler, highest_level,
                resolved)
            VALUES ('C1', '04', 'neighbour', '关于张三与李四邻里纠纷', '330421', '330421001',
                    '明旗社区12组164号', TIMESTAMPTZ '2026-09-01 10:00:00+08', 'in_progress',
                    ['grid'], 1, 'h', 'r', 'r', 120.98401734, 30.8873061, '王五', 0, false)""")
        con.execute("""
            INSERT INTO core.case_parties (case_id, party_key, role, kind, name, sources,
                id_number_masked, phone_masked, phone_link, phone_cipher, address)
            VALUES ('C1', 'person:张三', '申请方', 'person', '张三', ['grid'],
                    '330421********1234', '138****5678', 'ab12', '\\x01'::BLOB, '明旗社区3组2号'),
                   ('C1', 'person:李四', '被申请方', 'person', '李四', ['grid'], NULL, NULL,
                    NULL, NULL, NULL)""")
    return path


def _snapshot(out: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(out / SNAPSHOT), read_only=True)


def test_every_published_column_is_graded_labelled_and_masked(warehouse: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "published"
    summary = publish(warehouse, out, KEY, CATALOGUE)
    assert set(summary.tables) == {t.name for t in TABLES}
    assert sorted(summary.withheld) == [f"core.case_parties.{f}_{k}" for f in
                                        ("id_number", "phone") for k in ("cipher", "link")]
    con = _snapshot(out)
    try:
        comments = con.execute("""
            SELECT schema_name || '.' || table_name, column_name, comment FROM duckdb_columns()
            WHERE schema_name IN ('core', 'marts', 'ref')""").fetchall()
        assert comments and all(c and " / " in c and "[L" in c for _, _, c in comments)
        names = {f"{t}.{c}" for t, c, _ in comments}
        assert not [n for n in names if n.endswith(("_cipher", "_link"))]
        tables = con.execute("SELECT schema_name || '.' || table_name, comment FROM "
                             "duckdb_tables() WHERE schema_name IN ('core', 'marts', 'ref')"
                             ).fetchall()
        assert {t for t, _ in tables} == {t.name for t in TABLES}
        assert all(c for _, c in tables)
        assert con.execute("SELECT count(*) FROM meta.columns WHERE table_name NOT LIKE "
                           "'meta.%'").fetchall()[0][0] == len(names)
        case = con.execute("SELECT title, address, handler, lon_wgs84, lat_wgs84 "
                           "FROM core.cases").fetchall()
        assert case == [("关于张*与李*邻里纠纷", "明旗社区…", "王*", 120.98, 30.89)]
        parties = con.execute("SELECT party_key, name, address, phone_masked FROM "
                              "core.case_parties ORDER BY name").fetchall()
        assert [p[1:] for p in parties] == [("张*", "明旗社区…", "138****5678"),
                                            ("李*", None, None)]
        assert all(p[0].startswith("P") and len(p[0]) == 17 for p in parties)
    finally:
        con.close()
    # the Parquet copy holds the same tables, a folder each
    parquet = out / PARQUET
    assert parquet.is_symlink()
    folders = {p.parent.relative_to(parquet).as_posix() for p in parquet.rglob("*.parquet")}
    assert folders == {t.name.replace(".", "/") for t in (*TABLES, *META)}


def test_labels_stand_beside_the_codes(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "published"
    publish(warehouse, out, KEY, CATALOGUE)
    con = _snapshot(out)
    try:
        row = con.execute("""
            SELECT county_code, county_name, town_code, town_name, category_zh, category_en,
                   status, status_zh, status_en, status_family, status_family_zh,
                   highest_level_zh, highest_level_en
            FROM core.cases""").fetchall()
        assert row == [("330421", "嘉善县", "330421001", "魏塘街道", "邻里纠纷",
                        "neighbour disputes", "in_progress", "调处中", "in progress", "open",
                        "未结", "网格", "grid")]
        # the label columns follow their code column, and say which one they decode
        columns = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'core' AND "
            "table_name = 'cases' ORDER BY column_index").fetchall()]
        at = columns.index("status")
        assert columns[at:at + 6] == ["status", "status_zh", "status_en", "status_family",
                                      "status_family_zh", "status_family_en"]
        decodes = dict(con.execute(
            "SELECT column_name, decodes FROM meta.columns WHERE table_name = 'core.cases' "
            "AND decodes IS NOT NULL").fetchall())
        assert decodes["status_family"] == "status" and decodes["town_name"] == "town_code"
        assert decodes["status_family_zh"] == "status_family"
        # the reference tables: every code list, and the divisions the codes name
        assert con.execute("SELECT label_zh, label_en, group_code FROM ref.codes WHERE "
                           "list_name = 'case_status' AND code = 'escalated'").fetchall() == [
            ("已上报", "escalated to a higher level", "escalated")]
        assert con.execute("SELECT count(DISTINCT list_name) FROM ref.codes").fetchall() == \
            con.execute("SELECT count(*) FROM ref.code_lists").fetchall()
        assert con.execute("SELECT level, count(*) FROM ref.divisions GROUP BY level "
                           "ORDER BY level").fetchall() == [
            ("city", 11), ("county", 90), ("province", 1), ("township", 1387)]
    finally:
        con.close()


def test_every_table_is_in_the_main_schema_for_show_tables(warehouse: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "published"
    publish(warehouse, out, KEY, CATALOGUE)
    con = _snapshot(out)
    try:
        shown = {name for (name,) in con.execute("SHOW TABLES").fetchall()}
        assert shown == {t.name.split(".")[1] for t in (*TABLES, *META)}
        assert con.execute("SELECT status_zh FROM cases").fetchall() == [("调处中",)]
        views = dict(con.execute("SELECT table_name, view_name FROM meta.tables").fetchall())
        assert views["core.cases"] == "main.cases" and len(views) == len(shown)
        assert con.execute("SELECT comment FROM duckdb_columns() WHERE schema_name = 'main' "
                           "AND table_name = 'cases' AND column_name = 'status_zh'"
                           ).fetchall() == [("状态(中文) / canonical status: Chinese label [L1]",)]
    finally:
        con.close()


def _duckdb_15(*args: str) -> str:
    """The DuckDB 1.5 CLI (PyPI duckdb-cli, in the dev environment: what most analysts'
    clients still ship), run on the snapshot."""
    done = subprocess.run([sys.executable, "-m", "duckdb_cli", *args], capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_snapshot_opens_in_duckdb_15(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "published"
    publish(warehouse, out, KEY, CATALOGUE)
    snap = str(out / SNAPSHOT)
    (version,) = json.loads(_duckdb_15("-json", "-c", "SELECT version() AS v"))
    assert version["v"].startswith("v1.5.")
    shown = {r["name"] for r in json.loads(_duckdb_15("-readonly", snap, "-json", "-c",
                                                      "SHOW TABLES"))}
    assert shown == {t.name.split(".")[1] for t in (*TABLES, *META)}
    rows = json.loads(_duckdb_15(
        "-readonly", snap, "-json", "-c",
        "SELECT c.title, c.status_zh, c.town_name, s.storage_version, count(p.*) AS parties "
        "FROM cases c, snapshot s, case_parties p GROUP BY ALL"))
    assert rows == [{"title": "关于张*与李*邻里纠纷", "status_zh": "调处中",
                     "town_name": "魏塘街道", "storage_version": "v1.5.0", "parties": 2}]
    parquet = out / PARQUET / "core" / "cases" / "*.parquet"
    assert json.loads(_duckdb_15("-json", "-c", f"SELECT status_family FROM '{parquet}'")
                      ) == [{"status_family": "open"}]


def test_parquet_files_carry_column_labels_one_folder_per_table(
        warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_copy, "ROWS_PER_FILE", 1)  # a file per row: the folder holds
    monkeypatch.setattr(snapshot_copy, "ROWS_PER_BATCH", 1)  # as many files as the table needs
    out = tmp_path / "published"
    summary = publish(warehouse, out, KEY, CATALOGUE)
    parties = sorted((out / PARQUET / "core" / "case_parties").iterdir())
    assert [p.name for p in parties] == ["part-0.parquet", "part-1.parquet"]
    assert pq.read_table(out / PARQUET / "core" / "case_parties").num_rows == 2
    schema = pq.read_schema(out / PARQUET / "core" / "cases" / "part-0.parquet")
    assert schema.field("status_zh").metadata == {
        b"label_zh": "状态(中文)".encode(), b"label_en": b"canonical status: Chinese label",
        b"grade": b"L1", b"decodes": b"status"}
    assert schema.field("title").metadata[b"mask"] == b"text"
    assert schema.field("status").metadata[b"code_list"] == b"case_status"
    assert schema.metadata[b"snapshot_id"] == summary.version.encode()
    assert schema.metadata[b"label_zh"] == "案件黄金记录".encode()
    labels = json.loads(schema.metadata[b"silobridge.columns"])
    assert labels["village_name"] == {"label_zh": "村社名称", "label_en": "village name",
                                      "grade": "L1", "decodes": "village_code"}
    # an empty table is a file with its columns
    merges = pq.read_table(out / PARQUET / "core" / "case_merges")
    assert merges.num_rows == 0 and "old_case_id" in merges.column_names


def test_an_ungraded_column_stops_publication_and_the_old_snapshot_stays(
        warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "published"
    publish(warehouse, out, KEY, CATALOGUE)
    before = (out / SNAPSHOT).stat().st_ino, os.readlink(out / CURRENT)
    with session(warehouse) as con:
        con.execute("ALTER TABLE core.cases ADD COLUMN caller_note VARCHAR")
    with pytest.raises(CatalogueError, match=r"caller_note.*has no grade"):
        publish(warehouse, out, KEY, CATALOGUE)
    assert ((out / SNAPSHOT).stat().st_ino, os.readlink(out / CURRENT)) == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert len(list((out / VERSIONS).iterdir())) == 1  # the failed version is gone


def test_a_clear_personal_number_is_never_published(warehouse: Path, tmp_path: Path) -> None:
    with session(warehouse) as con:
        con.execute("ALTER TABLE core.case_parties ADD COLUMN phone VARCHAR")
    with pytest.raises(CatalogueError, match=r"phone.*may not be published in any form"):
        publish(warehouse, tmp_path / "published", KEY, CATALOGUE)


def test_a_new_snapshot_replaces_the_old_under_a_reader(warehouse: Path,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "published"
    publish(warehouse, out, KEY, CATALOGUE)
    reader = _snapshot(out)
    try:
        with session(warehouse) as con:
            con.execute("UPDATE core.cases SET status = 'resolved'")
        publish(warehouse, out, KEY, CATALOGUE)
        # the reader that had the old snapshot open still sees it, whole
        assert reader.execute("SELECT status FROM core.cases").fetchall() == [("in_progress",)]
        # another analyst, opening it now, sees the new one (in this process DuckDB would
        # hand back the instance the reader holds)
        script = ("import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True)"
                  ".execute('SELECT status FROM core.cases').fetchall()[0][0])")
        fresh = subprocess.run([sys.executable, "-c", script, str(out / SNAPSHOT)],
                               capture_output=True, text=True, check=True)
        assert fresh.stdout.strip() == "resolved"
    finally:
        reader.close()
    newest = publish(warehouse, out, KEY, CATALOGUE).version
    # this one and the one before it, for readers still on it
    versions = sorted(p.name for p in (out / VERSIONS).iterdir())
    assert len(versions) == 2 and os.readlink(out / CURRENT) == f"{VERSIONS}/{newest}"


def _published_versions(out: Path) -> tuple[str, set[str]] | None:
    """(the DuckDB snapshot's id, the ids every published Parquet file carries), or None
    when nothing is published yet."""
    if not (out / SNAPSHOT).exists() and not (out / PARQUET).exists():
        return None
    con = duckdb.connect(str(out / SNAPSHOT), read_only=True)
    try:
        (snapshot_id,) = con.execute("SELECT snapshot_id FROM meta.snapshot").fetchall()[0]
        files = sorted((out / PARQUET).rglob("*.parquet"))
        assert {f.parent.relative_to(out / PARQUET).as_posix() for f in files} >= {
            t.name.replace(".", "/") for t in TABLES}
        ids = {v for (v,) in con.execute(
            f"SELECT snapshot_id FROM read_parquet('{out / PARQUET}/meta/snapshot/*.parquet')"
            ).fetchall()}
        for f in files:
            ids |= {v.decode() for (v,) in con.execute(
                "SELECT value FROM parquet_kv_metadata(?) WHERE key = 'snapshot_id'",
                [str(f)]).fetchall()}
    finally:
        con.close()
    return snapshot_id, ids


@pytest.mark.parametrize("first", [True, False], ids=["first publication", "next"])
@pytest.mark.parametrize("point", PUBLISH_POINTS)
def test_a_publication_killed_at_any_step_leaves_one_version_then_converges(
        warehouse: Path, tmp_path: Path, point: str, first: bool) -> None:
    out = tmp_path / "published"
    if not first:
        publish(warehouse, out, KEY, CATALOGUE)
        with session(warehouse) as con:
            con.execute("UPDATE core.cases SET status = 'resolved'")
    before = _published_versions(out)
    script = ("import sys; from pathlib import Path; from warehouse.snapshot import publish; "
              "from packs.disputes.catalogue import CATALOGUE; "
              f"publish(Path(sys.argv[1]), Path(sys.argv[2]), {KEY!r}, CATALOGUE)")
    killed = subprocess.run([sys.executable, "-c", script, str(warehouse), str(out)],
                            env={**os.environ, ENV_POINT: point, ENV_ACTION: "kill"},
                            capture_output=True, text=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # it reached the point
    after = _published_versions(out)
    if after is not None:  # the DuckDB file and every Parquet file: one version
        assert after[1] == {after[0]}
    if before is not None:  # the old version, or the new one: nothing else
        assert after is not None and (after == before or after[0] > before[0])

    rerun = publish(warehouse, out, KEY, CATALOGUE)
    assert _published_versions(out) == (rerun.version, {rerun.version})
    con = duckdb.connect(str(out / SNAPSHOT), read_only=True)
    try:
        assert con.execute("SELECT status FROM core.cases").fetchall() == [
            ("in_progress",) if first else ("resolved",)]
    finally:
        con.close()
    # the version before is kept for its readers; whatever the crash left is gone
    assert len(list((out / VERSIONS).iterdir())) <= 2
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert (out / VERSIONS / rerun.version).is_dir()


def test_a_snapshot_of_the_earlier_layout_is_taken_over(warehouse: Path,
                                                        tmp_path: Path) -> None:
    # earlier releases: the DuckDB file renamed into place, parquet -> parquet-<v>/
    out = tmp_path / "published"
    out.mkdir()
    (out / SNAPSHOT).write_bytes(b"old snapshot")
    (out / "parquet-20260101T000000000000").mkdir()
    (out / PARQUET).symlink_to("parquet-20260101T000000000000")
    summary = publish(warehouse, out, KEY, CATALOGUE)
    assert _published_versions(out) == (summary.version, {summary.version})
    assert sorted(p.name for p in out.iterdir()) == [CURRENT, PARQUET, SNAPSHOT, VERSIONS]


# -- another domain's catalogue: the same engine, none of the dispute's names -------------
class Plug(LabelledStrEnum):
    GBT = "gbt", "国标", "GB/T 20234"
    CCS = "ccs", "欧标", "CCS"


class Charger(BaseModel):
    station_id: str = contract_field(Grade.L1, "站点编号", "station id")
    keeper: str = contract_field(Grade.L3, "运维人员", "keeper", mask="name")
    note: str | None = contract_field(Grade.L2, "备注", "note", None, mask="text")
    plug: Plug = contract_field(Grade.L1, "接口", "plug")
    phone: str | None = contract_field(Grade.L4, "联系电话", "phone", None, mask="phone")
    checked_at: str = contract_field(Grade.L2, "巡检时间", "checked at")


STATIONS = Catalogue(
    (PublishedTable("stations.chargers", "充电桩", "chargers", Charger,
                    {"kw": col("L1", "功率", "power, kW")}),
     PublishedTable("stations.daily", "每日巡检", "checks per station and day")),
    (CodeList.of(Plug, "接口类型", "plug types"),),
    canonical=(Charger,), shared={"checks": col("L1", "巡检次数", "checks")},
    free_text=FreeText("station_id", (Hidden("stations.chargers", "keeper", "name"),)),
    clock=("stations.chargers", "checked_at"))


def test_another_domains_catalogue_publishes_through_the_same_engine(tmp_path: Path) -> None:
    """A warehouse of charging stations (no migrations, none of the dispute's tables):
    its own columns, model fields, protected fields, canonical and shared columns, code
    labels, free text and clock all come from the catalogue it is handed."""
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("""
        CREATE SCHEMA stations; CREATE SCHEMA ref;
        CREATE TABLE ref.codes (list_name VARCHAR, code VARCHAR, label_zh VARCHAR,
            label_en VARCHAR, group_code VARCHAR, position INTEGER);
        INSERT INTO ref.codes VALUES ('plug', 'gbt', '国标', 'GB/T 20234', NULL, 0),
                                     ('plug', 'ccs', '欧标', 'CCS', NULL, 1);
        CREATE TABLE stations.chargers AS SELECT 'S1' AS station_id, '赵六一' AS keeper,
            '赵六一报修，电话13812345678' AS note, 'gbt' AS plug, '138****5678' AS phone_masked,
            '\\x01'::BLOB AS phone_cipher, '2026-09-02' AS checked_at, 60.0 AS kw;
        CREATE TABLE stations.daily AS SELECT 'S1' AS station_id, 2 AS checks""")
    con.close()
    out = tmp_path / "published"
    summary = publish(warehouse, out, KEY, STATIONS)
    assert summary.tables == {"stations.chargers": 1, "stations.daily": 1}
    assert summary.withheld == ["stations.chargers.phone_cipher"]
    snap = _snapshot(out)
    try:
        assert snap.execute("SELECT keeper, note, plug, plug_zh, plug_en, phone_masked, kw "
                            "FROM stations.chargers").fetchall() == [
            ("赵**", "赵**报修，电话138****5678", "gbt", "国标", "GB/T 20234", "138****5678",
             60.0)]
        graded = dict(snap.execute("SELECT table_name || '.' || column_name, grade || "
                                   "coalesce(' ' || mask, '') FROM meta.columns").fetchall())
        assert graded["stations.chargers.phone_masked"] == "L2"
        assert graded["stations.daily.station_id"] == "L1"  # from the canonical model
        assert graded["stations.daily.checks"] == "L1"  # shared
        assert graded["stations.chargers.note"] == "L2 text"
        assert snap.execute("SELECT data_as_of FROM meta.snapshot").fetchall() == [
            ("2026-09-02",)]
        assert {n for (n,) in snap.execute("SHOW TABLES").fetchall()} == {
            "chargers", "daily", "tables", "columns", "snapshot"}
    finally:
        snap.close()
    # the same warehouse with a catalogue that says nothing of free text: refused
    bare = Catalogue(STATIONS.tables, STATIONS.code_lists, canonical=(Charger,),
                     shared=STATIONS.shared)
    with pytest.raises(CatalogueError, match=r"stations.chargers publishes free text"):
        publish(warehouse, out, KEY, bare)
