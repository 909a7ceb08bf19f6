"""The per-source batch suite and the merge gate it decides.

Over the records of a group of ingested batches (loaded rows in staging.cases, rejected
ones in quarantine.records, exact duplicates the rest of raw.records) a Great
Expectations suite checks, critically: that the quarantine rejected at most 10%, that
loaded rows carry their required fields, and that loaded source ids are unique per
version; as warnings: known category and township codes, villages inside their
township, reported ≥ occurred, no column drift, and the scope checks (divisions inside
the deployment's, no time past the record's receipt plus the tolerance: a deployment that
sets a scope check to `flag` loads those records and sees their count here; with
`quarantine` none are loaded, so the count is 0). Any critical failure blocks the
batches (the merge leaves their staged rows out of core); otherwise they pass.

Shares judged on a handful of records say little (one bad row in three is 33%): below
MIN_RECORDS a failing share check is reported as a warning and does not block.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from schemas.codes import CATEGORIES
from schemas.model_sql import LAST_EVENT_AT, divisions_in_scope, times_not_in_future
from schemas.scope import RECEIVED_AT, UNSCOPED, Scope
from warehouse.db import transaction

from .checks import CRITICAL, WARNING, CheckResult, count_check, store_results

if TYPE_CHECKING:
    import pandas as pd

SCOPE = "batch"
MAX_REJECTED_SHARE = 0.10
#: near duplicates (a ledger row re-sent with one cell changed) share an id legitimately;
#: a mapping that points the id at a non-unique column makes most rows collide
MAX_DUPLICATE_ID_SHARE = 0.05
MIN_RECORDS = 20
REQUIRED = ("source_record_id", "category_code", "occurred_at", "town_code")

# Only codes, times, flags and record ids: this frame is all GX ever sees. Times are naive
# UTC (GX's pandas paths drop time zones with a warning). The scope checks are the ones
# validation runs (schemas.model_sql), on the staged rows.
_RECORDS_SQL = """
SELECT r.batch_id, r.row_no,
       CASE WHEN s.row_no IS NOT NULL THEN 'loaded'
            -- a ledger's totals row, a JSON value that is no object: not a record the
            -- source meant to send, so not one the quarantine rejected either
            WHEN list_bool_and(list_transform(q.reasons, lambda x: x.reason = 'not_a_record'))
                THEN 'not_a_record'
            WHEN q.row_no IS NOT NULL THEN 'quarantined'
            ELSE 'duplicate' END AS verdict,
       s.source_record_id, timezone('UTC', s.source_updated_at) AS source_updated_at,
       s.category_code, s.town_code, left(s.village_code, 9) AS village_town,
       timezone('UTC', s.occurred_at) AS occurred_at,
       timezone('UTC', s.reported_at) AS reported_at,
       CASE WHEN s.row_no IS NOT NULL THEN d.code IS NOT NULL END AS town_registered,
       CASE WHEN s.row_no IS NOT NULL THEN {in_scope} END AS in_scope,
       CASE WHEN s.row_no IS NOT NULL THEN {not_in_future} END AS not_in_future
FROM raw.records r
LEFT JOIN staging.cases s USING (batch_id, row_no)
LEFT JOIN quarantine.records q USING (batch_id, row_no)
LEFT JOIN ref.divisions d ON d.code = s.town_code AND d.level = 'township'
LEFT JOIN (SELECT batch_id, landed_at AS {received_at} FROM ops.batches) b USING (batch_id)
LEFT JOIN (SELECT batch_id, row_no, max("at") AS {last_event_at} FROM staging.events
           WHERE batch_id = ANY(?) GROUP BY ALL) e USING (batch_id, row_no)
WHERE r.batch_id = ANY(?)
ORDER BY r.batch_id, r.row_no
"""


def _records_sql(scope: Scope) -> str:
    return _RECORDS_SQL.format(in_scope=divisions_in_scope(scope, "s."),
                               not_in_future=times_not_in_future(scope, "s."),
                               received_at=RECEIVED_AT, last_event_at=LAST_EVENT_AT)


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

    source: str
    batch_ids: list[int]
    records: pd.DataFrame | None
    drift: CheckResult

    @property
    def rows(self) -> int:
        return 0 if self.records is None else len(self.records)


def suite_name(source: str) -> str:
    return f"batch_{source}"


def read_batches(con: duckdb.DuckDBPyConnection, source: str, batch_ids: list[int],
                 scope: Scope = UNSCOPED) -> BatchData:
    """The batches' records for the suite, with the `scope` checks on the loaded ones."""
    (rows,) = con.execute("SELECT count(*) FROM raw.records WHERE batch_id = ANY(?)",
                          [batch_ids]).fetchall()[0]
    records = con.sql(_records_sql(scope), params=[batch_ids, batch_ids]) \
        .to_arrow_table().to_pandas() if rows else None
    drift = count_check(
        con, scope=SCOPE, suite=suite_name(source), check="no_drift", severity=WARNING,
        source=source, params=[batch_ids, batch_ids],
        sql="SELECT (SELECT count(*) FROM ops.batches WHERE batch_id = ANY(?)), "
            "(SELECT count(*) FROM ops.drift WHERE batch_id = ANY(?))",
        detail="{bad} column drift events recorded in these {n} batches")
    return BatchData(source, list(batch_ids), records, drift)


