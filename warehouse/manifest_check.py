"""Tamper evidence, checked: every manifest and seal of warehouse.manifests recomputed
and compared with the warehouse as it is now.

`verify` recomputes the rows hashes in one pass over raw.records (DuckDB renders and
orders the rows, hashlib hashes them), the chains in Python (one short hash per entry),
and compares everything the manifests and seals state with the tables as they are now,
set-based in DuckDB. It only reads (its queries share one snapshot).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from .manifests import (
    EMPTY_ROWS_HASH,
    GENESIS,
    MANIFESTS,
    SEAL_COUNTS,
    SEAL_KEY,
    SEALS,
    Chain,
    chain_hash,
    raw_digests,
)

#: findings kept in a report (the first one is what matters; the total is always given)
MAX_FINDINGS = 100


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
    con.register("_raw", raw_digests(con, "true"))
    try:
        differing = con.execute(f"""
            WITH s AS (
                SELECT coalesce(b.batch_id, r.batch_id) AS batch_id,
                       b.batch_id IS NOT NULL AS listed, b.run_id, b.source, b.origin,
                       b.columns, b.rows AS listed_rows, coalesce(r.rows, 0) AS rows,
                       coalesce(r.error_rows, 0) AS error_rows,
                       coalesce(r.rows_hash, '{EMPTY_ROWS_HASH}') AS rows_hash
                FROM ops.batches b FULL OUTER JOIN _raw r USING (batch_id))
            SELECT coalesce(s.batch_id, m.batch_id), coalesce(s.listed, false),
                   m.batch_id IS NOT NULL, s.source, s.origin, m.source, m.origin,
                   s.run_id, m.run_id, s.columns, m.columns, s.listed_rows,
                   coalesce(s.rows, 0), m.rows, coalesce(s.error_rows, 0), m.error_rows,
                   coalesce(s.rows_hash, '{EMPTY_ROWS_HASH}'), m.rows_hash
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


def _check_chain(con: duckdb.DuckDBPyConnection, chain: Chain,
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
