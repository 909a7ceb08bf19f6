"""Accounting: every record read ends loaded, quarantined or a counted duplicate.

Per batch of an ingest chunk (`account_batches`), and per source of a replay
(`account_replay`), read = loaded + quarantined + duplicates is checked, written to
ops.accounting and sealed in the ledger chain (warehouse.manifests), in the caller's
transaction: a chunk that breaks it raises AccountingError and so rolls back whole.
Loaded rows are counted in the pack's staged root table, which the caller names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from .chunks import Chunk
from .manifests import seal_accounting


class AccountingError(RuntimeError):
    """A batch's rows do not add up: read ≠ loaded + quarantined + duplicates."""


@dataclass(frozen=True)
class Counts:
    """What became of a batch's (or a replay's) records."""

    read: int
    loaded: int
    quarantined: int
    duplicates: int = 0


def account_batches(con: duckdb.DuckDBPyConnection, source: str, run_id: str,
                    batch_ids: Sequence[int], chunk: Chunk, staged: str) -> list[Counts]:
    """Count, check, record and seal what run `run_id` made of each batch of `chunk`
    (`staged`: the staged root table, one row per loaded record); in batch order."""
    skipped = (f"(SELECT count(*) FROM {chunk.skip} d JOIN {chunk.rows} i "  # noqa: S608
               "USING (_rid) WHERE i.batch_id = b.batch_id)")
    counted = f"""
        SELECT b.batch_id, b.rows,
               (SELECT count(*) FROM {staged} s
                WHERE s.batch_id = b.batch_id AND s.run_id = ?) AS loaded,
               (SELECT count(*) FROM quarantine.records q
                WHERE q.batch_id = b.batch_id AND q.run_id = ?) AS quarantined,
               {skipped} AS duplicates
        FROM ops.batches b WHERE b.batch_id = ANY(?)"""  # noqa: S608
    params = [run_id, run_id, list(batch_ids)]
    out = []
    for batch_id, read, loaded, quarantined, duplicates in con.execute(
            f"{counted} ORDER BY b.batch_id", params).fetchall():
        if read != loaded + quarantined + duplicates:
            raise AccountingError(
                f"{source} batch {batch_id}: read {read} != loaded {loaded} + quarantined "
                f"{quarantined} + duplicates {duplicates}")
        out.append(Counts(read, loaded, quarantined, duplicates))
    con.execute(f"""
        INSERT INTO ops.accounting
        SELECT ?, 'ingest', ?, batch_id, rows, loaded, quarantined, duplicates, now()
        FROM ({counted})""", [run_id, source, *params])  # noqa: S608
    seal_accounting(con, run_id, source, batch_ids)
    return out


def account_replay(con: duckdb.DuckDBPyConnection, source: str, run_id: str,
                   counts: Counts) -> None:
    """Check, record and seal what replay `run_id` made of the open quarantine of
    `source` (one ops.accounting row without a batch)."""
    if counts.read != counts.loaded + counts.quarantined:
        raise AccountingError(f"replay of {source}: read {counts.read} != loaded "
                              f"{counts.loaded} + quarantined {counts.quarantined}")
    con.execute("INSERT INTO ops.accounting VALUES (?, 'replay', ?, NULL, ?, ?, ?, 0, now())",
                [run_id, source, counts.read, counts.loaded, counts.quarantined])
    seal_accounting(con, run_id, source)
