"""The warehouse side of the county → province sync: what to send, and what was sent.

Reads every linked case that holds a county record (the county's golden record of it and
its parties, numbers still as ciphertext) and keeps the sync tables of migrations 0007 and 0011: the
ledger (per case, the hash the province last acknowledged), the receipts as received, and
reconciliation results.
Writes go in as Arrow tables, one statement per batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from .db import transaction
from .golden import golden_sql, parties_sql


@dataclass(frozen=True)
class Sent:
    content_hash: str
    remote_id: str


@dataclass
class CountyCase:
    """A linked case that holds records of the county: what the county sends for it."""

    case_id: str
    #: the county's case numbers in the case (its records), re-registrations the county
    #: merged last, then by registration: the first is the case's own number unless the
    #: province already knows it under another (see silobridge.sync.principal_key)
    keys: list[str]
    #: the county's golden record of the case and its parties (the survivorship rules of
    #: warehouse.golden over the case's county records), numbers still as ciphertext and
    #: link keys
    golden: dict[str, Any]
    parties: list[dict[str, Any]]
    #: the province's ids among the case's records (copies, and copies the legacy sync
    #: made without the county's number, linked by evidence)
    province_ids: list[str]


def county_cases(con: duckdb.DuckDBPyConnection, source: str, county_code: str
                 ) -> list[CountyCase]:
    """Every linked case holding a current `source` record of the county, by case id."""
    scope = """
        SELECT DISTINCT r.case_id FROM core.records r JOIN staging.cases s USING (batch_id, row_no)
        WHERE r.source = $source AND s.county_code = $county"""
    keys = con.sql(f"""
        SELECT r.case_id,
               list(s.source_record_id ORDER BY s.status IS NOT DISTINCT FROM 'merged',
                    coalesce(s.reported_at, s.occurred_at), s.source_record_id)
                   FILTER (WHERE r.source = $source),
               list(r.source_record_id ORDER BY r.source_record_id)
                   FILTER (WHERE r.source = 'province')
        FROM core.records r JOIN staging.cases s USING (batch_id, row_no)
        WHERE r.case_id IN ({scope})
        GROUP BY r.case_id""",  # noqa: S608 - a constant subquery
                   params={"source": source, "county": county_code}).fetchall()
    # the county's own golden record of each case: the survivorship rules over the case's
    # county records alone (the original and its re-registrations). Fields the other
    # levels add (the grid's location, a township's acceptance time) belong to the
    # warehouse's view, not to what the county reports up: mixed in, the times of two
    # systems need not even keep their order
    records = (f"(SELECT * FROM core.records WHERE source = $source "  # noqa: S608
               f"AND case_id IN ({scope}))")
    cases = con.sql(f"SELECT * FROM ({golden_sql(records)}) ORDER BY case_id",  # noqa: S608
                    params={"source": source, "county": county_code}).to_arrow_table()
    parties = con.sql(f"SELECT * FROM ({parties_sql(records)}) ORDER BY case_id, party_key",  # noqa: S608
                      params={"source": source, "county": county_code}).to_arrow_table()
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in parties.to_pylist():
        by_case[p["case_id"]].append(p)
    numbers = {case_id: (own, remote or []) for case_id, own, remote in keys}
    return [CountyCase(c["case_id"], numbers[c["case_id"]][0], c, by_case.get(c["case_id"], []),
                       numbers[c["case_id"]][1])
            for c in cases.to_pylist()]


def created_remote_ids(con: duckdb.DuckDBPyConnection, target: str) -> set[str]:
    """The target's ids of the copies our uploads created (receipts saying 新增)."""
    return {rid for (rid,) in con.execute(
        "SELECT remote_id FROM ops.sync_receipts WHERE target = ? AND result = '新增'",
        [target]).fetchall()}


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
    """Log what changed since the last reconciliation: a row for every case key whose
    state, copies, duplicate, remote id or differing fields changed (or that is new), and
    a 'gone' row for a key no case goes under any more. So the log is a history of
    changes (marts.sync_status shows each key's newest row), and a reconciliation that
    finds everything as it was writes nothing."""
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("case_id", pa.string()), ("case_key", pa.string()), ("state", pa.string()),
        ("copies", pa.int32()), ("duplicate", pa.string()), ("remote_id", pa.string()),
        ("fields", pa.list_(pa.string()))]))
    con.register("_reconciled", table)
    try:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _last AS
            SELECT * FROM ops.sync_reconciliation WHERE target = $target
            QUALIFY row_number() OVER (PARTITION BY case_key
                                       ORDER BY checked_at DESC, run_id DESC) = 1""",
                    {"target": target})
        con.execute("""
            INSERT INTO ops.sync_reconciliation BY NAME
            SELECT $run AS run_id, $target AS target, n.case_key, n.state, n.copies,
                   n.remote_id, n.fields, now() AS checked_at, n.case_id, n.duplicate
            FROM _reconciled n LEFT JOIN _last l USING (case_key)
            WHERE l.case_key IS NULL
               OR (n.case_id, n.state, n.copies, n.duplicate, n.remote_id, n.fields)
                  IS DISTINCT FROM (l.case_id, l.state, l.copies, l.duplicate, l.remote_id,
                                    l.fields)
            UNION ALL
            SELECT $run, $target, l.case_key, 'gone', 0, NULL, NULL, now(), l.case_id, NULL
            FROM _last l
            WHERE l.state <> 'gone'
              AND l.case_key NOT IN (SELECT case_key FROM _reconciled)""",
                    {"run": run_id, "target": target})
        con.execute("DROP TABLE _last")
    finally:
        con.unregister("_reconciled")
