"""The entry points the pipeline and the DAGs call.

`gate_source` checks a source's newly ingested batches and decides their gate, as a
run of the ledger like every step (warehouse.runs.tracked_run);
`after_merge` runs the domain's audits (warehouse and cross-level checks), freshness and
volume, and rebuilds the reports and each pack's pictures page. Both take the domain's
QualityFiles from the app layer. Warehouse sessions stay short: data is read out, the
session closes, Great Expectations works on the frames, and a second short session
writes the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from warehouse.batches import ungated
from warehouse.db import session
from warehouse.runs import tracked_run

from .audits import run_audits
from .batch import GateDecision, decide, evaluate, read_batches, record
from .checks import CRITICAL, WARNING, QualitySettings, store_results
from .files import QualityFiles
from .freshness import check_freshness, check_volume, source_status
from .picture_page import build_pictures_page
from .report import build_reports

if TYPE_CHECKING:
    from conform.mapping import Mapping

__all__ = ["after_merge", "gate_source", "source_status"]


def gate_source(settings: QualitySettings, source: str, files: QualityFiles) -> GateDecision:
    """Check every batch of `source` that is ingested but not yet gated against the batch
    suite of `files`; decide its gate. Without such batches no run is recorded."""
    # a broken suite file fails before anything is recorded
    suite = files.batch_suite(source)
    with session(settings.warehouse_path) as con:
        batch_ids = ungated(con, source)
    if not batch_ids:
        return GateDecision(source, "passed", [], [], "no new batches to check")
    with tracked_run(settings.warehouse_path, "gate", source) as run:
        run.summary = {"batches": len(batch_ids)}  # what a failed run records
        with session(settings.warehouse_path) as con:
            data = read_batches(con, suite, source, batch_ids, settings.scope)
        results = evaluate(data, run.run_id, settings.reports_dir)
        decision = decide(source, batch_ids, results, data.rows)
        with session(settings.warehouse_path) as con:
            record(con, run.run_id, decision, results)
        run.summary = {**decision.to_dict(), "batch_ids": len(batch_ids), "records": data.rows}
    return decision


def after_merge(settings: QualitySettings, run_id: str,
                files: Sequence[QualityFiles], mappings: Sequence[Mapping]) -> dict[str, Any]:
    """The audits of `files` (each pack's warehouse and cross-level checks), freshness
    and volume, then the reports (`mappings`: the packs' mapping files, see
    `build_quality_report`) and the pictures page of each pack that declares pictures.

    Critical failures here cannot undo the merge (it has committed): they are reported
    as critical in the summary, in ops.quality_results and in the report."""
    started = time.perf_counter()
    audits = [a for f in files for a in f.audit_files()]
    with session(settings.warehouse_path) as con:
        audited = run_audits(con, audits)
        store_results(con, run_id, audited)
        clocks = [f.clock for f in files if f.clock is not None]
        sources = tuple(s for f in files for s in f.sources)
        results = [*audited, *check_freshness(con, run_id, sources, clocks),
                   *check_volume(con, run_id, sources)]
    paths = build_reports(settings, files, mappings)
    pictures = {f.pictures.pack: str(build_pictures_page(settings.warehouse_path,
                                                         settings.reports_dir, f.pictures,
                                                         f.clock))
                for f in files if f.pictures is not None}
    failed = [r for r in results if not r.success]
    return {
        "run_id": run_id,
        "checks": len(results),
        "failed_critical": sum(r.severity == CRITICAL for r in failed),
        "failed_warning": sum(r.severity == WARNING for r in failed),
        "failed": [{"scope": r.scope, "source": r.source, "check": r.check,
                    "severity": r.severity, "detail": r.detail} for r in failed],
        "reports": paths.to_dict() | {"pictures": pictures},
        "seconds": round(time.perf_counter() - started, 2),
    }
