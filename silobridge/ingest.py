"""The ingest step: extract → conform → validate → land, for one source.

After extraction lands raw batches, every batch not yet ingested is processed in chunks,
each in one transaction: exact duplicates (same raw content seen before, in this chunk or
any earlier run) are counted and skipped; unreadable records and records that fail
conforming or the shared models go to the quarantine with their reasons; the rest are
staged. Per batch, read = loaded + quarantined + duplicates is recorded in
ops.accounting (and sealed in the ledger chain, warehouse.manifests), and a chunk that
breaks it rolls back and fails loudly. A file that held no records (empty, blank lines
only, a header only) is a notice of its own ("empty file", "header only"), not a list of
drifted columns.

A chunk's raw records and the duplicates among them are temp tables the chunk's maker
(`_process_chunk` here, the quarantine's replay) creates and hands on by name (`Chunk`) to
the steps that conform, stage, quarantine and account for them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from conform.drift import drift as detect_drift
from conform.engine import conform
from conform.mapping import Mapping, MappingError, select_mapping
from conform.validate import Problem, validate_bulk
from connectors.file_cursor import NO_RECORDS
from connectors.rejects import reason_of
from schemas.grades import protected_fields
from schemas.models import Party
from schemas.reasons import Reason
from schemas.scope import RECEIVED_AT, Scope
from warehouse.db import session, transaction
from warehouse.manifests import seal_accounting
from warehouse.runs import tracked_run
from warehouse.vault import Vault

from . import progress
from .contracts import load_reference, mappings_of, owner
from .extract import ExtractResult, extract_source
from .secrets import vault
from .settings import Settings, SourceName

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000


class AccountingError(RuntimeError):
    """A batch's rows do not add up: read ≠ loaded + quarantined + duplicates."""


