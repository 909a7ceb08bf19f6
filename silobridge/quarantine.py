"""The quarantine, for people: list it, look at one record, replay it after a fix.

Quarantined records stay in raw.records as received; quarantine.records holds why.
Replay runs them through the current mappings and models again: those that now pass are
staged and marked released, the rest get their new reasons; the replay's own accounting
(read = loaded + quarantined) goes to ops.accounting like any run's, sealed in the same
transaction (warehouse.manifests), so a replay keeps `silobridge verify` passing. The
writes are the warehouse layer's (warehouse.chunks, staging, quarantine_rows,
accounting), handed the chunk and the pack's staging tables.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from schemas.pii import mask_text
from schemas.scope import Scope
from warehouse import chunks
from warehouse.accounting import Counts, account_replay
from warehouse.db import session, transaction
from warehouse.quarantine_rows import open_sources, refuse_again, release
from warehouse.runs import tracked_run
from warehouse.staging import Staging, stage
from warehouse.vault import Vault

from .contracts import load_reference, mappings_of, source_contract, staging_of
from .ingest import conform_and_validate
from .secrets import vault
from .settings import Settings


@dataclass
class Listing:
    """A page of the quarantine, newest first, and how many records match in all."""

    rows: list[dict[str, Any]]
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {"shown": len(self.rows), "total": self.total, "records": self.rows}


def list_records(settings: Settings, source: str | None = None, reason: str | None = None,
                 status: str = "open", limit: int | None = 100) -> Listing:
    """Quarantined records matching the filters, newest first; `limit` None: all."""
    where = """
            WHERE (? IS NULL OR source = ?) AND (? = 'all' OR status = ?)
              AND (? IS NULL OR list_contains(list_transform(reasons, lambda r: r.reason), ?))"""
    params = [source, source, status, status, reason, reason]
    with session(settings.warehouse_path) as con:
        rows = con.execute(f"""
            SELECT quarantine_id, source, origin, row_no, status, attempts,
                   list_transform(reasons, lambda r: r.reason) AS reasons,
                   list_transform(reasons, lambda r: r.field) AS fields,
                   quarantined_at
            FROM quarantine.records {where}
            ORDER BY quarantined_at DESC, quarantine_id DESC LIMIT ?""",  # noqa: S608
                           [*params, limit]).fetchall()
        names = [d[0] for d in con.description]
        (total,) = con.execute(f"SELECT count(*) FROM quarantine.records {where}",  # noqa: S608
                               params).fetchall()[0]
    return Listing([dict(zip(names, r, strict=True)) for r in rows], total)


def count_by_reason(settings: Settings, source: str | None = None) -> dict[str, int]:
    with session(settings.warehouse_path) as con:
        return dict(con.execute("""
            SELECT r.reason, count(*) FROM (
                SELECT DISTINCT quarantine_id, unnest(list_transform(reasons, lambda x: x.reason))
                       AS reason
                FROM quarantine.records WHERE status = 'open' AND (? IS NULL OR source = ?)) r
            GROUP BY r.reason ORDER BY count(*) DESC""", [source, source]).fetchall())


def show(settings: Settings, quarantine_id: int) -> dict[str, Any] | None:
    """One quarantined record: its reasons and the raw record as received, numbers masked."""
    with session(settings.warehouse_path) as con:
        row = con.execute("""
            SELECT q.quarantine_id, q.source, q.origin, q.row_no, q.batch_id, q.raw_hash,
                   q.mapping, q.status, q.attempts, q.quarantined_at, q.released_at,
                   q.reasons, r.record, r.raw_text, r.parse_error
            FROM quarantine.records q
            JOIN raw.records r USING (batch_id, row_no)
            WHERE q.quarantine_id = ?""", [quarantine_id]).fetchall()
        row = row[0] if row else None
        if row is None:
            return None
        names = [d[0] for d in con.description]
    out = dict(zip(names, row, strict=True))
    record = json.loads(out.pop("record")) if out["record"] else None
    out["record"] = json.loads(mask_text(json.dumps(record, ensure_ascii=False))) \
        if record else None
    out["raw_text"] = mask_text(out["raw_text"]) if out["raw_text"] else None
    out["reasons"] = [{k: mask_text(v) if isinstance(v, str) else v for k, v in r.items()}
                      for r in out["reasons"]]
    return out


@dataclass
class ReplaySummary:
    run_id: str
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def replay(settings: Settings, source: str | None = None) -> ReplaySummary:
    """Run open quarantine records through the current mappings and models again."""
    pii = vault(settings)
    with session(settings.warehouse_path) as con, \
            tracked_run(con, "replay", source) as run:
        summary = run.summary = ReplaySummary(run_id=run.run_id)
        # each contract's reference, loaded once, for the packs with open records only
        registries: dict[tuple[str, str], object | None] = {}
        for name in open_sources(con, source):
            pack, contract = source_contract(name)
            if (pack.name, contract) not in registries:
                registries[pack.name, contract] = load_reference(con, settings, pack,
                                                                 contract)
            mappings = mappings_of(settings, pack, contract)
            counts = _replay_source(con, name, run.run_id, mappings,
                                    registries[pack.name, contract], settings.scope, pii,
                                    staging_of(pack, contract))
            summary.by_source[name] = counts
            summary.read += counts["read"]
            summary.loaded += counts["loaded"]
            summary.quarantined += counts["quarantined"]
    return summary


def _replay_source(con: Any, source: str, run_id: str, mappings: list,
                   registry: object | None, scope: Scope, pii: Vault,
                   staging: Staging) -> dict[str, int]:
    with transaction(con, "replay"):
        chunk = chunks.of_quarantine(con, source)
        read = chunks.size(con, chunk)
        outcome = conform_and_validate(con, source, mappings, registry, scope, chunk)
        stage(con, staging, chunk, run_id, pii, outcome.root, outcome.children)
        loaded_ids = [rid for t in outcome.root for rid in t.column("_rid").to_pylist()]
        release(con, run_id, loaded_ids)
        refuse_again(con, outcome.rejected)
        counts = Counts(read, len(loaded_ids), len(outcome.rejected))
        account_replay(con, source, run_id, counts)
        chunk.drop(con)
    return {"read": counts.read, "loaded": counts.loaded, "quarantined": counts.quarantined}
