"""The warehouse side of the county → province sync: what to send, and what was sent.

Reads the current version of every county case (with its parties, numbers still as
ciphertext) and keeps the sync tables of migration 0007: the ledger (per case, the hash
the province last acknowledged), the receipts as received, and reconciliation results.
Writes go in as Arrow tables, one statement per batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from .db import transaction


@dataclass(frozen=True)
class Sent:
    content_hash: str
    remote_id: str


def current_cases(con: duckdb.DuckDBPyConnection, source: str, county_code: str
                  ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(case, parties) for the latest version of every `source` record of the county, by key."""
    cases = con.sql("""
        SELECT s.* FROM core.records r JOIN staging.cases s USING (batch_id, row_no)
        WHERE r.source = $source AND s.county_code = $county
        ORDER BY s.source_record_id""",
                    params={"source": source, "county": county_code}).to_arrow_table()
    parties = con.sql("""
        SELECT p.* FROM core.records r
        JOIN staging.cases s USING (batch_id, row_no)
        JOIN staging.parties p USING (batch_id, row_no)
        WHERE r.source = $source AND s.county_code = $county
        ORDER BY p.batch_id, p.row_no, p.seq""",
                      params={"source": source, "county": county_code}).to_arrow_table()
    by_row: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for p in parties.to_pylist():
        by_row[(p["batch_id"], p["row_no"])].append(p)
    return [(c, by_row.get((c["batch_id"], c["row_no"]), [])) for c in cases.to_pylist()]


def ledger(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, Sent]:
    rows = con.execute("SELECT case_key, content_hash, remote_id FROM ops.sync_ledger "
                       "WHERE target = ?", [target]).fetchall()
    return {key: Sent(h, rid) for key, h, rid in rows}


def record_receipts(con: duckdb.DuckDBPyConnection, run_id: str, batch_no: int, target: str,
                    receipts: list[dict[str, str]], hashes: dict[str, str]) -> None:
    """Keep one batch's receipts and move the ledger on, in one transaction."""
    keys = [r["ysjbh"] for r in receipts]
    if len(set(keys)) != len(keys):
        raise ValueError("a batch answered with two receipts for one case key")
    table = pa.table({
        "case_key": [r["ysjbh"] for r in receipts],
        "remote_id": [str(r["id"]) for r in receipts],
        "result": [str(r["result"]) for r in receipts],
        "content_hash": [hashes[r["ysjbh"]] for r in receipts],
    })
    con.register("_receipts", table)
    try:
        with transaction(con, "sync_receipts"):
            con.execute("""
                INSERT INTO ops.sync_receipts
                SELECT $run, $batch, $target, case_key, content_hash, remote_id, result, now()
                FROM _receipts""", {"run": run_id, "batch": batch_no, "target": target})
            con.execute("""
                INSERT INTO ops.sync_ledger
                SELECT $target, case_key, content_hash, remote_id, result, $run, now()
                FROM _receipts
                ON CONFLICT (target, case_key) DO UPDATE SET
                    content_hash = excluded.content_hash, remote_id = excluded.remote_id,
                    result = excluded.result, run_id = excluded.run_id,
                    synced_at = excluded.synced_at""", {"run": run_id, "target": target})
    finally:
        con.unregister("_receipts")


def forget(con: duckdb.DuckDBPyConnection, target: str, keys: list[str]) -> None:
    """Drop cases from the ledger, so that the next sync sends them again."""
    if keys:
        con.execute("DELETE FROM ops.sync_ledger WHERE target = ? AND list_contains(?, case_key)",
                    [target, keys])


def record_reconciliation(con: duckdb.DuckDBPyConnection, run_id: str, target: str,
                          rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("case_key", pa.string()), ("state", pa.string()), ("copies", pa.int32()),
        ("remote_id", pa.string()), ("fields", pa.list_(pa.string()))]))
    con.register("_reconciled", table)
    try:
        con.execute("""
            INSERT INTO ops.sync_reconciliation
            SELECT $run, $target, case_key, state, copies, remote_id, fields, now()
            FROM _reconciled""", {"run": run_id, "target": target})
    finally:
        con.unregister("_reconciled")