@dataclass
class IngestSummary:
    source: str
    run_id: str
    batches: int = 0
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: Counter = field(default_factory=Counter)
    drift: list[dict[str, Any]] = field(default_factory=list)
    #: files that held no records: {batch_id, origin, kind: empty_file | header_only, note}
    notices: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    extract: ExtractResult | None = None

    def add(self, other: IngestSummary) -> None:
        for name in ("batches", "read", "loaded", "quarantined", "duplicates"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.reasons.update(other.reasons)
        self.drift.extend(other.drift)
        self.notices.extend(other.notices)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = dict(sorted(self.reasons.items()))
        out["extract"] = self.extract.to_dict() if self.extract else None
        out["rows_per_s"] = round(self.read / self.seconds, 1) if self.seconds else 0.0
        return out


def ingest_source(settings: Settings, source: SourceName,
                  path: str | None = None) -> IngestSummary:
    """Extract what is new in `source`, then conform, validate and land it.

    `path` reads another file, folder, database URL or API URL with the source's
    connector and mapping, under a cursor of its own.
    """
    started = time.perf_counter()
    cursor_key = None
    if path is not None:
        settings = with_path(settings, source, path)
        cursor_key = f"{source}@{path}"
    extracted = extract_source(settings, source, cursor_key)
    summary = process_pending(settings, source)
    summary.extract = extracted
    summary.seconds = time.perf_counter() - started
    return summary


def with_path(settings: Settings, source: SourceName, path: str) -> Settings:
    """Settings whose `source` reads `path` instead of its configured location."""
    if source == "province":
        change: dict[str, Any] = {"base_url": path}
    elif source == "county":
        change = {"url": path if "://" in path else f"sqlite:///{Path(path).absolute()}"}
    else:
        target = Path(path).absolute()
        if target.is_dir() or not target.exists():
            change = {"path": target}
        else:
            # a township file keeps its township folder in its origin ("330421001/x.csv"):
            # the mapping reads the township code from there
            root = target.parent.parent if target.parent.name.isdigit() else target.parent
            change = {"path": root, "patterns": [str(target.relative_to(root))]}
    config = getattr(settings, source).model_copy(update=change)
    return settings.model_copy(update={source: config})


def process_pending(settings: Settings, source: SourceName) -> IngestSummary:
    """Conform and validate every landed batch of `source` that is not ingested yet."""
    pack = owner(source)
    mappings = mappings_of(settings, pack)
    pii = vault(settings)
    with session(settings.warehouse_path) as con, \
            tracked_run(con, "ingest", source, timed=True) as run:
        run_id = run.run_id
        total = run.summary = IngestSummary(source=source, run_id=run_id)
        registry = load_reference(con, settings, pack)
        pending = con.execute(
            "SELECT batch_id, rows FROM ops.batches WHERE source = ? AND ingested_run IS NULL "
            "ORDER BY batch_id", [source]).fetchall()
        scope = settings.scope
        chunks = _chunks(pending)
        with progress.step(f"conform and validate {source}",
                           total=sum(n for _, n in pending)) as shown:
            for number, chunk in enumerate(chunks, 1):
                done = _process_chunk(con, source, chunk, run_id, mappings, registry,
                                      scope, pii)
                total.add(done)
                shown.update(f"{total.loaded:,} loaded, {total.quarantined:,} quarantined",
                             completed=total.read)
                log.info("%s: chunk %d of %d, %s batches: read %s, loaded %s, "
                         "quarantined %s, duplicates %s (%.1f s)", source, number,
                         len(chunks), f"{done.batches:,}", f"{done.read:,}",
                         f"{done.loaded:,}", f"{done.quarantined:,}",
                         f"{done.duplicates:,}", run.seconds)
    return total


def _chunks(batches: list[tuple[int, int]]) -> list[list[int]]:
    """Group batch ids into chunks of about CHUNK_ROWS rows (a big batch is one chunk)."""
    chunks: list[list[int]] = []
    rows = 0
    for batch_id, n in batches:
        if not chunks or (rows + n > CHUNK_ROWS and rows > 0):
            chunks.append([])
            rows = 0
        chunks[-1].append(batch_id)
        rows += n
    return chunks


def _process_chunk(con: duckdb.DuckDBPyConnection, source: str, batch_ids: list[int],
                   run_id: str, mappings: list[Mapping], registry: object | None,
                   scope: Scope, vault: Vault) -> IngestSummary:
    summary = IngestSummary(source=source, run_id=run_id, batches=len(batch_ids))
    with transaction(con, "ingest"):
        chunk = Chunk()
        ids = pa.table({"batch_id": pa.array(batch_ids, pa.int64())})
        con.register("_batch_ids", ids)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {chunk.rows} AS
            SELECT row_number() OVER (ORDER BY r.batch_id, r.row_no) AS _rid, r.*
            FROM raw.records r JOIN _batch_ids USING (batch_id)""")  # noqa: S608
        con.unregister("_batch_ids")
        # exact duplicates: content seen before, in an earlier run or earlier in this chunk
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {chunk.skip} AS
            SELECT _rid FROM (
                SELECT _rid, raw_hash,
                       row_number() OVER (PARTITION BY raw_hash ORDER BY _rid) AS k
                FROM {chunk.rows}) i
            WHERE k > 1 OR EXISTS (SELECT 1 FROM ops.seen_records s
                                   WHERE s.source = ? AND s.raw_hash = i.raw_hash)""",  # noqa: S608
                    [source])
        rejected: dict[int, tuple[str | None, list[Problem]]] = {}
        for rid, error in con.execute(
                f"SELECT _rid, parse_error FROM {chunk.rows} WHERE parse_error IS NOT NULL "  # noqa: S608
                f"AND _rid NOT IN (SELECT _rid FROM {chunk.skip})").fetchall():
            reason, message = reason_of(error)
            rejected[rid] = (None, [Problem("*", reason.value, message)])
        outcome = conform_and_validate(con, source, mappings, registry, scope, chunk)
        rejected.update(outcome.rejected)
        stage(con, run_id, outcome.cases, outcome.parties, outcome.events, vault, chunk)
        quarantine(con, source, run_id, rejected, chunk)
        for problems in (p for _, p in rejected.values()):
            summary.reasons.update({p.reason for p in problems})
        con.execute(f"""
            INSERT INTO ops.seen_records
            SELECT ?, raw_hash, batch_id, row_no FROM {chunk.rows}
            WHERE _rid NOT IN (SELECT _rid FROM {chunk.skip})""", [source])  # noqa: S608
        summary.notices = _no_records(con, batch_ids)
        summary.drift = _record_drift(con, source, run_id, batch_ids, mappings,
                                      skip={n["batch_id"] for n in summary.notices})
        _account(con, source, run_id, batch_ids, summary, chunk)
        con.execute("UPDATE ops.batches SET ingested_run = ? WHERE batch_id = ANY(?)",
                    [run_id, batch_ids])
        chunk.drop(con)
    return summary


@dataclass(frozen=True)
class Chunk:
    """Raw records in the works, as temp tables named by their maker: `rows` (raw.records'
    columns and a `_rid` per record) and `skip` (the `_rid`s not to stage or quarantine:
    exact duplicates)."""

    rows: str = "_in"
    skip: str = "_dup"

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"DROP TABLE IF EXISTS {self.rows}")
        con.execute(f"DROP TABLE IF EXISTS {self.skip}")


@dataclass
class Outcome:
    """Conformed and validated records of a chunk: tables to stage, and rejected ids."""

    cases: list[pa.Table] = field(default_factory=list)
    parties: list[pa.Table] = field(default_factory=list)
    events: list[pa.Table] = field(default_factory=list)
    rejected: dict[int, tuple[str | None, list[Problem]]] = field(default_factory=dict)
    mappings: dict[str, Mapping] = field(default_factory=dict)


