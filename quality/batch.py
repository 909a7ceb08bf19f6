"""The per-source batch suite and the merge gate it decides.

Over the records of a group of ingested batches (loaded rows in the suite's staged table,
rejected ones in quarantine.records, exact duplicates the rest of raw.records) a Great
Expectations suite checks what a domain's suite file asks (quality.expectations; a pack
keeps it as expectations/batch.toml), and the engine adds one check of its own: no
column drift in these batches (a warning). Any critical failure
blocks the batches (the merge leaves their staged rows out of core); otherwise they pass.

Shares judged on a handful of records say little (one bad row in three is 33%): below the
suite's `min_records` a failing share check is reported as a warning and does not block.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from schemas.model_sql import LATEST_CHILD_AT, in_scope, not_in_future
from schemas.scope import RECEIVED_AT, UNSCOPED, Scope
from warehouse.db import transaction

from .checks import CRITICAL, WARNING, CheckResult, count_check, store_results
from .expectations import BatchSuite, SuiteFileError, to_gx

if TYPE_CHECKING:
    import pandas as pd

SCOPE = "batch"

# One row per raw record: the engine's verdict and scope checks, the suite's columns. The
# scope checks are the ones validation runs (schemas.model_sql), on the staged rows.
_RECORDS_SQL = """
SELECT r.batch_id, r.row_no,
       CASE WHEN s.row_no IS NOT NULL THEN 'loaded'
            -- a ledger's totals row, a JSON value that is no object: not a record the
            -- source meant to send, so not one the quarantine rejected either
            WHEN list_bool_and(list_transform(q.reasons, lambda x: x.reason = 'not_a_record'))
                THEN 'not_a_record'
            WHEN q.row_no IS NOT NULL THEN 'quarantined'
            ELSE 'duplicate' END AS verdict,
       {columns},
       CASE WHEN s.row_no IS NOT NULL THEN {in_scope} END AS in_scope,
       CASE WHEN s.row_no IS NOT NULL THEN {not_in_future} END AS not_in_future
FROM raw.records r
LEFT JOIN {staged} s USING (batch_id, row_no)
LEFT JOIN quarantine.records q USING (batch_id, row_no)
LEFT JOIN (SELECT batch_id, landed_at AS {received_at} FROM ops.batches) b USING (batch_id)
{children}
WHERE r.batch_id = ANY($batches)
ORDER BY r.batch_id, r.row_no
"""
_CHILDREN = """LEFT JOIN (SELECT batch_id, row_no, max("{column}") AS {last_event_at} FROM {table}
           WHERE batch_id = ANY($batches) GROUP BY ALL) e USING (batch_id, row_no)"""
_NO_CHILDREN = "CROSS JOIN (SELECT NULL::TIMESTAMPTZ AS {last_event_at}) e"


def _records_sql(suite: BatchSuite, scope: Scope) -> str:
    records = suite.records
    child = records.latest_child_time
    children = (_CHILDREN.format(column=child.column.replace('"', '""'), table=child.table,
                                 last_event_at=LATEST_CHILD_AT) if child
                else _NO_CHILDREN.format(last_event_at=LATEST_CHILD_AT))
    columns = ",\n       ".join(f"CASE WHEN s.row_no IS NOT NULL THEN ({sql}) END AS {name}"
                                  for name, sql in records.columns.items())
    return _RECORDS_SQL.format(columns=columns, staged=records.table, children=children,
                               in_scope=in_scope(scope, suite.scoped.codes, "s."),
                               not_in_future=not_in_future(scope, suite.scoped.times, "s."),
                               received_at=RECEIVED_AT, last_event_at=LATEST_CHILD_AT)


def _naive_utc(table: pa.Table) -> pa.Table:
    """Times as naive UTC: GX's pandas paths drop time zones with a warning (a zoned
    Arrow timestamp holds UTC instants: the cast only drops the zone)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp(f.type.unit)))
    return table


def _code_lists(con: duckdb.DuckDBPyConnection, suite: BatchSuite) -> dict[str, list[str]]:
    """The codes of every list the suite names, from ref.codes (sorted)."""
    names = sorted(suite.code_lists())
    held = dict(con.execute("SELECT list_name, list(code) FROM ref.codes "
                            "WHERE list_name = ANY(?) GROUP BY ALL", [names]).fetchall())
    for name in names:
        if not held.get(name):
            raise SuiteFileError(f"{suite.path}: code list {name!r} has no codes in ref.codes")
    return {name: sorted(codes) for name, codes in held.items()}


@dataclass
class GateDecision:
    source: str
    status: str                 # passed | blocked
    batch_ids: list[int]
    failed_checks: list[str]    # the critical checks that failed
    reason: str
    warnings: list[str] = field(default_factory=list)  # warning checks that failed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchData:
    """What the suite looks at, read out of the warehouse (no personal data)."""

    suite: BatchSuite
    source: str
    batch_ids: list[int]
    records: pd.DataFrame | None
    drift: CheckResult
    #: the codes of each list the suite's value sets name
    code_lists: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return 0 if self.records is None else len(self.records)


