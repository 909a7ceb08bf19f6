"""The merge: staging → core in one transaction, idempotent.

Steps, all set-based: take each record's latest version into core.records; link records
into cases (warehouse.linking); rebuild each golden record and write only the ones whose
content changed; bring the case parties up to date; append new events to the timeline;
close and open history rows where a case's state changed. Merging the same staged data
again changes nothing; a merge killed before COMMIT leaves the warehouse as it was.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from schemas.codes import CATEGORIES, CATEGORY_BUCKET

from .golden import GOLDEN_SQL, PARTIES_SQL, TIMELINE_SQL
from .linking import LinkResult, link

#: golden columns that make up a case's content (everything but run bookkeeping)
_CASE_COLUMNS = (
    "category_code", "bucket", "title", "summary", "scale", "people_count", "amount",
    "county_code", "town_code", "village_code", "grid_code", "address", "lon_wgs84",
    "lat_wgs84", "occurred_at", "reported_at", "accepted_at", "resolved_at", "closed_at",
    "channel", "status", "status_source", "status_at", "handling_level", "highest_level",
    "handling_org", "handler", "resolved", "satisfaction", "supervision", "major", "urgent",
    "sources", "records", "grid_report_ids", "township_ids", "county_ids", "province_ids")
_STATE_COLUMNS = ("status", "handling_level", "handling_org", "handler", "resolved")


@dataclass
class MergeSummary:
    run_id: str
    records_new: int = 0
    records_changed: int = 0
    cases_new: int = 0
    cases_changed: int = 0
    cases_removed: int = 0
    timeline_added: int = 0
    history_opened: int = 0
    link: dict[str, Any] = field(default_factory=dict)
    #: wall time of the linking inside the merge (the benchmark reports it apart)
    link_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def merge(con: duckdb.DuckDBPyConnection, run_id: str) -> MergeSummary:
    """Merge staging into core, in one transaction."""
    summary = MergeSummary(run_id=run_id)
    con.execute("BEGIN")
    try:
        _refresh_buckets(con)
        summary.records_new, summary.records_changed = _refresh_records(con, run_id)
        started = time.perf_counter()
        result: LinkResult = link(con, run_id)
        summary.link_seconds = round(time.perf_counter() - started, 3)
        summary.link = asdict(result)
        summary.cases_new, summary.cases_changed, summary.cases_removed = \
            _refresh_cases(con, run_id)
        _refresh_parties(con)
        summary.timeline_added = _append_timeline(con)
        summary.history_opened = _update_history(con, run_id)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return summary


def _refresh_buckets(con: duckdb.DuckDBPyConnection) -> None:
    table = pa.table({"code": list(CATEGORIES), "name": list(CATEGORIES.values()),
                      "bucket": [CATEGORY_BUCKET[c].value for c in CATEGORIES]})
    con.register("_buckets", table)
    con.execute("""
        INSERT INTO ref.category_buckets SELECT * FROM _buckets
        ON CONFLICT (code) DO UPDATE SET name = excluded.name, bucket = excluded.bucket""")
    con.unregister("_buckets")


def _refresh_records(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, int]:
    """Point every record at its latest staged version; returns (new, changed)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _latest AS
        SELECT source || ':' || source_record_id AS record_uid, source, source_record_id,
               batch_id, row_no, origin, raw_hash, versions::INTEGER AS versions, first_seen
        FROM (
            SELECT *,
                   row_number() OVER w AS rn,
                   count(*) OVER (PARTITION BY source, source_record_id) AS versions,
                   min(loaded_at) OVER (PARTITION BY source, source_record_id) AS first_seen
            FROM staging.cases
            -- batches a quality gate held back stay out of core until released
            WHERE batch_id NOT IN (SELECT batch_id FROM ops.batches WHERE gate = 'blocked')
            WINDOW w AS (PARTITION BY source, source_record_id
                         ORDER BY coalesce(source_updated_at, reported_at, occurred_at) DESC,
                                  batch_id DESC, row_no DESC))
        WHERE rn = 1""")
    (new,) = con.execute("""
        SELECT count(*) FROM _latest l
        WHERE NOT EXISTS (SELECT 1 FROM core.records r WHERE r.record_uid = l.record_uid)
        """).fetchall()[0]
    con.execute("""
        INSERT INTO core.records
        SELECT record_uid, source, source_record_id, '' AS case_id, 'single', batch_id,
               row_no, origin, raw_hash, versions, first_seen, ?
        FROM _latest l
        WHERE NOT EXISTS (SELECT 1 FROM core.records r WHERE r.record_uid = l.record_uid)
        """, [run_id])
    (changed,) = con.execute("""
        SELECT count(*) FROM core.records r JOIN _latest l USING (record_uid)
        WHERE r.batch_id <> l.batch_id OR r.row_no <> l.row_no OR r.versions <> l.versions
        """).fetchall()[0]
    con.execute("""
        UPDATE core.records r SET batch_id = l.batch_id, row_no = l.row_no, origin = l.origin,
               raw_hash = l.raw_hash, versions = l.versions, updated_run = ?
        FROM _latest l
        WHERE r.record_uid = l.record_uid
          AND (r.batch_id <> l.batch_id OR r.row_no <> l.row_no OR r.versions <> l.versions)
        """, [run_id])
    return int(new), int(changed)


def _refresh_cases(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, int, int]:
    cols = ", ".join(_CASE_COLUMNS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _golden AS
        SELECT *, md5(to_json(struct_pack({", ".join(f"{c} := {c}" for c in _CASE_COLUMNS)})))
               AS content_hash
        FROM ({GOLDEN_SQL})""")  # noqa: S608
    (new,) = con.execute("SELECT count(*) FROM _golden g WHERE NOT EXISTS "
                         "(SELECT 1 FROM core.cases c WHERE c.case_id = g.case_id)").fetchall()[0]
    (changed,) = con.execute("SELECT count(*) FROM _golden g JOIN core.cases c USING (case_id) "
                             "WHERE c.content_hash <> g.content_hash").fetchall()[0]
    (removed,) = con.execute("SELECT count(*) FROM core.cases c WHERE NOT EXISTS "
                             "(SELECT 1 FROM _golden g WHERE g.case_id = c.case_id)").fetchall()[0]
    con.execute("DELETE FROM core.cases c WHERE NOT EXISTS "
                "(SELECT 1 FROM _golden g WHERE g.case_id = c.case_id)")
    sets = ", ".join(f"{c} = g.{c}" for c in (*_CASE_COLUMNS, "content_hash"))
    con.execute(f"""
        UPDATE core.cases c SET {sets}, updated_run = ?
        FROM _golden g WHERE g.case_id = c.case_id AND c.content_hash <> g.content_hash
        """, [run_id])  # noqa: S608
    con.execute(f"""
        INSERT INTO core.cases (case_id, {cols}, content_hash, created_run, updated_run)
        SELECT case_id, {cols}, content_hash, ?, ? FROM _golden g
        WHERE NOT EXISTS (SELECT 1 FROM core.cases c WHERE c.case_id = g.case_id)
        """, [run_id, run_id])  # noqa: S608
    return int(new), int(changed), int(removed)


