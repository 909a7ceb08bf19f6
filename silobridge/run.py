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
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import SourceError
from warehouse.db import session
from warehouse.merge import MergeSummary, merge
from warehouse.runs import tracked_run

from . import progress
from .codes import code_lists
from .contracts import all_mappings
from .ingest import IngestSummary, ingest_source
from .marts import pack_marts
from .packs import entity, selected
from .quality_files import of_packs, of_source
from .settings import Settings, SourceName
from .snapshot import publish_step


@dataclass
class RunSummary:
    ingests: dict[str, IngestSummary] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    merge: MergeSummary | None = None
    quality: dict[str, Any] | None = None
    snapshot: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": {s: {k: v for k, v in i.to_dict().items() if k != "drift"}
                        | {"drift_events": len(i.drift)} for s, i in self.ingests.items()},
            "failures": self.failures,
            "gates": self.gates,
            "merge": self.merge.to_dict() if self.merge else None,
            "quality": self.quality,
            "snapshot": self.snapshot,
            "seconds": round(self.seconds, 2),
        }


def merge_step(settings: Settings, *, full: bool | None = None,
               domain: str | None = None) -> MergeSummary:
    """Merge staging into core under a run id of its own, by the entity rules of the
    `domain` pack (default: the installed pack that has them; full: see warehouse.merge)."""
    rules = entity(domain)
    with session(settings.warehouse_path) as con, progress.step("merge"), \
            tracked_run(con, "merge") as run:
        summary = run.summary = merge(con, run.run_id, rules, pack_marts(),
                                      code_lists=code_lists(), full=full)
    return summary


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
    summary.merge = merge_step(settings, domain=domain)
    with progress.step("quality checks and reports"):
        summary.quality = after_merge(settings, summary.merge.run_id, of_packs(domain),
                                      all_mappings(settings))
    with progress.step("publish the analyst snapshot"):
        summary.snapshot = publish_step(settings).to_dict()
    summary.seconds = time.perf_counter() - started
    return summary
