"""Landing raw batches: rows, batch records and the source's new cursor in one transaction.

If the process dies before COMMIT, neither the rows nor the cursor move, so the next
extraction starts where the last landed batch ended: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import duckdb

from connectors.base import LINEAGE_COLUMNS, RawBatch


def load_cursor(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, Any] | None:
    row = con.execute("SELECT cursor FROM ops.cursors WHERE source = ?", [source]).fetchone()
    return json.loads(row[0]) if row else None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def land(con: duckdb.DuckDBPyConnection, batches: Sequence[RawBatch], run_id: str) -> list[int]:
    """Land batches of one source and advance its cursor, in one transaction.

    Cursors are cumulative, so the last batch's cursor covers the whole group. Returns
    the batch ids in order.
    """
    if not batches:
        return []
    source = batches[0].source
    if any(b.source != source for b in batches):
        raise ValueError("a landing group must hold one source's batches")
    ids: list[int] = []
    con.execute("BEGIN")
    try:
        for batch in batches:
            ids.append(_insert(con, batch, run_id))
        con.execute(
            "INSERT INTO ops.cursors VALUES (?, ?, ?, now()) ON CONFLICT (source) DO UPDATE "
            "SET cursor = excluded.cursor, batch_id = excluded.batch_id, updated_at = now()",
            [source, json.dumps(batches[-1].cursor, ensure_ascii=False), ids[-1]],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return ids


def _insert(con: duckdb.DuckDBPyConnection, batch: RawBatch, run_id: str) -> int:
    records = batch.records
    source_columns = [c for c in records.column_names if c not in LINEAGE_COLUMNS]
    if source_columns:
        fields = ", ".join(f"{_quote(c)} := b.{_quote(c)}" for c in source_columns)
        record = f"CASE WHEN b._parse_error IS NULL THEN to_json(struct_pack({fields})) END"
    else:
        record = "NULL::JSON"
    (batch_id,) = con.execute("SELECT nextval('ops.batch_id_seq')").fetchone()
    con.execute(
        "INSERT INTO ops.batches VALUES (?, ?, ?, ?, ?, ?, ?, now())",
        [batch_id, run_id, batch.source, batch.origin, list(batch.columns), batch.num_rows,
         list(batch.notes)],
    )
    if batch.num_rows:
        con.register("b", records)
        try:
            con.execute(
                f"INSERT INTO raw.records SELECT ?, b._source, b._origin, b._row, b._raw_hash, "  # noqa: S608
                f"b._parse_error, b._raw_text, {record} FROM b",
                [batch_id],
            )
        finally:
            con.unregister("b")
    return int(batch_id)
