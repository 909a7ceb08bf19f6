"""Checks on the merged warehouse, run after the merge has committed.

Referential integrity of core, one golden record per case, marts that add up to core,
and cross-level reconciliation. They are aggregates over whole tables, so they run as
DuckDB SQL (scales with the warehouse; nothing is read out). A critical failure cannot
undo the merge: it is stored and reported as critical.
"""

from __future__ import annotations

import duckdb

from .checks import CRITICAL, WARNING, CheckResult, count_check, share, store_results

#: share of cases whose levels disagree (one says resolved, another open) tolerated
MAX_CONFLICT_SHARE = 0.25

_ORPHANS = "SELECT count(*), count(*) FILTER (WHERE c.case_id IS NULL) FROM {table} t " \
           "LEFT JOIN core.cases c USING (case_id)"


def _integrity(con: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    out = []
    for table in ("core.records", "core.case_parties", "core.timeline", "core.case_history"):
        out.append(count_check(
            con, scope="warehouse", suite="warehouse", check=f"{table}_case_exists",
            severity=CRITICAL, sql=_ORPHANS.format(table=table),
            detail=f"{{bad}} of {{n}} rows of {table} name a case missing from core.cases"))
    out.append(count_check(
        con, scope="warehouse", suite="warehouse", check="case_id_unique", severity=CRITICAL,
        sql="SELECT count(*), count(*) - count(DISTINCT case_id) FROM core.cases",
        detail="{bad} duplicate case ids among {n} golden records"))
    out.append(count_check(
        con, scope="warehouse", suite="warehouse", check="golden_has_records",
        severity=CRITICAL,
        sql="SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM core.records r "
            "WHERE r.case_id = c.case_id)) FROM core.cases c",
        detail="{bad} of {n} golden records without any source record"))
    return out


def _marts(con: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    return [
        count_check(
            con, scope="warehouse", suite="warehouse", check="backlog_adds_up",
            severity=CRITICAL,
            sql="SELECT (SELECT count(*) FROM marts.open_cases), abs((SELECT coalesce(sum("
                "open_cases + escalated_cases), 0) FROM marts.backlog_by_township) - "
                "(SELECT count(*) FROM marts.open_cases))",
            detail="backlog by township differs by {bad} from the {n} open and in-flight "
                   "cases"),
        count_check(
            con, scope="warehouse", suite="warehouse", check="resolution_adds_up",
            severity=CRITICAL,
            sql="WITH counted AS (SELECT count(*) AS n FROM core.cases c JOIN "
                "ref.status_family f ON f.status = c.status WHERE f.status_family <> 'void') "
                "SELECT n, abs((SELECT coalesce(sum(cases), 0) FROM "
                "marts.resolution_by_category_level) - n) FROM counted",
            detail="resolution by category and level differs by {bad} from the {n} cases "
                   "it counts (all but void ones)"),
    ]


def _cross_level(con: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    county = count_check(
        con, scope="cross_level", suite="cross_level", check="county_cases_on_timeline",
        severity=CRITICAL,
        sql="""
            SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
                SELECT 1 FROM core.timeline t WHERE t.case_id = r.case_id
                  AND (t.level = 30 OR (t.source = 'county' AND t.kind = 'state'))))
            FROM core.records r WHERE r.source = 'county'""",
        detail="{bad} of {n} county records whose case has no county-level timeline event")
    conflicts, cases = con.execute(
        "SELECT (SELECT count(*) FROM marts.status_conflicts), (SELECT count(*) FROM "
        "core.cases)").fetchall()[0]
    observed = share(conflicts, cases)
    conflict = CheckResult(
        scope="cross_level", suite="cross_level", check="status_conflict_share",
        severity=WARNING, success=observed <= MAX_CONFLICT_SHARE, observed=observed,
        threshold=MAX_CONFLICT_SHARE, element_count=cases, unexpected_count=conflicts,
        detail=f"{conflicts} of {cases} cases resolved at one level and open at another "
               f"({observed * 100:.1f}%; at most {MAX_CONFLICT_SHARE * 100:.0f}% expected)")
    return [county, conflict]


def check_warehouse(con: duckdb.DuckDBPyConnection, run_id: str) -> list[CheckResult]:
    """Run the warehouse and cross-level checks, store them under `run_id`, return them."""
    results = [*_integrity(con), *_marts(con), *_cross_level(con)]
    store_results(con, run_id, results)
    return results
