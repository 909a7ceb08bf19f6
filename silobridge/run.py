"""`silobridge run`: the whole pipeline outside Airflow.

Ingest every source (a source that fails is reported and the others go on) and put each
through its quality gate; merge staging into core (link, golden records, history,
timeline) in one transaction, leaving out batches a gate held back, and refresh the marts
(the pack's mart files) in the same transaction; then the warehouse checks, freshness and
volume, the reports, and the analyst snapshot. Sending county cases up to the
province is a command of its own (`silobridge sync`): it acts on another system.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.errors import SourceError
from warehouse.code_lists import refresh_codes
from warehouse.db import session, transaction
from warehouse.fact_tables import ensure_tables, pending_batches
from warehouse.facts import FactsSummary, merge_facts
from warehouse.marts import refresh_marts
from warehouse.merge import MergeSummary, merge
from warehouse.nearest import AlignmentSummary, align
from warehouse.runs import tracked_run
from warehouse.staging import ensure_staged

from . import progress
from .codes import code_lists
from .contracts import all_mappings, stagings_of
from .ingest import IngestSummary, ingest_source
from .marts import pack_marts
from .packs import (
    alignments,
    entity,
    entity_pack,
    facts,
    identity,
    merges_entity,
    pack,
    selected,
)
from .quality_files import of_packs, of_source
from .settings import Settings, SourceName
from .snapshot import publish_step

if TYPE_CHECKING:
    import duckdb

    from schemas.pack import PackDeclaration
    from warehouse.fuzzy_link import LinkSummary


@dataclass
class RunSummary:
    ingests: dict[str, IngestSummary] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    merge: MergeSummary | None = None
    #: the fact merges, by pack
    facts: dict[str, FactsMerge] = field(default_factory=dict)
    quality: dict[str, Any] | None = None
    snapshot: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def merge_run_id(self) -> str | None:
        """The run the after-merge checks belong to: the last merge's."""
        runs = [f.run_id for f in self.facts.values()]
        return runs[-1] if runs else self.merge.run_id if self.merge else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": {s: {k: v for k, v in i.to_dict().items() if k != "drift"}
                        | {"drift_events": len(i.drift)} for s, i in self.ingests.items()},
            "failures": self.failures,
            "gates": self.gates,
            "merge": self.merge.to_dict() if self.merge else None,
            "facts": {name: f.to_dict() for name, f in self.facts.items()},
            "quality": self.quality,
            "snapshot": self.snapshot,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class FactsMerge:
    """A pack's fact merge: one run, each fact table's summary."""

    pack: str
    run_id: str
    tables: dict[str, FactsSummary] = field(default_factory=dict)
    #: the pack's fuzzy link (identity.toml) and alignments (alignments.toml), if any
    identity: LinkSummary | None = None
    alignments: list[AlignmentSummary] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"pack": self.pack, "run_id": self.run_id,
                "tables": {name: s.to_dict() for name, s in self.tables.items()},
                "identity": asdict(self.identity) if self.identity else None,
                "alignments": {a.name: asdict(a) for a in self.alignments}}


def merge_step(settings: Settings, *, full: bool | None = None,
               domain: str | None = None) -> MergeSummary:
    """Merge staging into core under a run id of its own, by the entity rules of the
    `domain` pack (default: the installed pack that has them; full: see warehouse.merge),
    refreshing that pack's marts."""
    decl = entity_pack(domain)
    rules = entity(decl.name)
    with session(settings.warehouse_path) as con, progress.step("merge"), \
            tracked_run(con, "merge") as run:
        summary = run.summary = merge(con, run.run_id, rules, pack_marts(decl.name),
                                      code_lists=code_lists(decl.name), full=full)
    return summary


def facts_step(settings: Settings, domain: str) -> FactsMerge:
    """Merge the staged batches no merge has taken into each fact table of the `domain`
    pack, and refresh its marts, in one transaction under a run id of its own. A pack
    with an identity.toml has its records linked after the facts commit (Splink works in
    a database it attaches and writes in a transaction of its own, so not inside the
    merge's), then its marts refreshed in a second transaction, as they may read the
    clusters; a pack with an alignments.toml has them rebuilt beside its marts. Linking
    and aligning rewrite their tables whole: a rerun gives the same rows."""
    decl = pack(domain)
    linked = identity(decl)
    aligned = tuple(alignments(decl).values())
    with session(settings.warehouse_path) as con, progress.step(f"merge {domain}"), \
            tracked_run(con, "merge") as run:
        summary = run.summary = FactsMerge(domain, run.run_id)
        with transaction(con, "merge"):
            refresh_codes(con, code_lists(domain))
            for staging in stagings_of(decl):
                ensure_staged(con, staging)
            for name, declared in facts(decl).items():
                ensure_tables(con, declared)
                summary.tables[name] = merge_facts(con, declared,
                                                   pending_batches(con, declared), run.run_id)
            if linked is None:
                _marts_and_alignments(con, domain, aligned, summary)
        if linked is not None:
            from warehouse.fuzzy_link import link_records  # noqa: PLC0415 - Splink is heavy

            summary.identity = link_records(con, linked)
            with transaction(con, "merge"):
                _marts_and_alignments(con, domain, aligned, summary)
    return summary


def _marts_and_alignments(con: duckdb.DuckDBPyConnection, domain: str,
                          aligned: tuple[Any, ...], summary: FactsMerge) -> None:
    refresh_marts(con, pack_marts(domain), None)
    if aligned:  # after the marts: their points and features may be marts' views
        summary.alignments = align(con, aligned)


def merge_pack(settings: Settings, decl: PackDeclaration, summary: RunSummary) -> None:
    """Every merge the pack declares: its entity, its fact tables."""
    if merges_entity(decl):
        summary.merge = merge_step(settings, domain=decl.name)
    if facts(decl):
        summary.facts[decl.name] = facts_step(settings, decl.name)


def run_pipeline(settings: Settings, sources: tuple[SourceName, ...] | None = None, *,
                 domain: str | None = None) -> RunSummary:
    """Every source of the `domain` pack (default: of every installed pack), or `sources`."""
    sources = sources or tuple(s for p in selected(domain) for s in p.source_names)
    started = time.perf_counter()
    summary = RunSummary()
    from quality.pipeline import after_merge, gate_source  # noqa: PLC0415 - GX is heavy

    for source in sources:
        try:
            summary.ingests[source] = ingest_source(settings, source)
        except SourceError as e:  # one source down must not stop the others
            summary.failures[source] = str(e)
            continue
        with progress.step(f"quality gate {source}"):
            summary.gates[source] = gate_source(settings, source, of_source(source)).to_dict()
    for decl in selected(domain):
        merge_pack(settings, decl, summary)
    run_id = summary.merge_run_id
    if run_id is not None:
        with progress.step("quality checks and reports"):
            summary.quality = after_merge(settings, run_id, of_packs(domain),
                                          all_mappings(settings, domain))
    with progress.step("publish the analyst snapshot"):
        summary.snapshot = publish_step(settings, domain).to_dict()
    summary.seconds = time.perf_counter() - started
    return summary
