"""The sync's reconciliation log names the entity under the engine's column (migration
0016): a warehouse of an earlier release keeps every logged row, and the pack's mart
reading the log shows them, under the domain's own column name, once it is built again."""

from __future__ import annotations

from pathlib import Path

import duckdb

from silobridge.marts import pack_marts
from warehouse.db import session
from warehouse.marts import build_marts
from warehouse.sync_ledger import record_reconciliation


def _reconcile(con: duckdb.DuckDBPyConnection, run_id: str, entity_id: str) -> None:
    record_reconciliation(con, run_id, "province", [
        {"entity_id": entity_id, "case_key": "K-1", "state": "in_sync", "copies": 1,
         "duplicate": None, "remote_id": "R-1", "fields": []}])


def test_an_earlier_warehouse_keeps_its_reconciliations(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    with session(db) as con:
        _reconcile(con, "sync-1", "C1")
    con = duckdb.connect(str(db))
    try:  # as migration 0015 left it: the entity under the first pack's name for it
        con.execute("ALTER TABLE ops.sync_reconciliation RENAME COLUMN entity_id TO case_id")
        con.execute("DELETE FROM ops.schema_migrations WHERE version = 16")
    finally:
        con.close()
    with session(db) as con:  # opening applies 0016
        assert con.execute("SELECT entity_id, case_key FROM ops.sync_reconciliation"
                           ).fetchall() == [("C1", "K-1")]
        # a change of entity is a change the log records; the same row again is not
        _reconcile(con, "sync-2", "C1")
        _reconcile(con, "sync-3", "C2")
        assert con.execute("SELECT run_id, entity_id FROM ops.sync_reconciliation "
                           "ORDER BY run_id").fetchall() == [("sync-1", "C1"), ("sync-3", "C2")]
        build_marts(con, pack_marts())
        assert con.execute("SELECT case_id, county_case_no, state FROM marts.sync_status"
                           ).fetchall() == [("C2", "K-1", "in_sync")]
