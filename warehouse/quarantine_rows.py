"""The quarantine's rows: records that did not enter, and why (quarantine.records).

Quarantined records stay in raw.records as received; a row here names one, (batch_id,
row_no), with its origin and raw hash, the mapping that read it (if one did), its
reasons (field, reason, message) and the run that put it here. A replay that now lets a
record in releases its row; one that still refuses it gives the row its new reasons.
Every write runs in its caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import duckdb
import pyarrow as pa

from .chunks import Chunk


class Problem(Protocol):
    """One reason a record is refused (conform.validate.Problem has this shape)."""

    field: str
    reason: str
    message: str


#: a refused record's `_rid` → (the mapping that read it, or None; its problems)
Rejected = Mapping[int, tuple[str | None, Sequence[Problem]]]

_REASON = pa.struct([("field", pa.string()), ("reason", pa.string()),
                     ("message", pa.string())])


def _reasons(problems: Sequence[Problem]) -> list[dict[str, str]]:
    return [{"field": p.field, "reason": p.reason, "message": p.message} for p in problems]


def quarantine(con: duckdb.DuckDBPyConnection, source: str, run_id: str, rejected: Rejected,
               chunk: Chunk) -> None:
    """Quarantine the records of `chunk` that `rejected` names, in `_rid` order."""
    if not rejected:
        return
    rows = pa.table({
        "_rid": pa.array(list(rejected), pa.int64()),
        "mapping": [m for m, _ in rejected.values()],
        "reasons": pa.array([_reasons(problems) for _, problems in rejected.values()],
                            pa.list_(_REASON)),
    })
    con.register("_q", rows)
    try:
        con.execute(f"""
            INSERT INTO quarantine.records (quarantine_id, source, batch_id, row_no, origin,
                raw_hash, mapping, reasons, run_id, quarantined_at)
            SELECT nextval('quarantine.id_seq'), ?, i.batch_id, i.row_no, i.origin,
                   i.raw_hash, q.mapping, q.reasons, ?, now()
            FROM _q q JOIN {chunk.rows} i USING (_rid)
            ORDER BY q._rid""", [source, run_id])  # noqa: S608
    finally:
        con.unregister("_q")


def open_sources(con: duckdb.DuckDBPyConnection, source: str | None = None) -> list[str]:
    """The sources with open rows (only `source`, if given), in order."""
    return [s for (s,) in con.execute(
        "SELECT DISTINCT source FROM quarantine.records WHERE status = 'open' "
        "AND (? IS NULL OR source = ?) ORDER BY source", [source, source]).fetchall()]


def release(con: duckdb.DuckDBPyConnection, run_id: str, quarantine_ids: Sequence[int]) -> None:
    """Mark the rows `quarantine_ids` released by `run_id` (their records are staged)."""
    con.execute("""
        UPDATE quarantine.records SET status = 'released', released_run = ?,
               released_at = now(), attempts = attempts + 1
        WHERE quarantine_id = ANY(?)""", [run_id, list(quarantine_ids)])


def refuse_again(con: duckdb.DuckDBPyConnection, rejected: Rejected) -> None:
    """Give each row `rejected` names (by quarantine id) its new mapping and reasons."""
    for quarantine_id, (mapping, problems) in rejected.items():
        con.execute("""
            UPDATE quarantine.records SET reasons = ?, mapping = ?, attempts = attempts + 1
            WHERE quarantine_id = ?""", [_reasons(problems), mapping, quarantine_id])