def suite_name(source: str) -> str:
    return f"batch_{source}"


def read_batches(con: duckdb.DuckDBPyConnection, suite: BatchSuite, source: str,
                 batch_ids: list[int], scope: Scope = UNSCOPED) -> BatchData:
    """The batches' records for `suite`, with the `scope` checks on the loaded ones."""
    (rows,) = con.execute("SELECT count(*) FROM raw.records WHERE batch_id = ANY(?)",
                          [batch_ids]).fetchall()[0]
    try:
        table = con.sql(_records_sql(suite, scope), params={"batches": batch_ids}) \
            .to_arrow_table() if rows else None
    except duckdb.Error as e:  # a column or table of the file the warehouse does not have
        raise SuiteFileError(f"{suite.path}: records: {type(e).__name__}: {e}") from None
    records = None if table is None else _naive_utc(table).to_pandas()
    drift = count_check(
        con, scope=SCOPE, suite=suite_name(source), check="no_drift", severity=WARNING,
        source=source, params=[batch_ids, batch_ids],
        sql="SELECT (SELECT count(*) FROM ops.batches WHERE batch_id = ANY(?)), "
            "(SELECT count(*) FROM ops.drift WHERE batch_id = ANY(?))",
        detail="{bad} column drifts recorded in these {n} batches")
    return BatchData(suite, source, list(batch_ids), records, drift,
                     _code_lists(con, suite) if rows else {})


def evaluate(data: BatchData, run_id: str, reports_dir: Path) -> list[CheckResult]:
    """Run the suite on the read-out frame (no warehouse connection needed)."""
    results = [data.drift]
    if data.records is None:
        return results
    from .gx import open_context, to_check, validate  # noqa: PLC0415 - imports GX

    name = suite_name(data.source)
    ctx = open_context(reports_dir)
    least = data.suite.min_records
    expectations = to_gx(data.suite, data.code_lists)
    for r in validate(ctx, name, data.records, expectations, run_id):
        check = to_check(r, scope=SCOPE, suite=name, source=data.source)
        if check.severity == CRITICAL and (check.threshold or 0) > 0 \
                and (check.element_count or 0) < least:
            check.severity = WARNING
            check.detail += f" (fewer than {least} records: a warning, not a block)"
        results.append(check)
    return results


def decide(source: str, batch_ids: list[int], results: list[CheckResult],
           rows: int) -> GateDecision:
    failed = [r for r in results if r.failed_critical]
    warnings = [r.check for r in results if not r.success and r.severity == WARNING]
    if failed:
        reason = "; ".join(f"{r.check}: {r.detail}" for r in failed)
        return GateDecision(source, "blocked", batch_ids, [r.check for r in failed], reason,
                            warnings)
    if not rows:
        reason = "no records in these batches"
    else:
        reason = f"{len(results)} checks on {rows} records, no critical failure"
        if warnings:
            reason += f"; warnings: {', '.join(warnings)}"
    return GateDecision(source, "passed", batch_ids, [], reason, warnings)


def record(con: duckdb.DuckDBPyConnection, run_id: str, decision: GateDecision,
           results: list[CheckResult]) -> None:
    """Store the results and the decision, and mark the batches, in one transaction."""
    with transaction(con, "gate"):
        store_results(con, run_id, results)
        con.execute("INSERT INTO ops.gates VALUES (?, ?, ?, ?, ?, now())",
                    [run_id, decision.source, decision.batch_ids, decision.status,
                     decision.reason])
        con.execute("UPDATE ops.batches SET gate = ?, gate_run = ? WHERE batch_id = ANY(?)",
                    [decision.status, run_id, decision.batch_ids])


def reports_dir_of(con: duckdb.DuckDBPyConnection) -> Path:
    """<home>/reports for the warehouse file `con` has open (<home>/warehouse.duckdb)."""
    (path,) = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = "
                          "current_database()").fetchall()[0]
    return Path(path).absolute().parent / "reports"


def check_batches(con: duckdb.DuckDBPyConnection, suite: BatchSuite, source: str,
                  batch_ids: list[int], run_id: str, *, reports_dir: Path | None = None,
                  scope: Scope = UNSCOPED) -> GateDecision:
    """Run `suite` over `batch_ids` of `source`, store every check, decide and record the
    gate (in a transaction of its own: `con` must not be inside one). GX results go
    under `reports_dir` (default: `reports` beside the warehouse file)."""
    data = read_batches(con, suite, source, batch_ids, scope)
    results = evaluate(data, run_id, reports_dir or reports_dir_of(con))
    decision = decide(source, list(batch_ids), results, data.rows)
    record(con, run_id, decision, results)
    return decision
