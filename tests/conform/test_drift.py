"""Schema drift: drifted feeds are recognised as renames and still conform; unknown and
missing columns are reported."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from conform.drift import batch_drift, drift
from conform.engine import conform
from conform.mapping import Mapping, load_mappings, select_mapping
from connectors.base import RawBatch
from connectors.lineage import build_table
from packs.disputes.conforming import CONTRACT
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import generate
from packs.disputes.reference import load_reference
from silobridge.extract import extract_source
from silobridge.packs import pack
from silobridge.settings import Settings
from warehouse.db import session
from warehouse.landing import land

SPEC = WorldSpec(seed=5, cases=500, days=20, defect_rate=0.05)


@dataclass
class Landed:
    home: Path
    con: duckdb.DuckDBPyConnection
    mappings: list[Mapping]
    drifted: dict[str, tuple[str, str]]   # origin → (expected, found)
    defects: dict[tuple[str, str], str]   # (origin, row) → defect


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Landed]:
    home = tmp_path_factory.mktemp("drift")
    generate(home / "world", SPEC)
    settings = Settings(home=home)
    for source in ("township", "grid"):  # the file feeds are the ones that drift
        extract_source(settings, source)
    key = home / "world" / "answer_key"
    with (key / "drift.csv").open(encoding="utf-8") as f:
        drifted = {r["origin"]: (r["expected"], r["found"]) for r in csv.DictReader(f)}
    with (key / "records.csv").open(encoding="utf-8") as f:
        defects = {(r["origin"], r["row"]): r["defect"] for r in csv.DictReader(f)}
    con = duckdb.connect(str(settings.warehouse_path))
    load_reference(con, home / "world" / "reference")
    mappings = load_mappings(pack("disputes").path("mappings"), CONTRACT)
    yield Landed(home, con, mappings, drifted, defects)
    con.close()


def test_drifted_feeds_are_known_renames(landed: Landed) -> None:
    batches = landed.con.execute("SELECT batch_id, origin FROM ops.batches").fetchall()
    assert {o for _, o in batches} >= set(landed.drifted)
    sources = set()
    for batch_id, origin in batches:
        d = batch_drift(landed.con, batch_id, landed.mappings)
        assert (d.unknown, d.missing, d.possible_renames) == ((), (), ()), d
        if origin in landed.drifted:
            assert d.renamed == (landed.drifted[origin],) and d.drifted
            sources.add(d.mapping)
        else:
            assert not d.drifted, d
    assert {"township_csv", "grid"} <= sources


def test_drifted_records_conform(landed: Landed) -> None:
    con = landed.con
    origins = sorted(landed.drifted)
    con.execute("CREATE OR REPLACE TEMP TABLE drifted AS SELECT row_number() OVER () AS _rid, "
                "source, origin, row_no, record FROM raw.records WHERE origin IN (SELECT "
                "unnest(?::VARCHAR[])) AND parse_error IS NULL", [origins])
    for name in ("township_csv", "grid"):
        mapping = next(m for m in landed.mappings if m.name == name)
        mine = [o for s, o in con.execute("SELECT DISTINCT source, origin FROM drifted")
                .fetchall() if select_mapping(landed.mappings, s, o) is mapping]
        con.execute("CREATE OR REPLACE TEMP TABLE rel AS SELECT _rid, origin, record FROM "
                    "drifted WHERE origin IN (SELECT unnest(?::VARCHAR[]))", [mine])
        result = conform(con, mapping, "rel")
        rows = {r: (o, str(n)) for r, o, n in con.execute(
            "SELECT _rid, origin, row_no FROM drifted").fetchall()}
        failed = {e["_rid"] for e in result.errors.to_pylist()}
        clean = [c for c in result.root.to_pylist() if not landed.defects[rows[c["_rid"]]]]
        assert len(clean) > 20, name
        assert all(c["occurred_at"] is not None for c in clean), name
        assert not [c for c in clean if c["_rid"] in failed], name


CSV_COLUMNS = ["sjbh", "wgsjbh", "sjmc", "sjms", "fsrq", "fsdd", "cjmc", "sjlb", "sjgm", "sjrs",
               "sjje", "sqrxm", "sqrxb", "sqrsfzh", "sqrdh", "bsqrxm", "bsqrxb", "bsqrsfzh",
               "bsqrdh", "slrq", "tjy", "hjfs", "sfHjcg", "hjrq", "clzt", "gxsj"]


def test_an_unknown_and_a_missing_column(landed: Landed, tmp_path: Path) -> None:
    columns = [c for c in CSV_COLUMNS if c != "sjlb"] + ["bzxx"]
    values = {c: ["x", "y"] for c in columns}
    values["fsrq"] = ["2026/09/01 10:00", "20260902"]
    values["cjmc"] = [None, None]
    origin = "330421001/20261231.csv"
    batch = RawBatch("township", origin, build_table("township", origin, columns, values,
                                                     [2, 3]), tuple(columns), {"files": {}})
    db = tmp_path / "wh.duckdb"
    with session(db) as con:
        (batch_id,) = land(con, [batch], "run-drift")
        d = batch_drift(con, batch_id, landed.mappings)
        assert d.mapping == "township_csv" and d.origin == origin
        assert d.unknown == ("bzxx",)
        assert d.missing == ("sjlb",) and d.missing_required == ("sjlb",)
        assert d.possible_renames == (("sjlb", "bzxx"),) and d.renamed == ()
        assert d.to_dict()["unknown"] == ("bzxx",)
        con.execute("CREATE TEMP VIEW rel AS SELECT row_no AS _rid, origin, record "
                    "FROM raw.records")
        load_reference(con, landed.home / "world" / "reference")
        errors = conform(con, next(m for m in landed.mappings if m.name == "township_csv"),
                         "rel").errors.to_pylist()
        assert {(e["_rid"], e["field"], e["reason"]) for e in errors} >= {
            (2, "category_code", "missing_required"), (3, "category_code", "missing_required")}


def test_several_unexplained_columns_are_no_rename(landed: Landed) -> None:
    grid = next(m for m in landed.mappings if m.name == "grid")
    columns = [c for c in grid.expected_columns()
               if c not in ("eventType", "address", "occurTime")]
    d = drift(grid, [*columns, "happenTime", "eventKind", "addr"])
    assert d.unknown == ("eventKind", "addr")
    assert d.missing == ("address", "eventType")
    assert d.missing_required == ("eventType",) and d.possible_renames == ()
    assert d.renamed == (("occurTime", "happenTime"),)
    # both names at once: no rename, nothing unknown
    both = drift(grid, [*grid.expected_columns(), "happenTime"])
    assert not both.drifted
    optional = grid.model_copy(update={"columns": grid.columns.model_copy(
        update={"optional": ("address",)})})
    assert drift(optional, [c for c in grid.expected_columns() if c != "address"]).missing == ()
