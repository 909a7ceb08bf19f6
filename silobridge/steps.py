"""The pipeline's steps as the DAGs call them: plain functions, JSON-ready results.

Each takes settings and simple arguments and returns a small dict (Airflow keeps it as
the task's XCom), and logs what it did (silobridge.step_log: Airflow's task log shows it).
None of them imports Airflow; the DAG files only wire them.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.kinds import KINDS
from warehouse.db import session

from . import step_log
from .contracts import all_mappings
from .extract import extract_source
from .ingest import process_pending
from .packs import pack, selected
from .quality_files import of_packs, of_source
from .run import RunSummary, merge_pack
from .settings import SOURCES, Settings, SourceName

log = logging.getLogger("silobridge")


def extract(settings: Settings, source: SourceName, since: str | None = None,
            until: str | None = None) -> dict[str, Any]:
    """Extract new records; with `since`/`until` (YYYY-MM-DD), backfill that range instead.

    A backfill keeps a cursor of its own, so the regular schedule's cursor is untouched;
    what it re-reads that was already landed is counted as duplicates downstream.
    """
    range_ = "" if since is None and until is None else f" {since or '…'}..{until or '…'}"
    with step_log.step(f"extract {source}{range_}") as done:
        result = _extract(settings, source, since, until)
        done(step_log.extracted(result))
    return result


def _extract(settings: Settings, source: SourceName, since: str | None,
             until: str | None) -> dict[str, Any]:
    if since is None and until is None:
        return extract_source(settings, source).to_dict()
    first = date.fromisoformat(since) if since else date(2000, 1, 1)
    last = date.fromisoformat(until) if until else date(2099, 12, 31)
    if last < first:
        raise ValueError(f"backfill range ends ({last}) before it starts ({first})")
    key = f"{source}@backfill:{first}..{last}"
    config = getattr(settings, source)
    cursor = KINDS[SOURCES[source].connector].cursor_setting
    if cursor is None:  # files: read the dated ones
        settings = settings.model_copy(
            update={source: config.model_copy(update={"dates": (first, last)})})
        return extract_source(settings, source, key).to_dict()
    # sources read by a cursor column: start the watermark at `since`, drop rows after
    # `until` (by the source's cursor column: the pack declares it, settings may rename)
    start = datetime.combine(first, datetime.min.time()) + config.lookback
    column = getattr(config, cursor)
    bound = f"{last + timedelta(days=1):%Y-%m-%d} 00:00:00"

    def within(table: pa.Table) -> pa.Table:
        if column not in table.column_names:
            return table
        return table.filter(pc.less(table.column(column), bound))

    return extract_source(settings, source, key,
                          start_cursor={"high": f"{start:%Y-%m-%d %H:%M:%S}", "seen": {}},
                          row_filter=within).to_dict()


def conform_and_validate(settings: Settings, source: SourceName) -> dict[str, Any]:
    """Conform, validate and stage every landed batch of `source` not yet ingested."""
    with step_log.step(f"conform and validate {source}") as done:
        summary = process_pending(settings, source).to_dict()
        done(step_log.validated(summary))
    summary["drift"] = summary["drift"][:50]  # keep the XCom small; ops.drift has them all
    return summary


def quality_gate(settings: Settings, source: SourceName) -> dict[str, Any]:
    """Run the source's batch suite over what was just staged and decide its gate."""
    from quality.pipeline import gate_source  # noqa: PLC0415 - Great Expectations is heavy

    with step_log.step(f"quality gate {source}") as done:
        decision = gate_source(settings, source, of_source(source))
        result = {"source": source, "status": decision.status, "reason": decision.reason,
                  "batches": len(decision.batch_ids)}
        done(step_log.gated(result))
    return result


def merge(settings: Settings, domain: str | None = None) -> dict[str, Any]:
    """Every merge the `domain` pack declares (default: every installed pack's): the
    entity merge's summary, its fact merges under `facts`, and the last merge's run id."""
    with step_log.step("merge") as done:
        summary = RunSummary()
        for decl in selected(domain):
            merge_pack(settings, decl, summary)
        result = (summary.merge.to_dict() if summary.merge else {}) | {
            "facts": {name: f.to_dict() for name, f in summary.facts.items()},
            "run_id": summary.merge_run_id}
        done(step_log.merged(result))
    return result


def source_status(settings: Settings, domain: str) -> list[dict[str, Any]]:
    """Each source of the `domain` pack: its last good and failed runs; the stale ones
    are logged as warnings."""
    from quality.pipeline import source_status as status_of  # noqa: PLC0415

    with step_log.step("source status") as done:
        with session(settings.warehouse_path, read_only=True) as con:
            status = status_of(con, pack(domain).sources)
        for row in status:
            if row.get("stale"):
                log.warning("source %s is stale: last good run at %s, last failure at %s "
                            "(%s)", row["source"], row.get("last_ok_at"),
                            row.get("last_failed_at"), row.get("error_class"))
        done(step_log.statuses(status))
    return status


def after_merge(settings: Settings, run_id: str, domain: str | None = None) -> dict[str, Any]:
    """The audits of the `domain` pack (default: of every installed pack), freshness and
    volume, and the reports."""
    from quality.pipeline import after_merge as run_after_merge  # noqa: PLC0415

    with step_log.step("quality checks and reports") as done:
        result = run_after_merge(settings, run_id, of_packs(domain),
                                  all_mappings(settings, domain))
        done(step_log.checked(result))
    return result


def sync(settings: Settings) -> dict[str, Any]:
    """Send new and changed county cases to the province, then reconcile."""
    from .sync import sync_step  # noqa: PLC0415

    with step_log.step("sync to the province") as done:
        result = sync_step(settings).to_dict()
        done(step_log.synced(result))
    return result


def publish(settings: Settings) -> dict[str, Any]:
    """Publish the masked analyst snapshot (DuckDB + Parquet)."""
    from .snapshot import publish_step  # noqa: PLC0415

    with step_log.step("publish the snapshot") as done:
        result = publish_step(settings).to_dict()
        done(step_log.published(result))
    return result