def _refresh_parties(con: duckdb.DuckDBPyConnection) -> None:
    """Make core.case_parties equal the parties the records now give (rows kept if equal)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _parties AS {PARTIES_SQL}")
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'core' AND table_name = 'case_parties'").fetchall()]
    same = " AND ".join(f"p.{c} IS NOT DISTINCT FROM c.{c}" for c in columns)
    con.execute(f"""
        DELETE FROM core.case_parties c WHERE NOT EXISTS (
            SELECT 1 FROM _parties p WHERE {same})""")  # noqa: S608
    con.execute("""
        INSERT INTO core.case_parties BY NAME
        SELECT * FROM _parties p WHERE NOT EXISTS (
            SELECT 1 FROM core.case_parties c
            WHERE c.case_id = p.case_id AND c.party_key = p.party_key)""")


def _append_timeline(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(f"CREATE OR REPLACE TEMP TABLE _events AS {TIMELINE_SQL}")
    # records that moved to another case take their events along
    con.execute("""
        UPDATE core.timeline t SET case_id = e.case_id FROM _events e
        WHERE t.event_key = e.event_key AND t.case_id <> e.case_id""")
    (added,) = con.execute("""
        SELECT count(*) FROM _events e
        WHERE NOT EXISTS (SELECT 1 FROM core.timeline t WHERE t.event_key = e.event_key)
        """).fetchall()[0]
    con.execute("""
        INSERT INTO core.timeline SELECT * FROM _events e
        WHERE NOT EXISTS (SELECT 1 FROM core.timeline t WHERE t.event_key = e.event_key)""")
    return int(added)


def _update_history(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Close the current history row of every case whose state changed; open a new one."""
    same = " AND ".join(f"h.{c} IS NOT DISTINCT FROM c.{c}" for c in _STATE_COLUMNS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _changed AS
        SELECT c.case_id, {", ".join(f"c.{x}" for x in _STATE_COLUMNS)},
               -- the state's own time, but never before the row it replaces
               greatest(coalesce(c.status_at, c.occurred_at),
                        h.valid_from + INTERVAL 1 SECOND) AS valid_from
        FROM core.cases c
        LEFT JOIN core.case_history h ON h.case_id = c.case_id AND h.valid_to IS NULL
        WHERE h.case_id IS NULL OR NOT ({same})""")  # noqa: S608
    con.execute("""
        UPDATE core.case_history h SET valid_to = x.valid_from
        FROM _changed x WHERE h.case_id = x.case_id AND h.valid_to IS NULL""")
    # cases merged away: their last state ends where the surviving case's begins
    con.execute("""
        UPDATE core.case_history h SET valid_to = greatest(h.valid_from, c.status_at)
        FROM core.case_merges m JOIN core.cases c ON c.case_id = m.new_case_id
        WHERE h.case_id = m.old_case_id AND h.valid_to IS NULL""")
    con.execute(f"""
        INSERT INTO core.case_history
        SELECT case_id, {", ".join(_STATE_COLUMNS)}, valid_from, NULL, ? FROM _changed
        """, [run_id])  # noqa: S608
    (n,) = con.execute("SELECT count(*) FROM _changed").fetchall()[0]
    return int(n)
