"""Landed batches on their way in (ops.batches, ops.drift): which wait to be ingested or
gated, what their files held, the drift of their columns, and when they were ingested.

Landing writes a batch's row (warehouse.landing); an ingest reads the batches still
waiting, notes the drift of their columns against the mapping that reads them, and marks
them ingested in the transaction that stages their records; the gate then reads the
ingested batches not yet gated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa


def waiting(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple[int, int]]:
    """(batch_id, rows) of every landed batch of `source` not ingested yet, in order."""
    return con.execute(
        "SELECT batch_id, rows FROM ops.batches WHERE source = ? AND ingested_run IS NULL "
        "ORDER BY batch_id", [source]).fetchall()


def ungated(con: duckdb.DuckDBPyConnection, source: str) -> list[int]:
    """The batch ids of `source` that are ingested and have no gate yet, in order."""
    return [b for (b,) in con.execute(
        "SELECT batch_id FROM ops.batches WHERE source = ? AND ingested_run IS NOT NULL "
        "AND gate IS NULL ORDER BY batch_id", [source]).fetchall()]


def without_records(con: duckdb.DuckDBPyConnection, batch_ids: Sequence[int],
                    kinds: Mapping[str, str]) -> list[dict[str, Any]]:
    """The batches of files that held no records, as the connector noted them: each
    batch's notes found in `kinds` (note → kind of file), in batch order."""
    return [{"batch_id": batch_id, "origin": origin, "kind": kinds[note], "note": note}
            for batch_id, origin, notes in con.execute(
                "SELECT batch_id, origin, notes FROM ops.batches WHERE batch_id = ANY(?) "
                "AND rows = 0 ORDER BY batch_id", [list(batch_ids)]).fetchall()
            for note in (notes or []) if note in kinds]


def headers(con: duckdb.DuckDBPyConnection,
            batch_ids: Sequence[int]) -> list[tuple[int, str, list[str] | None]]:
    """(batch_id, origin, columns) of each batch, in order: the header its file had."""
    return con.execute(
        "SELECT batch_id, origin, columns FROM ops.batches WHERE batch_id = ANY(?) "
        "ORDER BY batch_id", [list(batch_ids)]).fetchall()


def record_drift(con: duckdb.DuckDBPyConnection, run_id: str, source: str,
                 found: Sequence[Mapping[str, Any]]) -> None:
    """Note each drift finding (batch_id, origin, kind, column, expected) in ops.drift."""
    if not found:
        return
    con.register("_drift", pa.Table.from_pylist(list(found)))
    try:
        con.execute("INSERT INTO ops.drift SELECT ?, ?, batch_id, origin, kind, \"column\", "
                    "expected, now() FROM _drift", [run_id, source])
    finally:
        con.unregister("_drift")


def mark_ingested(con: duckdb.DuckDBPyConnection, run_id: str,
                  batch_ids: Sequence[int]) -> None:
    con.execute("UPDATE ops.batches SET ingested_run = ? WHERE batch_id = ANY(?)",
                [run_id, list(batch_ids)])
