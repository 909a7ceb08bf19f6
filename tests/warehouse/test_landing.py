"""Landing raw batches: rows, batch record, manifest and cursor move together or not at
all."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from connectors.base import RawBatch
from connectors.lineage import build_table
from warehouse.db import WarehouseError, migrate, migrations, session
from warehouse.landing import land, load_cursor


def _batch(rows: list[dict[str, str | None]], cursor: dict, origin: str = "a.csv") -> RawBatch:
    columns = list(rows[0]) if rows else []
    values = {c: [r[c] for r in rows] for c in columns}
    table = build_table("township", origin, columns, values, list(range(2, len(rows) + 2)))
    return RawBatch("township", origin, table, tuple(columns), cursor)


def test_migrations_apply_once(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    with session(db) as con:
        versions = [v for (v,) in con.execute("SELECT version FROM ops.schema_migrations")
                    .fetchall()]
        assert versions == [v for v, _, _ in migrations()]
        assert migrate(con) == []


def test_a_newer_warehouse_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    with session(db) as con:
        con.execute("INSERT INTO ops.schema_migrations VALUES (9999, 'future', now())")
    with pytest.raises(WarehouseError, match="9999"), session(db):
        pass


def test_land_stores_rows_as_received_and_the_cursor(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    batch = _batch([{"sjbh": "1", "sjmc": "邻里纠纷", "sjje": None},
                    {"sjbh": "2", "sjmc": "婚姻家庭", "sjje": "100.00"}], {"files": {"a": 1}})
    with session(db) as con:
        assert load_cursor(con, "township") is None
        (batch_id,) = land(con, [batch], "run-1")
        rows = con.execute("SELECT row_no, record, raw_hash FROM raw.records "
                           "WHERE batch_id = ? ORDER BY row_no", [batch_id]).fetchall()
        assert [json.loads(r[1]) for r in rows] == [
            {"sjbh": "1", "sjmc": "邻里纠纷", "sjje": None},
            {"sjbh": "2", "sjmc": "婚姻家庭", "sjje": "100.00"}]
        assert [r[0] for r in rows] == [2, 3]
        assert load_cursor(con, "township") == {"files": {"a": 1}}
        (cols,) = con.execute("SELECT columns FROM ops.batches WHERE batch_id = ?",
                              [batch_id]).fetchone()
        assert cols == ["sjbh", "sjmc", "sjje"]


def test_a_failed_landing_moves_neither_rows_nor_cursor(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    with session(db) as con:
        land(con, [_batch([{"a": "1"}], {"pos": 1})], "run-1")
        # a raw table that refuses the next insert stands in for a crash mid-transaction
        con.execute("ALTER TABLE raw.records ADD COLUMN must_be_set VARCHAR NOT NULL "
                    "DEFAULT 'x'")
        con.execute("ALTER TABLE raw.records ALTER COLUMN must_be_set DROP DEFAULT")
        with pytest.raises(duckdb.Error):
            land(con, [_batch([{"a": "2"}], {"pos": 2}),
                       _batch([{"a": "3"}], {"pos": 3})], "run-1")
        assert load_cursor(con, "township") == {"pos": 1}
        assert con.execute("SELECT count(*) FROM raw.records").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM ops.batches").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM ops.manifests").fetchone() == (1,)


def test_unparsed_records_keep_their_text(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    table = build_table("grid", "x.jsonl", ["a"], {"a": [None]}, [3],
                        parse_errors=["not JSON"], raw_texts=["{broken"])
    with session(db) as con:
        land(con, [RawBatch("grid", "x.jsonl", table, ("a",), {})], "run-1")
        assert con.execute("SELECT parse_error, raw_text, record FROM raw.records").fetchone() \
            == ("not JSON", "{broken", None)


def test_read_only_session_needs_an_existing_warehouse(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="no warehouse"), \
            session(tmp_path / "none.duckdb", read_only=True):
        pass