def conform_and_validate(con: duckdb.DuckDBPyConnection, source: str, mappings: list[Mapping],
                         registry: object | None, scope: Scope, chunk: Chunk) -> Outcome:
    """Conform and validate the parseable records of `chunk` but those it skips.

    A record was received when its batch landed (ops.batches), whenever it is validated:
    a replay decides as the first run did.
    """
    out = Outcome()
    received = con.sql(f"""
        SELECT i._rid, b.landed_at AS {RECEIVED_AT}
        FROM {chunk.rows} i JOIN ops.batches b USING (batch_id)""").to_arrow_table()  # noqa: S608
    by_mapping: dict[str, list[str]] = {}
    for (origin,) in con.execute(
            f"SELECT DISTINCT origin FROM {chunk.rows} ORDER BY origin").fetchall():  # noqa: S608
        try:
            mapping = select_mapping(mappings, source, origin)
        except MappingError as e:
            for (rid,) in con.execute(
                    f"SELECT _rid FROM {chunk.rows} WHERE origin = ? AND parse_error IS NULL "  # noqa: S608
                    f"AND _rid NOT IN (SELECT _rid FROM {chunk.skip})", [origin]).fetchall():
                out.rejected[rid] = (None, [Problem("*", Reason.UNPARSEABLE.value, str(e))])
            continue
        by_mapping.setdefault(mapping.name, []).append(origin)
        out.mappings[mapping.name] = mapping
    for name, origins in by_mapping.items():
        con.register("_origins", pa.table({"origin": origins}))
        con.execute(f"""
            CREATE OR REPLACE TEMP VIEW _todo AS
            SELECT _rid, origin, record FROM {chunk.rows} JOIN _origins USING (origin)
            WHERE parse_error IS NULL AND _rid NOT IN (SELECT _rid FROM {chunk.skip})""")  # noqa: S608
        mapping = out.mappings[name]
        verdict = validate_bulk(con, conform(con, mapping, "_todo"), mapping.contract,
                                registry, scope, received)
        con.unregister("_origins")
        for rid, problems in verdict.rejected.items():
            out.rejected[rid] = (name, problems)
        if verdict.root.num_rows:
            out.cases.append(_with_mapping(verdict.root, name))
        if verdict.children["parties"].num_rows:
            out.parties.append(verdict.children["parties"])
        if verdict.children["events"].num_rows:
            out.events.append(verdict.children["events"])
    return out


def _with_mapping(table: pa.Table, name: str) -> pa.Table:
    return table.append_column("mapping", pa.array([name] * table.num_rows, pa.string()))


def protect(table: pa.Table, vault: Vault) -> pa.Table:
    """Replace every grade-L4 column by its ciphertext, link hash and masked form."""
    for name, mask in protected_fields(Party).items():
        if name not in table.column_names:
            continue
        ciphers, links, masked = vault.protect(table.column(name).to_pylist(), mask)
        table = table.drop_columns([name])
        table = table.append_column(f"{name}_cipher", pa.array(ciphers, pa.binary()))
        table = table.append_column(f"{name}_link", pa.array(links, pa.string()))
        shown = f"{name}_masked"
        if shown in table.column_names:
            # a source that only ever showed the number masked keeps its masked form
            given = table.column(shown).to_pylist()
            masked = [m if m is not None else g for m, g in zip(masked, given, strict=True)]
            table = table.drop_columns([shown])
        table = table.append_column(shown, pa.array(masked, pa.string()))
    return table


def stage(con: duckdb.DuckDBPyConnection, run_id: str, cases: list[pa.Table],
          parties: list[pa.Table], events: list[pa.Table], vault: Vault, chunk: Chunk) -> None:
    parties = [protect(t, vault) for t in parties]
    for table_name, tables in (("cases", cases), ("parties", parties), ("events", events)):
        for t in tables:
            con.register("_t", t)
            extra = ", i.origin, i.raw_hash, ? AS run_id, now() AS loaded_at" \
                if table_name == "cases" else ""
            params = [run_id] if table_name == "cases" else []
            con.execute(f"""
                INSERT INTO staging.{table_name} BY NAME
                SELECT t.* EXCLUDE (_rid), i.batch_id, i.row_no {extra}
                FROM _t t JOIN {chunk.rows} i USING (_rid)""", params)  # noqa: S608
            con.unregister("_t")


