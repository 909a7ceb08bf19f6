"""Landing raw batches: rows, batch records, their manifests (warehouse.manifests) and the
source's new cursor in one transaction.

If the process dies before COMMIT, neither the rows nor the cursor move, so the next
extraction starts where the last landed batch ended: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import duckdb
import pyarrow as pa

from connectors.base import LINEAGE_COLUMNS, RawBatch
from warehouse.manifests import seal_batches

from .db import transaction


def load_cursor(con: duckdb.DuckDBPyConnection, key: str) -> dict[str, Any] | None:
    """The stored cursor under `key` (a source's name, or a one-off ingestion's key)."""
    rows = con.execute("SELECT cursor FROM ops.cursors WHERE source = ?", [key]).fetchall()
    return json.loads(rows[0][0]) if rows else None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def land(con: duckdb.DuckDBPyConnection, batches: Sequence[RawBatch], run_id: str,
         cursor_key: str | None = None) -> list[int]:
    """Land batches of one source and advance its cursor, in one transaction.

    Cursors are cumulative, so the last batch's cursor covers the whole group. Batches
    with the same columns are inserted together (one INSERT per column layout, not per
    batch). The cursor is stored under `cursor_key` (default: the source's name; a
    one-off ingestion of another path keeps its own). Returns the batch ids in order.
    """
    if not batches:
        return []
    source = batches[0].source
    if any(b.source != source for b in batches):
        raise ValueError("a landing group must hold one source's batches")
    with transaction(con, "land"):
        ids = [int(i) for (i,) in con.execute(
            "SELECT nextval('ops.batch_id_seq') FROM range(?)", [len(batches)]).fetchall()]
        meta = pa.table({
            "batch_id": pa.array(ids, pa.int64()),
            "origin": [b.origin for b in batches],
            "columns": pa.array([list(b.columns) for b in batches], pa.list_(pa.string())),
            "rows": pa.array([b.num_rows for b in batches], pa.int64()),
            "notes": pa.array([list(b.notes) for b in batches], pa.list_(pa.string())),
        })
        con.register("meta", meta)
        con.execute("INSERT INTO ops.batches (batch_id, run_id, source, origin, columns, rows, "
                    "notes, landed_at) SELECT batch_id, ?, ?, origin, columns, rows, notes, "
                    "now() FROM meta", [run_id, source])
        con.unregister("meta")
        layouts: dict[tuple[str, ...], list[tuple[int, pa.Table]]] = {}
        for batch_id, batch in zip(ids, batches, strict=True):
            if batch.num_rows:
                layout = tuple(batch.records.column_names)
                layouts.setdefault(layout, []).append((batch_id, batch.records))
        for tables in layouts.values():
            _insert(con, _with_batch_ids(tables))
        seal_batches(con, ids)
        con.execute(
            "INSERT INTO ops.cursors VALUES (?, ?, ?, now()) ON CONFLICT (source) DO UPDATE "
            "SET cursor = excluded.cursor, batch_id = excluded.batch_id, updated_at = now()",
            [cursor_key or source, json.dumps(batches[-1].cursor, ensure_ascii=False), ids[-1]],
        )
    return ids


def _with_batch_ids(tables: list[tuple[int, pa.Table]]) -> pa.Table:
    """The batches' records as one table with their `_batch_id`, in one contiguous chunk.

    A group may hold thousands of tiny batches (a township file has a dozen rows), and
    DuckDB scans an Arrow table chunk by chunk: one chunk makes the INSERT one big scan
    instead of thousands of small ones.
    """
    records = pa.concat_tables([t for _, t in tables])
    with suppress(pa.ArrowInvalid):  # over 2 GiB of text in a column: leave it in chunks
        records = records.combine_chunks()
    batch_ids = pa.array([i for i, t in tables for _ in range(t.num_rows)], pa.int64())
    return records.append_column("_batch_id", batch_ids)


def _insert(con: duckdb.DuckDBPyConnection, records: pa.Table) -> None:
    source_columns = [c for c in records.column_names
                      if c not in LINEAGE_COLUMNS and c != "_batch_id"]
    if source_columns:
        fields = ", ".join(f"{_quote(c)} := b.{_quote(c)}" for c in source_columns)
        record = f"CASE WHEN b._parse_error IS NULL THEN to_json(struct_pack({fields})) END"
    else:
        record = "NULL::JSON"
    con.register("b", records)
    try:
        con.execute(
            f"INSERT INTO raw.records SELECT b._batch_id, b._source, b._origin, b._row, "  # noqa: S608
            f"b._raw_hash, b._parse_error, b._raw_text, {record} FROM b")
    finally:
        con.unregister("b")
