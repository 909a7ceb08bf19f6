"""What each step says in its log: that it started, what it did (counts, batches, timings)
and, when it fails, how long it ran and the error with its cause, one line each.

Airflow shows these lines as the task's log; the steps' results (XComs) hold the same
figures for machines. Every line is built from counts, codes, names of files and run ids:
never from a record's content.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("silobridge.steps")

Result = Mapping[str, Any]


def _n(value: int | float) -> str:
    return f"{value:,}"


def _counts(counts: Mapping[str, int], limit: int = 8) -> str:
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k} {_n(v)}" for k, v in top[:limit])
    return shown + (f", … {len(top) - limit} more" if len(top) > limit else "") or "none"


def extracted(r: Result) -> list[str]:
    lines = [f"{_n(r['batches'])} batches, {_n(r['rows'])} rows read "
             f"({_n(r['parse_errors'])} unreadable) in {r['seconds']:.1f} s "
             f"({_n(round(r['rows_per_s']))} rows/s)"]
    lines += [f"note: {note}" for note in r["notes"][:20]]
    if len(r["notes"]) > 20:
        lines.append(f"… and {len(r['notes']) - 20} more notes (ops.batches keeps them)")
    return lines


def validated(r: Result) -> list[str]:
    lines = [f"{_n(r['batches'])} batches: read {_n(r['read'])} = loaded {_n(r['loaded'])} "
             f"+ quarantined {_n(r['quarantined'])} + duplicates {_n(r['duplicates'])} "
             f"in {r['seconds']:.1f} s"]
    if r["reasons"]:
        lines.append(f"quarantine reasons (records): {_counts(r['reasons'])}")
    if r["drift"]:
        lines.append(f"column drift: {len(r['drift'])} events (ops.drift)")
    return lines


def gated(r: Result) -> list[str]:
    if r["status"] == "blocked":
        return [f"gate blocked {_n(r['batches'])} batches: {r['reason']}"]
    return [f"gate {r['status']} over {_n(r['batches'])} batches"
            + (f": {r['reason']}" if r.get("reason") else "")]


def merged(r: Result) -> list[str]:
    lines = [f"{r['mode']} merge: records {_n(r['records_new'])} new, "
             f"{_n(r['records_changed'])} changed; cases {_n(r['cases_new'])} new, "
             f"{_n(r['cases_changed'])} changed, {_n(r['cases_removed'])} removed "
             f"({_n(r['cases_recomputed'])} recomputed); timeline +{_n(r['timeline_added'])}, "
             f"history +{_n(r['history_opened'])}; linking {r['link_seconds']:.1f} s"
             ] if "mode" in r else []
    lines += [f"facts {table}: read {_n(t['read'])}, inserted {_n(t['inserted'])}, replaced "
              f"{_n(t['replaced'])}, unchanged {_n(t['unchanged'])}, too late "
              f"{_n(t['too_late'])}, rejected {_n(sum(t['rejected'].values()))}"
              for f in r.get("facts", {}).values() for table, t in f["tables"].items()]
    return [*lines, f"run {r['run_id']}"]


def checked(r: Result) -> list[str]:
    lines = [f"{_n(r['checks'])} checks: {_n(r['failed_critical'])} critical and "
             f"{_n(r['failed_warning'])} warnings failed in {r['seconds']:.1f} s"]
    lines += [f"{f['severity']} {f['scope']}{'/' + f['source'] if f['source'] else ''} "
              f"{f['check']}: {f['detail']}" for f in r["failed"]]
    lines.append(f"reports rebuilt: {r['reports']['quality']}")
    lines += [f"pictures of {pack}: {page}"
              for pack, page in r["reports"].get("pictures", {}).items()]
    return lines


def statuses(rows: list[Mapping[str, Any]]) -> list[str]:
    return [f"{s['source']}: {'stale' if s.get('stale') else 'fresh'}, last good run "
            f"{s.get('last_ok_at') or 'never'}" for s in rows]


def synced(r: Result) -> list[str]:
    lines = [f"sent {_n(r['sent'])} of {_n(r['county_cases'])} county cases in "
             f"{_n(r['batches'])} batches ({_n(r['unchanged'])} unchanged, {_n(r['unkeyed'])} "
             f"held by the province without our number) in {r['seconds']:.1f} s; "
             f"receipts: {_counts(r['results'])}"]
    if r["reconciliation"]:
        figures = {k: v for k, v in r["reconciliation"].items() if isinstance(v, int)}
        lines.append(f"reconciliation: {_counts(figures)}")
    return lines


def published(r: Result) -> list[str]:
    return [f"snapshot {r['version']}: {len(r['tables'])} tables "
            f"({_counts(r['tables'], limit=20)}), {len(r['withheld_columns'])} columns withheld",
            f"at {r['path']} and {r['parquet']}"]


@contextmanager
def step(name: str) -> Iterator[Callable[[list[str]], None]]:
    """Log `name` starting; the caller hands what it did to the function it gets, which
    logs it with the time taken; a failure is logged with its time and cause, and raised."""
    started = time.perf_counter()
    log.info("%s: started", name)

    def done(lines: list[str]) -> None:
        for line in lines:
            log.info("%s: %s", name, line)
        log.info("%s: done in %.1f s", name, time.perf_counter() - started)

    try:
        yield done
    except Exception as e:
        from .failures import cause_line, error_line  # noqa: PLC0415

        cause = cause_line(e)
        log.error("%s: failed after %.1f s: %s%s", name, time.perf_counter() - started,
                  error_line(e), f" (caused by {cause})" if cause else "")
        raise