def expectations() -> list[Any]:
    """The suite; each expectation's meta names the check and words its detail."""
    from .gx import load_gx  # noqa: PLC0415

    load_gx()  # silences GX's logger before any of its modules load
    import great_expectations.expectations as gxe  # noqa: PLC0415 - seconds to import
    from great_expectations.expectations.row_conditions import Column  # noqa: PLC0415

    loaded = Column("verdict") == "loaded"

    def meta(check: str, detail: str) -> dict[str, str]:
        return {"check": check, "detail": detail}

    suite: list[Any] = [gxe.ExpectColumnValuesToBeInSet(
        column="verdict", value_set=["loaded", "duplicate", "not_a_record"],
        mostly=1 - MAX_REJECTED_SHARE,
        severity=CRITICAL, meta=meta("rejected_share", "{bad} of {n} records rejected by the "
                                     "quarantine ({share}; at most {allowed} allowed)"))]
    suite += [gxe.ExpectColumnValuesToNotBeNull(
        column=column, row_condition=loaded, severity=CRITICAL,
        meta=meta(f"complete_{column}", f"{{bad}} of {{n}} loaded rows without {column}"))
        for column in REQUIRED]
    suite += [
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["source_record_id", "source_updated_at"],
            mostly=1 - MAX_DUPLICATE_ID_SHARE, row_condition=loaded,
            severity=CRITICAL,
            meta=meta("unique_source_version", "{bad} of {n} loaded rows share their (source "
                      "id, updated at) with another ({share}; at most {allowed} allowed)")),
        gxe.ExpectColumnValuesToBeInSet(
            column="category_code", value_set=sorted(CATEGORIES), row_condition=loaded,
            severity=WARNING,
            meta=meta("known_category", "{bad} of {n} loaded rows with a category code "
                      "outside the 28")),
        gxe.ExpectColumnValuesToBeInSet(
            column="town_registered", value_set=[True], row_condition=loaded,
            severity=WARNING,
            meta=meta("known_township", "{bad} of {n} loaded rows with a township code not "
                      "in ref.divisions")),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="town_code", column_B="village_town", ignore_row_if="either_value_is_missing",
            row_condition=loaded, severity=WARNING,
            meta=meta("village_in_township", "{bad} of {n} loaded rows whose village code does "
                      "not start with their township code")),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="reported_at", column_B="occurred_at", or_equal=True,
            ignore_row_if="either_value_is_missing", row_condition=loaded,
            severity=WARNING,
            meta=meta("reported_after_occurred", "{bad} of {n} loaded rows reported before "
                      "they occurred")),
        gxe.ExpectColumnValuesToBeInSet(
            column="in_scope", value_set=[True], row_condition=loaded, severity=WARNING,
            meta=meta("in_scope", "{bad} of {n} loaded rows with a division code outside the "
                      "deployment's divisions (out_of_scope, flagged)")),
        gxe.ExpectColumnValuesToBeInSet(
            column="not_in_future", value_set=[True], row_condition=loaded, severity=WARNING,
            meta=meta("not_in_future", "{bad} of {n} loaded rows with a time past their "
                      "receipt plus the tolerance (in_future, flagged)")),
    ]
    return suite


def evaluate(data: BatchData, run_id: str, reports_dir: Path) -> list[CheckResult]:
    """Run the suite on the read-out frame (no warehouse connection needed)."""
    results = [data.drift]
    if data.records is None:
        return results
    from .gx import open_context, to_check, validate  # noqa: PLC0415 - imports GX

    name = suite_name(data.source)
    ctx = open_context(reports_dir)
    for r in validate(ctx, name, data.records, expectations(), run_id):
        check = to_check(r, scope=SCOPE, suite=name, source=data.source)
        if check.severity == CRITICAL and (check.threshold or 0) > 0 \
                and (check.element_count or 0) < MIN_RECORDS:
            check.severity = WARNING
            check.detail += f" (fewer than {MIN_RECORDS} records: a warning, not a block)"
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


def check_batches(con: duckdb.DuckDBPyConnection, source: str, batch_ids: list[int],
                  run_id: str, *, reports_dir: Path | None = None,
                  scope: Scope = UNSCOPED) -> GateDecision:
    """Run the batch suite over `batch_ids` of `source`, store every check, decide and
    record the gate (in a transaction of its own: `con` must not be inside one). GX
    results go under `reports_dir` (default: `reports` beside the warehouse file)."""
    data = read_batches(con, source, batch_ids, scope)
    results = evaluate(data, run_id, reports_dir or reports_dir_of(con))
    decision = decide(source, list(batch_ids), results, data.rows)
    record(con, run_id, decision, results)
    return decision
