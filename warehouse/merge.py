"""The entity merge: staging → core in one transaction, idempotent.

The merge knows no domain: what it merges is an `EntityDeclaration` (warehouse.entity)
the caller loads from a domain pack and passes in. Steps, all set-based: point each record
at its latest staged version (warehouse.record_versions); link records into entities
(warehouse.linking); rebuild each golden record and write only the ones whose content
changed, and bring their children up to date (warehouse.golden); append new events to the
timeline; close and open history rows where an entity's state changed (warehouse.history).
Merging the same staged data again changes nothing; a merge killed before COMMIT leaves
the warehouse as it was.

Incremental: the records whose current version is new or changed ("touched") are relinked
with the entities around them (warehouse.linking), and golden records, children, timeline
and history are recomputed only for the entities that hold a touched record or gained or
lost a record, and the events of those records (warehouse.merge_scope). Each of these
depends only on its own entity's (or record's) records, so the result is the one a full
recompute gives; a full recompute runs when asked for, when most records are touched
anyway, when the reference data the rules read changed (the declaration's
`references.watch`: they feed every record's linking and every golden record), or when
the rules changed (the rules table keeps the digest of the declaration and its SQL files
core was built with).

Marts: the caller passes the marts to keep (warehouse.marts, from a pack's mart files);
after core, the merge refreshes them in the same transaction, handing on the keys it
touched as the scope's relations (`Scope.touched`: the entities it recomputed, and every
other key of their children's rows before or after), or none after a full recompute.

Hand-over between the steps: the touched records and the records linking moved are temp
tables this module names (`_touched`, `_moved`) and passes to the steps that write and
read them; each step's own temp tables are its module's, dropped before it returns.

Memory: the merge caps DuckDB's memory (MEMORY_LIMIT; DuckDB spills to its temp directory
beside the warehouse past it) and lets it drop insertion order, which nothing here needs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from schemas.labelled import CodeList

from .code_lists import refresh_codes
from .db import transaction
from .entity import EntityDeclaration
from .golden import refresh_children, refresh_golden
from .history import append_timeline, update_history
from .linking import LinkResult, link
from .marts import refresh_marts
from .merge_scope import Scope
from .model_file import ModelFile
from .record_versions import refresh_records

#: DuckDB's memory cap while merging (its default is 80% of the machine's memory)
MEMORY_LIMIT = "1GB"
#: above this share of touched records a full recompute costs no more than the scoped one
FULL_SHARE = 0.25
#: the merge's hand-over tables (module docstring)
_TOUCHED, _MOVED = "_touched", "_moved"


@dataclass
class MergeSummary:
    run_id: str
    records_new: int = 0
    records_changed: int = 0
    cases_new: int = 0
    cases_changed: int = 0
    cases_removed: int = 0
    timeline_added: int = 0
    history_opened: int = 0
    link: dict[str, Any] = field(default_factory=dict)
    #: "full" (every entity recomputed) or "incremental" (those around touched records)
    mode: str = "full"
    #: records whose current version is new or changed, and the entities recomputed
    records_touched: int = 0
    cases_recomputed: int = 0
    #: wall time of the linking inside the merge (the benchmark reports it apart)
    link_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def merge(con: duckdb.DuckDBPyConnection, run_id: str, entity: EntityDeclaration,
          marts: Sequence[ModelFile], *, code_lists: Sequence[CodeList],
          full: bool | None = None, memory_limit: str | None = MEMORY_LIMIT) -> MergeSummary:
    """Merge staging into core by the rules of `entity` and refresh `marts`, in one
    transaction; ref.codes is brought up to `code_lists` (the installed packs') first.

    full=None picks: incremental unless most records are touched or the reference data
    changed; full=True recomputes every entity; full=False is incremental unless the
    reference data or the rules changed. All three give the same core and mart tables.
    memory_limit=None leaves DuckDB's."""
    summary = MergeSummary(run_id=run_id)
    with _merge_settings(con, memory_limit), transaction(con, "merge"):
        rules_changed = _refresh_rules(con, entity)
        references_changed = _refresh_references(con, entity, code_lists)
        summary.records_new, summary.records_changed = refresh_records(
            con, entity, run_id, _TOUCHED)
        (touched, total) = con.execute(
            f"SELECT (SELECT count(*) FROM {_TOUCHED}), count(*) FROM {entity.records}"  # noqa: S608
            ).fetchall()[0]
        summary.records_touched = int(touched)
        if full is None:
            full = touched > FULL_SHARE * total
        full = full or references_changed or rules_changed
        summary.mode = "full" if full else "incremental"
        started = time.perf_counter()
        result: LinkResult = link(con, entity, run_id, None if full else _TOUCHED,
                                  moved=_MOVED)
        summary.link_seconds = round(time.perf_counter() - started, 3)
        summary.link = asdict(result)
        scope = Scope.everything(entity) if full else Scope.around(con, entity, _TOUCHED,
                                                                   _MOVED)
        summary.cases_recomputed = scope.count(con, entity)
        summary.cases_new, summary.cases_changed, summary.cases_removed = \
            refresh_golden(con, entity, run_id, scope)
        refresh_children(con, entity, scope)
        scope.note_children(con, entity)
        summary.timeline_added = append_timeline(con, entity, scope)
        summary.history_opened = update_history(con, entity, run_id, scope)
        refresh_marts(con, marts, scope.touched)
        scope.release(con)
        con.execute(f"DROP TABLE {_TOUCHED}")
        con.execute(f"DROP TABLE {_MOVED}")
    return summary


@contextmanager
def _merge_settings(con: duckdb.DuckDBPyConnection, memory_limit: str | None) -> Iterator[None]:
    """Cap DuckDB's memory and drop insertion order for the merge; restore them after."""
    wanted = {"preserve_insertion_order": "false"}
    if memory_limit is not None:
        wanted["memory_limit"] = memory_limit
    before = {k: con.execute(f"SELECT current_setting('{k}')").fetchall()[0][0]
              for k in wanted}
    for k, v in wanted.items():
        con.execute(f"SET {k} = '{v}'")
    try:
        yield
    finally:
        for k, v in before.items():
            con.execute(f"SET {k} = '{v}'")


def _refresh_rules(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration) -> bool:
    """Record the rules this merge applies; returns whether they differ from the last."""
    stored = con.execute(f"SELECT digest FROM {entity.rules}").fetchall()  # noqa: S608
    if stored == [(entity.digest,)]:
        return False
    con.execute(f"DELETE FROM {entity.rules}")  # noqa: S608 - a declared table
    con.execute(f"INSERT INTO {entity.rules} VALUES (?, now())", [entity.digest])  # noqa: S608
    return True


def _refresh_references(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration,
                        code_lists: Sequence[CodeList]) -> bool:
    """Bring the code lists and the entity's reference data up to date; returns whether
    what the entity watches of them changed."""
    refs = entity.references
    before = [con.execute(q).fetchall() for q in refs.watch]
    refresh_codes(con, code_lists)
    if refs.refresh is not None:
        con.execute(refs.refresh.text)
    return [con.execute(q).fetchall() for q in refs.watch] != before
