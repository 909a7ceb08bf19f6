"""What the quality report shows, read out of the warehouse in one short session.

Everything here is codes, counts, times, run ids and PII-free details, except the
quarantine examples' raw records, which leave this module only through
`quality.masking.example`.
"""

from __future__ import annotations

from typing import Any

import duckdb

from conform.mapping import Mapping

from .freshness import Sources, source_status
from .masking import Example, example

EXAMPLES_PER_REASON = 3
GATES_SHOWN = 40
FAILED_STEPS_SHOWN = 20


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
          ) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def accounting(con: duckdb.DuckDBPyConnection, names: list[str]) -> list[dict[str, Any]]:
    """Per source: the latest ingest run's counts, all-time counts, and the latest gate."""
    rows = _rows(con, """
        WITH runs AS (
            SELECT source, arg_max(run_id, started_at) AS latest_run
            FROM ops.runs WHERE kind = 'ingest' AND status = 'ok' GROUP BY source),
        per_run AS (
            SELECT run_id, sum(read) AS read, sum(loaded) AS loaded,
                   sum(quarantined) AS quarantined, sum(duplicates) AS duplicates
            FROM ops.accounting WHERE kind = 'ingest' GROUP BY run_id),
        total AS (
            SELECT source, sum(read) AS read, sum(loaded) AS loaded,
                   sum(quarantined) AS quarantined, sum(duplicates) AS duplicates
            FROM ops.accounting WHERE kind = 'ingest' GROUP BY source),
        gate AS (
            SELECT source, arg_max(status, decided_at) AS gate,
                   arg_max(reason, decided_at) AS gate_reason,
                   arg_max(len(batch_ids), decided_at) AS gate_batches
            FROM ops.gates GROUP BY source),
        blocked AS (
            SELECT source, count(*) AS blocked_batches FROM ops.batches
            WHERE gate = 'blocked' GROUP BY source)
        SELECT s.source, r.latest_run,
               coalesce(p.read, 0) AS run_read, coalesce(p.loaded, 0) AS run_loaded,
               coalesce(p.quarantined, 0) AS run_quarantined,
               coalesce(p.duplicates, 0) AS run_duplicates,
               coalesce(t.read, 0) AS read, coalesce(t.loaded, 0) AS loaded,
               coalesce(t.quarantined, 0) AS quarantined,
               coalesce(t.duplicates, 0) AS duplicates,
               g.gate, g.gate_reason, g.gate_batches,
               coalesce(b.blocked_batches, 0) AS blocked_batches
        FROM (SELECT unnest(?::VARCHAR[]) AS source) s
        LEFT JOIN runs r USING (source) LEFT JOIN per_run p ON p.run_id = r.latest_run
        LEFT JOIN total t USING (source) LEFT JOIN gate g USING (source)
        LEFT JOIN blocked b USING (source)""", [names])
    order = {s: i for i, s in enumerate(names)}
    return sorted(rows, key=lambda r: order[r["source"]])


def quarantine(con: duckdb.DuckDBPyConnection, mappings: list[Mapping]
               ) -> list[dict[str, Any]]:
    """Open quarantine by reason: counts per source and up to three masked examples."""
    counts = _rows(con, """
        SELECT u.reason, q.source, count(DISTINCT q.quarantine_id) AS records
        FROM quarantine.records q, unnest(q.reasons) t(u)
        WHERE q.status = 'open' GROUP BY ALL ORDER BY u.reason, q.source""")
    # the newest record of each source in turn (newest first), so examples show variety
    picked = _rows(con, """
        SELECT * FROM (
            SELECT *, row_number() OVER (PARTITION BY _reason
                                         ORDER BY k_source, quarantine_id DESC) AS k
            FROM (
                SELECT u.reason AS _reason, q.quarantine_id, q.source, q.origin, q.row_no,
                       q.mapping, q.reasons, r.record::VARCHAR AS record, r.raw_text,
                       row_number() OVER (PARTITION BY u.reason, q.source
                                          ORDER BY q.quarantine_id DESC) AS k_source
                FROM quarantine.records q
                JOIN raw.records r ON r.batch_id = q.batch_id AND r.row_no = q.row_no,
                     unnest(q.reasons) t(u)
                WHERE q.status = 'open'))
        WHERE k <= ? ORDER BY _reason, k""", [EXAMPLES_PER_REASON])
    out: dict[str, dict[str, Any]] = {}
    for c in counts:
        entry = out.setdefault(c["reason"], {"reason": c["reason"], "records": 0,
                                             "by_source": {}, "examples": []})
        entry["records"] += c["records"]
        entry["by_source"][c["source"]] = c["records"]
    for p in picked:
        shown: Example = example(p, mappings)
        out[p["_reason"]]["examples"].append(shown)
    return sorted(out.values(), key=lambda e: -e["records"])


def drift(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(con, """
        SELECT source, kind, column_name, expected, count(DISTINCT batch_id) AS batches,
               max(detected_at) AS last_seen
        FROM ops.drift GROUP BY ALL ORDER BY source, kind, column_name""")


def latest_checks(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Each check's most recent result (per scope, source, suite and check)."""
    return _rows(con, """
        SELECT run_id, checked_at, scope, source, suite, check_name, severity, success,
               observed, threshold, element_count, unexpected_count, detail
        FROM ops.quality_results
        QUALIFY row_number() OVER (PARTITION BY scope, source, suite, check_name
                                   ORDER BY checked_at DESC) = 1
        ORDER BY success, severity, scope, source NULLS FIRST, suite, check_name""")


def gates(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(con, """
        SELECT run_id, source, len(batch_ids) AS batches, list_min(batch_ids) AS first_batch,
               list_max(batch_ids) AS last_batch, status, reason, decided_at
        FROM ops.gates ORDER BY decided_at DESC LIMIT ?""", [GATES_SHOWN])


def trends(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per ingest run: rows read, loaded and quarantined, and the quarantine rate."""
    return _rows(con, """
        SELECT r.source, r.run_id, r.started_at, sum(a.read) AS read,
               sum(a.loaded) AS loaded, sum(a.quarantined) AS quarantined,
               CASE WHEN sum(a.read) > 0 THEN sum(a.quarantined) / sum(a.read) END
                   AS quarantine_rate
        FROM ops.runs r JOIN ops.accounting a ON a.run_id = r.run_id AND a.kind = 'ingest'
        WHERE r.kind = 'ingest' GROUP BY ALL ORDER BY r.started_at""")


def failed_steps(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The Airflow tasks that failed for good, newest first (silobridge/failures.py)."""
    return _rows(con, """
        SELECT failed_at, dag_id, task_id, run_id, try_number, error, cause
        FROM ops.task_failures ORDER BY failed_at DESC LIMIT ?""", [FAILED_STEPS_SHOWN])


def gather(con: duckdb.DuckDBPyConnection, mappings: list[Mapping],
           sources: Sources) -> dict[str, Any]:
    return {
        "accounting": accounting(con, [s.name for s in sources]),
        "quarantine": quarantine(con, mappings),
        "drift": drift(con),
        "checks": latest_checks(con),
        "gates": gates(con),
        "status": source_status(con, sources),
        "trends": trends(con),
        "failed_steps": failed_steps(con),
    }
