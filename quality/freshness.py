"""Freshness and volume per source, and the per-source status the merge DAG logs.

Two kinds of freshness: the pipeline's (how long since the source was last extracted
successfully, against its schedule) and the data's (how far the source's newest record
lags behind the newest record of any source of its domain: the data's own clock, so
replays and late runs judge the same way; the domain says what a record's time is,
`DataClock`). Volume compares the rows the latest ingest read with the
median of the source's earlier ingests. All are warnings: they say where to look, they
do not hold data back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

import duckdb

from schemas.pack import SourceDeclaration
from warehouse.runs import ABANDONED

from .checks import WARNING, CheckResult, store_results

#: a source is stale after twice its declared freshness (its schedule's interval); its
#: data may lag the others' by its declared `lag` on top (a platform that syncs late)
STALE_FACTOR = 2
#: the limit for a source that ran but is not declared (a pack removed since)
UNDECLARED_INTERVAL = timedelta(days=1)
MIN_PREVIOUS_RUNS = 3
VOLUME_LOW, VOLUME_HIGH = 0.5, 2.0


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


Sources = Sequence[SourceDeclaration]


def _intervals(sources: Sources) -> dict[str, timedelta]:
    return {s.name: s.freshness for s in sources}


def _sources(con: duckdb.DuckDBPyConnection, sources: Sources) -> list[str]:
    declared = [s.name for s in sources]
    seen = [s for (s,) in con.execute("SELECT DISTINCT source FROM ops.runs WHERE source IS "
                                      "NOT NULL ORDER BY source").fetchall()]
    return [*declared, *(s for s in seen if s not in declared)]


def _limit(sources: Sources, source: str) -> float:
    return _hours(_intervals(sources).get(source, UNDECLARED_INTERVAL) * STALE_FACTOR)


def _last_extract_ages(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, float]]:
    """source → (run id, age in hours) of its last successful extraction."""
    rows = con.execute("""
        SELECT source, arg_max(run_id, finished_at),
               epoch(now() - max(finished_at)) / 3600.0
        FROM ops.runs WHERE kind = 'extract' AND status = 'ok' GROUP BY source""").fetchall()
    return {s: (run, float(age)) for s, run, age in rows}


def pipeline_freshness(con: duckdb.DuckDBPyConnection, sources: Sources) -> list[CheckResult]:
    ages = _last_extract_ages(con)
    out = []
    for source in _sources(con, sources):
        limit = _limit(sources, source)
        if source not in ages:
            out.append(CheckResult(
                scope="freshness", suite="freshness", check="pipeline_fresh", severity=WARNING,
                success=False, threshold=limit, source=source,
                detail="no successful extraction recorded"))
            continue
        run, age = ages[source]
        out.append(CheckResult(
            scope="freshness", suite="freshness", check="pipeline_fresh", severity=WARNING,
            success=age <= limit, observed=age, threshold=limit, source=source,
            detail=f"last successful extraction ({run}) {age:.1f} h ago (stale after {limit:g} h, "
                   f"twice the schedule)"))
    return out


@dataclass(frozen=True)
class DataClock:
    """A domain's data clock: its staged tables, each with the time of one of its records
    (SQL over a staged row, e.g. when the record last changed). A source's newest record
    is compared with the newest of any source of the same domain."""

    #: (staged table, time of a staged row)
    times: tuple[tuple[str, str], ...]
    #: the entries of `times` that are lists sent whole, whose time is when the list
    #: landed, not a time in the data: they never set the domain's newest
    landed: tuple[tuple[str, str], ...] = ()

    def newest(self, con: duckdb.DuckDBPyConnection,
               tables: tuple[tuple[str, str], ...] | None = None) -> dict[str, datetime | None]:
        """source → the time of its newest record the merge takes (staged rows outside
        blocked batches)."""
        # the source from the batch: a child group's staged rows carry no source column
        staged = " UNION ALL ".join(
            f"SELECT b.source, {time} AS _at FROM {table} "  # noqa: S608
            "JOIN ops.batches b USING (batch_id) WHERE b.gate IS DISTINCT FROM 'blocked'"
            for table, time in (self.times if tables is None else tables))
        if not staged:
            return {}
        return dict(con.execute(
            f"SELECT source, max(_at) FROM ({staged}) GROUP BY source").fetchall())  # noqa: S608

    def domain_newest(self, con: duckdb.DuckDBPyConnection) -> datetime | None:
        """The newest time in the domain's data (lists' landings left out)."""
        data = tuple(entry for entry in self.times if entry not in self.landed)
        return max((t for t in self.newest(con, data).values() if t is not None),
                   default=None)


def data_freshness(con: duckdb.DuckDBPyConnection, sources: Sources,
                   clocks: Sequence[DataClock]) -> list[CheckResult]:
    # each source against its own domain's clock: (its newest, the domain's newest)
    newest: dict[str, tuple[datetime | None, datetime | None]] = {}
    for each in clocks:
        times = each.newest(con)
        domain = each.domain_newest(con)
        newest |= {source: (t, domain) for source, t in times.items()}
    out = []
    for declared in sources:
        source = declared.name
        limit = _hours(declared.freshness * STALE_FACTOR + declared.lag)
        own, clock = newest.get(source, (None, None))
        if clock is None or own is None:
            out.append(CheckResult(
                scope="freshness", suite="freshness", check="data_fresh", severity=WARNING,
                success=False, threshold=limit, source=source,
                detail="no records of this source in the warehouse (none staged, or all "
                       "held back by the gate)"))
            continue
        lag = _hours(clock - own)
        out.append(CheckResult(
            scope="freshness", suite="freshness", check="data_fresh", severity=WARNING,
            success=lag <= limit, observed=lag, threshold=limit, source=source,
            detail=f"newest record {lag:.1f} h behind the newest of any source (allowed "
                   f"{limit:g} h)"))
    return out


def check_freshness(con: duckdb.DuckDBPyConnection, run_id: str, sources: Sources,
                    clocks: Sequence[DataClock]) -> list[CheckResult]:
    """`clocks`: each domain's data clock (a domain without one has no data freshness)."""
    results = [*pipeline_freshness(con, sources), *data_freshness(con, sources, clocks)]
    store_results(con, run_id, results)
    return results