def quarantine(con: duckdb.DuckDBPyConnection, source: str, run_id: str,
               rejected: dict[int, tuple[str | None, list[Problem]]], chunk: Chunk) -> None:
    if not rejected:
        return
    rows = pa.table({
        "_rid": pa.array(list(rejected), pa.int64()),
        "mapping": [m for m, _ in rejected.values()],
        "reasons": pa.array([[{"field": p.field, "reason": p.reason, "message": p.message}
                              for p in problems] for _, problems in rejected.values()],
                            pa.list_(pa.struct([("field", pa.string()), ("reason", pa.string()),
                                                ("message", pa.string())]))),
    })
    con.register("_q", rows)
    con.execute(f"""
        INSERT INTO quarantine.records (quarantine_id, source, batch_id, row_no, origin,
            raw_hash, mapping, reasons, run_id, quarantined_at)
        SELECT nextval('quarantine.id_seq'), ?, i.batch_id, i.row_no, i.origin, i.raw_hash,
               q.mapping, q.reasons, ?, now()
        FROM _q q JOIN {chunk.rows} i USING (_rid)
        ORDER BY q._rid""", [source, run_id])  # noqa: S608
    con.unregister("_q")


def _no_records(con: duckdb.DuckDBPyConnection, batch_ids: list[int]) -> list[dict[str, Any]]:
    """The batches of files that held no records, as the connector noted them."""
    return [{"batch_id": batch_id, "origin": origin, "kind": NO_RECORDS[note], "note": note}
            for batch_id, origin, notes in con.execute(
                "SELECT batch_id, origin, notes FROM ops.batches WHERE batch_id = ANY(?) "
                "AND rows = 0 ORDER BY batch_id", [batch_ids]).fetchall()
            for note in (notes or []) if note in NO_RECORDS]


def _record_drift(con: duckdb.DuckDBPyConnection, source: str, run_id: str,
                  batch_ids: list[int], mappings: list[Mapping],
                  skip: set[int]) -> list[dict[str, Any]]:
    events = []
    for batch_id, origin, columns in con.execute(
            "SELECT batch_id, origin, columns FROM ops.batches WHERE batch_id = ANY(?) "
            "ORDER BY batch_id", [batch_ids]).fetchall():
        # an empty file or error records only: no header to compare; a header without
        # records is a notice (_no_records), not drift
        if not columns or batch_id in skip:
            continue
        try:
            mapping = select_mapping(mappings, source, origin)
        except MappingError:
            continue
        d = detect_drift(mapping, list(columns), origin)
        found = [*(("unknown", c, None) for c in d.unknown),
                 *(("missing", c, None) for c in d.missing),
                 *(("renamed", got, expected) for expected, got in d.renamed),
                 *(("possible_rename", got, expected) for expected, got in d.possible_renames)]
        events.extend({"batch_id": batch_id, "origin": origin, "kind": kind, "column": column,
                       "expected": expected} for kind, column, expected in found)
    if events:
        con.register("_drift", pa.Table.from_pylist(events))
        con.execute("INSERT INTO ops.drift SELECT ?, ?, batch_id, origin, kind, \"column\", "
                    "expected, now() FROM _drift", [run_id, source])
        con.unregister("_drift")
    return events


def _account(con: duckdb.DuckDBPyConnection, source: str, run_id: str, batch_ids: list[int],
             summary: IngestSummary, chunk: Chunk) -> None:
    skipped = (f"(SELECT count(*) FROM {chunk.skip} d JOIN {chunk.rows} i "  # noqa: S608
               "USING (_rid) WHERE i.batch_id = b.batch_id)")
    per_batch = con.execute(f"""
        SELECT b.batch_id, b.rows,
               (SELECT count(*) FROM staging.cases s
                WHERE s.batch_id = b.batch_id AND s.run_id = ?) AS loaded,
               (SELECT count(*) FROM quarantine.records q
                WHERE q.batch_id = b.batch_id AND q.run_id = ?) AS quarantined,
               {skipped} AS duplicates
        FROM ops.batches b WHERE b.batch_id = ANY(?) ORDER BY b.batch_id""",  # noqa: S608
                           [run_id, run_id, batch_ids]).fetchall()
    for batch_id, read, loaded, quarantined, duplicates in per_batch:
        if read != loaded + quarantined + duplicates:
            raise AccountingError(
                f"{source} batch {batch_id}: read {read} != loaded {loaded} + quarantined "
                f"{quarantined} + duplicates {duplicates}")
        summary.read += read
        summary.loaded += loaded
        summary.quarantined += quarantined
        summary.duplicates += duplicates
    con.execute(f"""
        INSERT INTO ops.accounting
        SELECT ?, 'ingest', ?, b.batch_id, b.rows,
               (SELECT count(*) FROM staging.cases s
                WHERE s.batch_id = b.batch_id AND s.run_id = ?),
               (SELECT count(*) FROM quarantine.records q
                WHERE q.batch_id = b.batch_id AND q.run_id = ?),
               {skipped},
               now()
        FROM ops.batches b WHERE b.batch_id = ANY(?)""",  # noqa: S608
                [run_id, source, run_id, run_id, batch_ids])
    seal_accounting(con, run_id, source, batch_ids)
