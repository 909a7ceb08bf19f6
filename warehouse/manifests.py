"""Tamper evidence: batch manifests and ledger seals in hash chains, and their check.

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

`verify` recomputes the rows hashes in one pass over raw.records (DuckDB renders and
orders the rows, hashlib hashes them), the chains in Python (one short hash per entry),
and compares everything the manifests and seals state with the tables as they are now,
set-based in DuckDB. Rows and accounting already there when migration 0009
ran are sealed by it as they stood ("sealed at upgrade").

Crash semantics: sealing runs inside its caller's transaction, so a crash seals nothing
that was not also written; `verify` only reads (its queries share one snapshot).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
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
#: findings kept in a report (the first one is what matters; the total is always given)
MAX_FINDINGS = 100


@dataclass(frozen=True)
class _Chain:
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


MANIFESTS = _Chain("ops.manifests", MANIFEST_FIELDS, "batch_id", "manifest", "batch",
                   lists=("columns",))
SEALS = _Chain("ops.ledger_seals", SEAL_FIELDS, "seal_id", "seal", "seal")

#: a raw.records row as the rows hash sees it: every column, in this order
ROW_COLUMNS = ("source", "origin", "row_no", "raw_hash", "parse_error", "raw_text", "record")
# Each value length-prefixed ("5:hello", NULL as "-"), so no edit can shift text from one
# column to the next, and built from plain string functions only, whose output a DuckDB
# upgrade will not change (JSON rendering might).
_ROW_TEXT = "concat({})".format(", ".join(
    f"coalesce(strlen(CAST({c} AS VARCHAR)) || ':' || CAST({c} AS VARCHAR), '-')"
    for c in ROW_COLUMNS))
_EMPTY_ROWS_HASH = hashlib.sha256(b"").hexdigest()
#: rows per Arrow part streamed out of DuckDB while hashing (bounds the memory held)
_STREAM_ROWS = 100_000


def _raw_digests(con: duckdb.DuckDBPyConnection, where: str) -> pa.Table:
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


def _append(con: duckdb.DuckDBPyConnection, chain: _Chain, entries: list[tuple[Any, ...]],
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
               _raw_digests(con, f"batch_id BETWEEN {lo} AND {hi}").to_pylist()}
    none = {"rows": 0, "error_rows": 0, "rows_hash": _EMPTY_ROWS_HASH}   # an empty batch
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


@dataclass
class Finding:
    """What differs for one batch (or, for a replay's ledger row, one seal)."""

    batch_id: int | None
    source: str | None
    origin: str | None
    differs: list[str] = field(default_factory=list)   # short names: "rows hash", ...
    details: list[str] = field(default_factory=list)   # one sentence per difference
    seal_id: int | None = None

    def add(self, what: str, detail: str) -> None:
        if what not in self.differs:
            self.differs.append(what)
        self.details.append(detail)

    def describe(self) -> str:
        where = (f"batch {self.batch_id}" if self.batch_id is not None
                 else f"ledger seal {self.seal_id}" if self.seal_id is not None
                 else "an unsealed ledger row")
        return f"{where} ({self.source}, {self.origin or 'no origin'}): " + "; ".join(self.details)


@dataclass
class Verification:
    ok: bool
    batches: int
    rows: int
    ledger_entries: int
    sealed_at_upgrade: dict[str, int]
    head: dict[str, Any]            # the newest manifest: batch_id and hash
    ledger_head: dict[str, Any]     # the newest seal: seal_id and hash
    findings_total: int
    first: Finding | None
    findings: list[Finding]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Findings:
    """Findings by batch (or by seal, for rows with no batch), first in batch order."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[int, int], Finding] = {}

    def on_batch(self, batch_id: int, source: str | None, origin: str | None) -> Finding:
        key = (0, batch_id)
        if key not in self._by_key:
            self._by_key[key] = Finding(batch_id, source, origin)
        found = self._by_key[key]
        found.source = found.source or source
        found.origin = found.origin or origin
        return found

    def on_seal(self, seal_id: int | None, batch_id: int | None, source: str | None,
                origin: str | None = None) -> Finding:
        if batch_id is not None:
            found = self.on_batch(batch_id, source, origin)
            found.seal_id = found.seal_id or seal_id
            return found
        # a replay's row that no seal covers sorts last, each on its own
        key = (1, seal_id if seal_id is not None else 2**62 + len(self._by_key))
        if key not in self._by_key:
            self._by_key[key] = Finding(None, source, None, seal_id=seal_id)
        return self._by_key[key]

    def ordered(self) -> list[Finding]:
        return [self._by_key[k] for k in sorted(self._by_key)]


def verify(con: duckdb.DuckDBPyConnection) -> Verification:
    """Recompute every manifest and seal and compare them with the warehouse as it is."""
    started = time.perf_counter()
    found = _Findings()
    con.execute("BEGIN")
    try:
        _check_batches(con, found)
        head = _check_chain(con, MANIFESTS, lambda e: found.on_batch(e[0], e[2], e[3]))
        _check_ledger(con, found)
        ledger_head = _check_chain(con, SEALS, lambda e: found.on_seal(e[0], e[4], e[3]))
        batches, rows, upgraded = con.execute(
            "SELECT count(*), coalesce(sum(rows), 0), count(*) FILTER (sealed_by = 'upgrade') "
            "FROM ops.manifests").fetchall()[0]
        entries, entries_upgraded = con.execute(
            "SELECT count(*), count(*) FILTER (sealed_by = 'upgrade') FROM ops.ledger_seals"
        ).fetchall()[0]
    finally:
        con.execute("ROLLBACK")
    ordered = found.ordered()
    return Verification(
        ok=not ordered, batches=batches, rows=int(rows), ledger_entries=entries,
        sealed_at_upgrade={"batches": upgraded, "ledger_entries": entries_upgraded},
        head=head, ledger_head=ledger_head, findings_total=len(ordered),
        first=ordered[0] if ordered else None, findings=ordered[:MAX_FINDINGS],
        seconds=round(time.perf_counter() - started, 3))


def _check_batches(con: duckdb.DuckDBPyConnection, found: _Findings) -> None:
    """Each batch as stored now against its manifest (set-based: differing batches only)."""
    con.register("_raw", _raw_digests(con, "true"))
    try:
        differing = con.execute(f"""
            WITH s AS (
                SELECT coalesce(b.batch_id, r.batch_id) AS batch_id,
                       b.batch_id IS NOT NULL AS listed, b.run_id, b.source, b.origin,
                       b.columns, b.rows AS listed_rows, coalesce(r.rows, 0) AS rows,
                       coalesce(r.error_rows, 0) AS error_rows,
                       coalesce(r.rows_hash, '{_EMPTY_ROWS_HASH}') AS rows_hash
                FROM ops.batches b FULL OUTER JOIN _raw r USING (batch_id))
            SELECT coalesce(s.batch_id, m.batch_id), coalesce(s.listed, false),
                   m.batch_id IS NOT NULL, s.source, s.origin, m.source, m.origin,
                   s.run_id, m.run_id, s.columns, m.columns, s.listed_rows,
                   coalesce(s.rows, 0), m.rows, coalesce(s.error_rows, 0), m.error_rows,
                   coalesce(s.rows_hash, '{_EMPTY_ROWS_HASH}'), m.rows_hash
            FROM s FULL OUTER JOIN ops.manifests m USING (batch_id)
            WHERE m.batch_id IS NULL OR NOT coalesce(s.listed, false)
               OR s.rows IS DISTINCT FROM m.rows OR s.listed_rows IS DISTINCT FROM m.rows
               OR s.error_rows IS DISTINCT FROM m.error_rows
               OR s.rows_hash IS DISTINCT FROM m.rows_hash
               OR (s.run_id, s.source, s.origin, s.columns)
                  IS DISTINCT FROM (m.run_id, m.source, m.origin, m.columns)
            ORDER BY 1""").fetchall()  # noqa: S608
    finally:
        con.unregister("_raw")
    for (batch_id, listed, has_manifest, source, origin, m_source, m_origin, run_id, m_run,
         columns, m_columns, listed_rows, rows, m_rows, error_rows, m_error_rows, rows_hash,
         m_rows_hash) in differing:
        f = found.on_batch(batch_id, m_source or source, m_origin or origin)
        if not has_manifest:
            f.add("no manifest", "the batch has no manifest (landed unsealed, or its "
                  "manifest was deleted)")
            continue
        if not listed:
            f.add("batch deleted", f"its ops.batches row is gone and {m_rows - rows} of its "
                  f"{m_rows} raw rows")
            continue
        if listed_rows != m_rows:
            f.add("counts", f"ops.batches says {listed_rows} rows, the manifest {m_rows}")
        if rows != m_rows or error_rows != m_error_rows:
            f.add("counts", f"raw.records holds {rows} rows ({error_rows} error records), "
                  f"the manifest {m_rows} ({m_error_rows})")
        if rows_hash != m_rows_hash:
            f.add("rows hash", f"the rows hash to {rows_hash[:16]}…, the manifest says "
                  f"{m_rows_hash[:16]}…")
        if (run_id, source, origin, list(columns)) != \
                (m_run, m_source, m_origin, list(m_columns)):
            f.add("batch fields", "ops.batches' run, source, origin or columns differ from "
                  "the manifest's")


def _check_chain(con: duckdb.DuckDBPyConnection, chain: _Chain,
                 finding_of: Callable[[list[Any]], Finding]) -> dict[str, Any]:
    """Recompute a chain in order: every entry's own hash, and its link to the one before.
    Returns its head (the last entry's id and hash)."""
    what = chain.what
    lists = [i for i, f in enumerate(chain.fields) if f in chain.lists]
    prev, last = GENESIS, None
    for *entry, prev_hash, stored in con.execute(
            f"SELECT {chain.select()}, prev_hash, hash FROM {chain.table} "  # noqa: S608
            f"ORDER BY {chain.order}").fetchall():
        for i in lists:
            entry[i] = json.loads(entry[i])
        if chain_hash(prev_hash, entry) != stored:
            finding_of(entry).add(f"{what} hash", f"the {what}'s hash does not match its fields")
        if prev_hash != prev:
            before = f"{chain.label} {last}'s" if last is not None else "the chain's start"
            finding_of(entry).add("chain link", f"its {what} does not link to the one before "
                                  f"({before}): a {what} between them is gone, or was rewritten")
        prev, last = stored, entry[0]
    return {chain.order: last, "hash": prev}


def _check_ledger(con: duckdb.DuckDBPyConnection, found: _Findings) -> None:
    """ops.accounting against its seals (paired by key), and ingest seals against batches."""
    key = ", ".join(SEAL_KEY)
    counts = ", ".join(SEAL_COUNTS)
    for (seal_id, batch_id, source, origin, run_id, a_counts, s_counts) in con.execute(f"""
            WITH a AS (SELECT {key}, [{counts}] AS counts, row_number() OVER (
                           PARTITION BY {key} ORDER BY {counts}) AS n FROM ops.accounting),
                 s AS (SELECT seal_id, {key}, [{counts}] AS counts, row_number() OVER (
                           PARTITION BY {key} ORDER BY {counts}, seal_id) AS n
                       FROM ops.ledger_seals)
            SELECT s.seal_id, coalesce(s.batch_id, a.batch_id) AS batch_id,
                   coalesce(s.source, a.source), m.origin, coalesce(s.run_id, a.run_id),
                   a.counts, s.counts
            FROM a FULL OUTER JOIN s ON a.run_id = s.run_id AND a.kind = s.kind
                AND a.source = s.source AND a.batch_id IS NOT DISTINCT FROM s.batch_id
                AND a.n = s.n
            LEFT JOIN ops.manifests m ON m.batch_id = coalesce(s.batch_id, a.batch_id)
            WHERE a.counts IS DISTINCT FROM s.counts
            ORDER BY 2 NULLS LAST, 1""").fetchall():  # noqa: S608
        f = found.on_seal(seal_id, batch_id, source, origin)
        shown = dict(zip(SEAL_COUNTS, a_counts or [], strict=False))
        sealed = dict(zip(SEAL_COUNTS, s_counts or [], strict=False))
        if s_counts is None:
            f.add("ledger", f"run {run_id}: an accounting row no seal covers {shown}")
        elif a_counts is None:
            f.add("ledger", f"run {run_id}: a sealed accounting row is gone {sealed}")
        else:
            f.add("ledger", f"run {run_id}: accounting says {shown}, sealed {sealed}")
    # an ingested batch names the run that accounted it; read is the rows it landed
    for batch_id, source, origin, ingested_run, sealed_run, read, m_rows in con.execute("""
            SELECT b.batch_id, b.source, b.origin, b.ingested_run, s.run_id, s.read, m.rows
            FROM ops.batches b JOIN ops.manifests m USING (batch_id)
            LEFT JOIN (SELECT * FROM ops.ledger_seals WHERE kind = 'ingest') s USING (batch_id)
            WHERE b.ingested_run IS DISTINCT FROM s.run_id OR s.read <> m.rows
            ORDER BY b.batch_id""").fetchall():
        f = found.on_batch(batch_id, source, origin)
        if ingested_run != sealed_run:
            f.add("ledger", f"ops.batches says ingested by {ingested_run}, the sealed "
                  f"ledger by {sealed_run}")
        else:
            f.add("ledger", f"the sealed ledger read {read} rows, the manifest holds {m_rows}")