def ingest_history(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, int]]]:
    """source → [(ingest run id, rows read)], oldest first, successful ingests only."""
    rows = con.execute("""
        SELECT r.source, r.run_id, coalesce(sum(a.read), 0)
        FROM ops.runs r LEFT JOIN ops.accounting a ON a.run_id = r.run_id AND a.kind = 'ingest'
        WHERE r.kind = 'ingest' AND r.status = 'ok'
        GROUP BY r.source, r.run_id, r.started_at ORDER BY r.source, r.started_at""").fetchall()
    out: dict[str, list[tuple[str, int]]] = {}
    for source, run, read in rows:
        out.setdefault(source, []).append((run, int(read)))
    return out


def check_volume(con: duckdb.DuckDBPyConnection, run_id: str,
                 sources: Sources) -> list[CheckResult]:
    history = ingest_history(con)
    results = []
    for source in (s.name for s in sources):
        runs = history.get(source, [])
        base = CheckResult(scope="volume", suite="volume", check="volume_in_range",
                           severity=WARNING, success=True, source=source)
        if not runs:
            base.detail = "no ingest run yet"
            results.append(base)
            continue
        current, previous = runs[-1][1], [read for _, read in runs[:-1]]
        base.element_count = current
        mid = median(previous) if previous else 0
        if len(previous) < MIN_PREVIOUS_RUNS or mid == 0:
            base.detail = (f"latest ingest read {current} rows; {len(previous)} earlier runs "
                           f"(median {mid:g}): too little history to judge")
        else:
            ratio = current / mid
            base.observed = ratio
            base.threshold = VOLUME_LOW if ratio < 1 else VOLUME_HIGH
            base.success = VOLUME_LOW <= ratio <= VOLUME_HIGH
            base.detail = (f"latest ingest read {current} rows, {ratio * 100:.0f}% of the "
                           f"median {mid:g} of {len(previous)} earlier runs (expected "
                           f"{VOLUME_LOW * 100:.0f}–{VOLUME_HIGH * 100:.0f}%)")
        results.append(base)
    store_results(con, run_id, results)
    return results


_CLASS = re.compile(r"\b([A-Z][A-Za-z]+(?:Error|Exception))\b")


def error_class(message: str | None) -> str | None:
    """A coarse class for a stored run error (the ledger keeps only the message)."""
    if not message:
        return None
    text = message.lower()
    if ABANDONED in text:
        return "abandoned"
    if "signature" in text or "expired" in text or "credential" in text:
        return "auth"
    if "gave up after" in text or "timed out" in text or "timeout" in text:
        return "transient"
    if "no such file" in text or "not found" in text or "does not exist" in text:
        return "not_found"
    if "read ≠" in text or "!= loaded" in text:
        return "accounting"
    found = _CLASS.search(message)
    return found.group(1) if found else "error"


def source_status(con: duckdb.DuckDBPyConnection, sources: Sources) -> list[dict[str, Any]]:
    """Per source: last successful and last failed run, the failure's class, staleness.

    Read-only (works on a read-only connection): the merge DAG logs it."""
    ages = _last_extract_ages(con)
    # an abandoned run (its process died: warehouse.runs) failed as much as a failed one
    last = {(s, st): (run, kind, at, err) for s, st, run, kind, at, err in con.execute("""
        SELECT source, outcome, arg_max(run_id, started_at), arg_max(kind, started_at),
               max(coalesce(finished_at, started_at)), arg_max(error, started_at)
        FROM (SELECT *, CASE status WHEN 'abandoned' THEN 'failed' ELSE status END AS outcome
              FROM ops.runs)
        WHERE source IS NOT NULL AND outcome IN ('ok', 'failed')
        GROUP BY source, outcome""").fetchall()}
    out = []
    for source in _sources(con, sources):
        ok, failed = last.get((source, "ok")), last.get((source, "failed"))
        limit = _limit(sources, source)
        age = ages.get(source, (None, None))[1]
        stale = age is None or age > limit
        out.append({
            "source": source,
            "last_ok_run": ok[0] if ok else None,
            "last_ok_kind": ok[1] if ok else None,
            "last_ok_at": ok[2].isoformat() if ok else None,
            "last_failed_run": failed[0] if failed else None,
            "last_failed_at": failed[2].isoformat() if failed else None,
            "error_class": error_class(failed[3]) if failed else None,
            "failing_now": bool(failed and (not ok or failed[2] > ok[2])),
            "extract_age_hours": None if age is None else round(age, 2),
            "stale_after_hours": limit,
            "stale": stale,
        })
    return out
