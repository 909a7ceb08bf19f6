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

This module only orchestrates: every write is the warehouse layer's, each a function
handed what it works on. A chunk's raw records and the duplicates among them are temp
tables made by warehouse.chunks and handed on by name (`Chunk`) to the steps that
conform, stage (warehouse.staging, into the tables the pack's `Staging` names),
quarantine (warehouse.quarantine_rows) and account for them (warehouse.accounting).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from conform.drift import drift as detect_drift
from conform.engine import conform
from conform.mapping import Mapping, MappingError, select_mapping
from conform.validate import Problem, validate_bulk
from connectors.file_cursor import NO_RECORDS
from connectors.kinds import KINDS
from connectors.rejects import reason_of
from schemas.reasons import Reason
from schemas.scope import RECEIVED_AT, Scope
from warehouse import batches, chunks
from warehouse.accounting import account_batches
from warehouse.chunks import Chunk
from warehouse.db import session, transaction
from warehouse.quarantine_rows import quarantine
from warehouse.runs import tracked_run
from warehouse.staging import Staging, ensure_staged, stage
from warehouse.vault import Vault

from . import progress
from .contracts import load_reference, mappings_of, source_contract, staging_of
from .extract import ExtractResult, extract_source
from .secrets import vault
from .settings import SOURCES, Settings, SourceName

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000


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
    """Settings whose `source` reads `path` instead of its configured location (a URL,
    database, folder or file, as its connector kind reads one)."""
    config = getattr(settings, source)
    change = KINDS[SOURCES[source].connector].at(config, path)
    return settings.model_copy(update={source: config.model_copy(update=change)})


def process_pending(settings: Settings, source: SourceName) -> IngestSummary:
    """Conform and validate every landed batch of `source` that is not ingested yet."""
    pack, contract = source_contract(source)
    mappings = mappings_of(settings, pack, contract)
    staging = staging_of(pack, contract)
    pii = vault(settings)
    with session(settings.warehouse_path) as con, \
            tracked_run(con, "ingest", source, timed=True) as run:
        # a pack's staged tables are made on its first ingest (present ones stay)
        ensure_staged(con, staging)
        run_id = run.run_id
        total = run.summary = IngestSummary(source=source, run_id=run_id)
        registry = load_reference(con, settings, pack, contract)
        pending = batches.waiting(con, source)
        scope = settings.scope
        groups = _chunks(pending)
        with progress.step(f"conform and validate {source}",
                           total=sum(n for _, n in pending)) as shown:
            for number, batch_ids in enumerate(groups, 1):
                done = _process_chunk(con, source, batch_ids, run_id, mappings, registry,
                                      scope, pii, staging)
                total.add(done)
                shown.update(f"{total.loaded:,} loaded, {total.quarantined:,} quarantined",
                             completed=total.read)
                log.info("%s: chunk %d of %d, %s batches: read %s, loaded %s, "
                         "quarantined %s, duplicates %s (%.1f s)", source, number,
                         len(groups), f"{done.batches:,}", f"{done.read:,}",
                         f"{done.loaded:,}", f"{done.quarantined:,}",
                         f"{done.duplicates:,}", run.seconds)
    return total


def _chunks(waiting: list[tuple[int, int]]) -> list[list[int]]:
    """Group batch ids into chunks of about CHUNK_ROWS rows (a big batch is one chunk)."""
    groups: list[list[int]] = []
    rows = 0
    for batch_id, n in waiting:
        if not groups or (rows + n > CHUNK_ROWS and rows > 0):
            groups.append([])
            rows = 0
        groups[-1].append(batch_id)
        rows += n
    return groups


def _process_chunk(con: duckdb.DuckDBPyConnection, source: str, batch_ids: list[int],
                   run_id: str, mappings: list[Mapping], registry: object | None,
                   scope: Scope, vault: Vault, staging: Staging) -> IngestSummary:
    summary = IngestSummary(source=source, run_id=run_id, batches=len(batch_ids))
    with transaction(con, "ingest"):
        chunk = chunks.of_batches(con, source, batch_ids)
        rejected: dict[int, tuple[str | None, list[Problem]]] = {}
        for rid, error in chunks.unreadable(con, chunk):
            reason, message = reason_of(error)
            rejected[rid] = (None, [Problem("*", reason.value, message)])
        outcome = conform_and_validate(con, source, mappings, registry, scope, chunk)
        rejected.update(outcome.rejected)
        stage(con, staging, chunk, run_id, vault, outcome.root, outcome.children)
        quarantine(con, source, run_id, rejected, chunk)
        for problems in (p for _, p in rejected.values()):
            summary.reasons.update({p.reason for p in problems})
        chunks.remember(con, source, chunk)
        summary.notices = batches.without_records(con, batch_ids, NO_RECORDS)
        summary.drift = _drift(con, source, batch_ids, mappings,
                               skip={n["batch_id"] for n in summary.notices})
        batches.record_drift(con, run_id, source, summary.drift)
        for counts in account_batches(con, source, run_id, batch_ids, chunk,
                                      staging.root.table):
            summary.read += counts.read
            summary.loaded += counts.loaded
            summary.quarantined += counts.quarantined
            summary.duplicates += counts.duplicates
        batches.mark_ingested(con, run_id, batch_ids)
        chunk.drop(con)
    return summary


@dataclass
class Outcome:
    """Conformed and validated records of a chunk: the root model's rows and each child
    group's, to stage, and the rejected ids."""

    root: list[pa.Table] = field(default_factory=list)
    children: dict[str, list[pa.Table]] = field(default_factory=dict)
    rejected: dict[int, tuple[str | None, list[Problem]]] = field(default_factory=dict)
    mappings: dict[str, Mapping] = field(default_factory=dict)


def conform_and_validate(con: duckdb.DuckDBPyConnection, source: str, mappings: list[Mapping],
                         registry: object | None, scope: Scope, chunk: Chunk) -> Outcome:
    """Conform and validate the parseable records of `chunk` but those it skips.

    A record was received when its batch landed (ops.batches), whenever it is validated:
    a replay decides as the first run did.
    """
    out = Outcome()
    received = chunks.received(con, chunk, RECEIVED_AT)
    by_mapping: dict[str, list[str]] = {}
    for origin in chunks.origins(con, chunk):
        try:
            mapping = select_mapping(mappings, source, origin)
        except MappingError as e:
            for rid in chunks.readable_ids(con, chunk, origin):
                out.rejected[rid] = (None, [Problem("*", Reason.UNPARSEABLE.value, str(e))])
            continue
        by_mapping.setdefault(mapping.name, []).append(origin)
        out.mappings[mapping.name] = mapping
    for name, origins in by_mapping.items():
        mapping = out.mappings[name]
        with chunks.readable(con, chunk, origins) as todo:
            verdict = validate_bulk(con, conform(con, mapping, todo), mapping.contract,
                                    registry, scope, received)
        for rid, problems in verdict.rejected.items():
            out.rejected[rid] = (name, problems)
        if verdict.root.num_rows:
            out.root.append(_with_mapping(verdict.root, name))
        for group, rows in verdict.children.items():
            if rows.num_rows:
                out.children.setdefault(group, []).append(rows)
    return out


def _with_mapping(table: pa.Table, name: str) -> pa.Table:
    return table.append_column("mapping", pa.array([name] * table.num_rows, pa.string()))


def _drift(con: duckdb.DuckDBPyConnection, source: str, batch_ids: list[int],
           mappings: list[Mapping], skip: set[int]) -> list[dict[str, Any]]:
    """The drift of each batch's columns from the mapping that reads it."""
    found = []
    for batch_id, origin, columns in batches.headers(con, batch_ids):
        # an empty file or error records only: no header to compare; a header without
        # records is a notice (batches.without_records), not drift
        if not columns or batch_id in skip:
            continue
        try:
            mapping = select_mapping(mappings, source, origin)
        except MappingError:
            continue
        d = detect_drift(mapping, list(columns), origin)
        kinds = [*(("unknown", c, None) for c in d.unknown),
                 *(("missing", c, None) for c in d.missing),
                 *(("renamed", got, expected) for expected, got in d.renamed),
                 *(("possible_rename", got, expected) for expected, got in d.possible_renames)]
        found.extend({"batch_id": batch_id, "origin": origin, "kind": kind, "column": column,
                      "expected": expected} for kind, column, expected in kinds)
    return found
