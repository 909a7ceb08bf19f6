"""Tamper evidence: batch manifests and ledger seals in hash chains.

What is sealed, and when:
- Every landed batch gets a manifest in its landing transaction (warehouse.landing):
  its identity in ops.batches (run, source, origin, columns), how many raw.records rows
  it stored and how many of them are error records, and `rows_hash`, a sha256 over those
  rows as stored (every column of every row, in row order). Any UPDATE, DELETE or INSERT
  of a raw row changes its batch's count or rows hash.
- Every ops.accounting row gets a seal in the transaction that writes it (an ingest
  chunk, a quarantine replay): its key (run, kind, source, batch) and its counts. A
  replay adds accounting rows and seals them; it never changes an earlier row, so a
  pipeline run only ever appends to both chains.

Both chains link each entry to the one before: hash = sha256(prev_hash, fields), so an
entry edited in place no longer matches its hash, and one rewritten or deleted breaks
the link of the next. One chain per kind for the whole warehouse (not per source):
DuckDB lets one writer in at a time, so appends never race, and one head per chain is
all an operator has to write down to catch a consistent rewrite later (see README).
The manifests are ordered by batch_id (one sequence hands them out, in landing order),
the seals by seal_id.

`verify` (warehouse.manifest_check) recomputes every hash and compares what the
manifests and seals state with the tables as they are now. Rows and accounting already
there when migration 0009 ran are sealed by it as they stood ("sealed at upgrade").

Crash semantics: sealing runs inside its caller's transaction, so a crash seals nothing
that was not also written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

GENESIS = "0" * 64
#: the fields a manifest states and its hash covers, in hash order (ops.manifests columns)
MANIFEST_FIELDS = ("batch_id", "run_id", "source", "origin", "columns", "rows", "error_rows",
                   "rows_hash")
#: the same for a ledger seal (ops.ledger_seals columns); the key is all but the counts
SEAL_KEY = ("run_id", "kind", "source", "batch_id")
SEAL_COUNTS = ("read", "loaded", "quarantined", "duplicates")
SEAL_FIELDS = ("seal_id", *SEAL_KEY, *SEAL_COUNTS)


@dataclass(frozen=True)
class Chain:
    """One hash chain: its table, the fields its hash covers, and what it orders by."""

    table: str
    fields: tuple[str, ...]
    order: str
    what: str    # how a finding names an entry: "manifest", "seal"
    label: str   # how it names the entry's id: "batch", "seal"
    #: list fields: read as JSON text (DuckDB hands Python lists ~5x slower than text)
    lists: tuple[str, ...] = ()

    def select(self) -> str:
        return ", ".join(f"CAST(to_json({f}) AS VARCHAR)" if f in self.lists else f
                         for f in self.fields)


MANIFESTS = Chain("ops.manifests", MANIFEST_FIELDS, "batch_id", "manifest", "batch",
                   lists=("columns",))
SEALS = Chain("ops.ledger_seals", SEAL_FIELDS, "seal_id", "seal", "seal")

#: a raw.records row as the rows hash sees it: every column, in this order
ROW_COLUMNS = ("source", "origin", "row_no", "raw_hash", "parse_error", "raw_text", "record")
# Each value length-prefixed ("5:hello", NULL as "-"), so no edit can shift text from one
# column to the next, and built from plain string functions only, whose output a DuckDB
# upgrade will not change (JSON rendering might).
_ROW_TEXT = "concat({})".format(", ".join(
    f"coalesce(strlen(CAST({c} AS VARCHAR)) || ':' || CAST({c} AS VARCHAR), '-')"
    for c in ROW_COLUMNS))
EMPTY_ROWS_HASH = hashlib.sha256(b"").hexdigest()
#: rows per Arrow part streamed out of DuckDB while hashing (bounds the memory held)
_STREAM_ROWS = 100_000


def raw_digests(con: duckdb.DuckDBPyConnection, where: str) -> pa.Table:
    """Per batch id in raw.records (`where` selects them): its rows, its error records
    and its rows hash, sha256 over the rows' text in row order.

    DuckDB builds the rows' text and orders it; Python's hashlib hashes it, straight from
    the Arrow buffers: it uses the CPU's SHA instructions, DuckDB's sha256() does not
    (measured: 10x slower; hashing row by row in DuckDB cost 6.2 s of CPU on 1M rows,
    this 3.3 s). Ties on row_no (none in data a connector lands) are broken by raw_hash,
    not the text, whose sort alone cost 5 s.
    """
    # a relation streams Arrow without copying (execute() would copy every part); it
    # needs the connection free of unfinished results, hence no fetchone() in this module
    parts = con.sql(f"""
        SELECT batch_id, CAST(parse_error IS NOT NULL AS BIGINT) AS error,
               encode({_ROW_TEXT}) AS row_text
        FROM raw.records WHERE {where}
        ORDER BY batch_id, row_no, raw_hash""").to_arrow_reader(_STREAM_ROWS)  # noqa: S608
    ids: list[int] = []
    rows: list[int] = []
    errors: list[int] = []
    hashers: list[Any] = []
    for part in parts:
        batch_ids, texts = part.column(0), part.column(2)
        errors_before = [0, *pc.cumulative_sum(part.column(1)).to_pylist()]
        ends = [i + 1 for i in pc.indices_nonzero(
            pc.not_equal(batch_ids[1:], batch_ids[:-1])).to_pylist()] + [len(batch_ids)]
        # a binary array's rows lie back to back in its data buffer, from its offsets
        width = "q" if pa.types.is_large_binary(texts.type) else "i"
        offsets = memoryview(texts.buffers()[1]).cast(width)[texts.offset:]
        data = memoryview(texts.buffers()[2] or b"")
        start = 0
        for end in ends:
            if start == end:
                continue
            batch_id = batch_ids[start].as_py()
            if not ids or ids[-1] != batch_id:   # a batch may go on into the next part
                ids.append(batch_id)
                rows.append(0)
                errors.append(0)
                hashers.append(hashlib.sha256())
            hashers[-1].update(data[offsets[start]:offsets[end]])
            rows[-1] += end - start
            errors[-1] += errors_before[end] - errors_before[start]
            start = end
    return pa.table({"batch_id": pa.array(ids, pa.int64()),
                     "rows": pa.array(rows, pa.int64()),
                     "error_rows": pa.array(errors, pa.int64()),
                     "rows_hash": pa.array([h.hexdigest() for h in hashers], pa.string())})


def chain_hash(prev_hash: str, fields: Sequence[Any]) -> str:
    """sha256 of the previous entry's hash and this entry's fields (canonical JSON)."""
    text = json.dumps(list(fields), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def _append(con: duckdb.DuckDBPyConnection, chain: Chain, entries: list[tuple[Any, ...]],
            sealed_by: str) -> None:
    """Chain `entries` (tuples of the chain's fields, in chain order) after its head."""
    if not entries:
        return
    head = con.execute(f"SELECT hash FROM {chain.table} "  # noqa: S608
                       f"ORDER BY {chain.order} DESC LIMIT 1").fetchall()
    prev = head[0][0] if head else GENESIS
    prevs, hashes = [], []
    for entry in entries:
        prevs.append(prev)
        prev = chain_hash(prev, entry)
        hashes.append(prev)
    columns = {name: [e[i] for e in entries] for i, name in enumerate(chain.fields)}
    arrow = pa.table({**columns, "prev_hash": prevs, "hash": hashes})
    con.register("_seal", arrow)
    try:
        names = ", ".join([*chain.fields, "prev_hash", "hash"])
        con.execute(f"INSERT INTO {chain.table} ({names}, sealed_by, sealed_at) "  # noqa: S608
                    f"SELECT {names}, ?, now() FROM _seal", [sealed_by])
    finally:
        con.unregister("_seal")


def seal_batches(con: duckdb.DuckDBPyConnection, batch_ids: Sequence[int],
                 sealed_by: str = "landing") -> None:
    """Write the manifests of just-landed batches (inside the landing transaction)."""
    if not batch_ids:
        return
    # landed ids are one nextval range: the bounds let DuckDB skip older row groups
    lo, hi = int(min(batch_ids)), int(max(batch_ids))
    digests = {d.pop("batch_id"): d for d in
               raw_digests(con, f"batch_id BETWEEN {lo} AND {hi}").to_pylist()}
    none = {"rows": 0, "error_rows": 0, "rows_hash": EMPTY_ROWS_HASH}   # an empty batch
    entries = [(batch_id, run_id, source, origin, columns,
                *(digests.get(batch_id, none)[f] for f in ("rows", "error_rows", "rows_hash")))
               for batch_id, run_id, source, origin, columns in con.execute(
                   "SELECT batch_id, run_id, source, origin, columns FROM ops.batches "
                   "WHERE batch_id = ANY(?) ORDER BY batch_id", [list(batch_ids)]).fetchall()]
    _append(con, MANIFESTS, entries, sealed_by)


def seal_accounting(con: duckdb.DuckDBPyConnection, run_id: str, source: str,
                    batch_ids: Sequence[int] | None = None, sealed_by: str = "accounting"
                    ) -> None:
    """Seal the ops.accounting rows this transaction wrote for (run, source): one per
    batch of `batch_ids` (an ingest chunk), or the run's per-source row (a replay)."""
    where = "batch_id = ANY(?)" if batch_ids is not None else "batch_id IS NULL"
    params: list[Any] = [run_id, source] + ([list(batch_ids)] if batch_ids is not None else [])
    rows = con.execute(f"""
        SELECT {", ".join(SEAL_KEY + SEAL_COUNTS)} FROM ops.accounting
        WHERE run_id = ? AND source = ? AND {where}
        ORDER BY batch_id, kind, read, loaded, quarantined, duplicates""", params).fetchall()  # noqa: S608
    _seal_ledger_rows(con, rows, sealed_by)


def _seal_ledger_rows(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]],
                      sealed_by: str) -> None:
    if not rows:
        return
    ids = [i for (i,) in con.execute("SELECT nextval('ops.seal_id_seq') FROM range(?)",
                                     [len(rows)]).fetchall()]
    entries = [(seal_id, *row) for seal_id, row in zip(sorted(ids), rows, strict=True)]
    _append(con, SEALS, entries, sealed_by)


def seal_existing(con: duckdb.DuckDBPyConnection) -> None:
    """Seal what a warehouse held before manifests existed (migration 0009): every batch
    in batch order, every accounting row in the order it was recorded."""
    (ids,) = con.execute("SELECT coalesce(list(batch_id ORDER BY batch_id), []) "
                         "FROM ops.batches").fetchall()[0]
    if ids:
        seal_batches(con, ids, sealed_by="upgrade")
    rows = con.execute(f"""
        SELECT {", ".join(SEAL_KEY + SEAL_COUNTS)} FROM ops.accounting
        ORDER BY recorded_at, batch_id NULLS LAST, run_id, source, kind""").fetchall()  # noqa: S608
    _seal_ledger_rows(con, rows, "upgrade")
