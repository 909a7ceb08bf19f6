"""The merge: staging → core in one transaction, idempotent.

Steps, all set-based: take each record's latest version into core.records; link records
into cases (warehouse.linking); rebuild each golden record and write only the ones whose
content changed; bring the case parties up to date; append new events to the timeline;
close and open history rows where a case's state changed. Merging the same staged data
again changes nothing; a merge killed before COMMIT leaves the warehouse as it was.

Incremental: the records whose current version is new or changed ("touched") are relinked
with the cases around them (warehouse.linking), and golden records, parties, timeline and
history are recomputed only for the cases that hold a touched record or gained or lost a
record, and the events of those records. Each of these depends only on its own case's (or
record's) records, so the result is the one a full recompute gives; a full recompute runs
when asked for, when most records are touched anyway, when the category buckets changed
(they feed every record's linking and every golden record) or a status's family did
(ref.codes: every golden record's `resolved`), or when the rules changed
(core.merge_rules keeps the digest of the linking and survivorship code core was built
with).

Marts: the caller passes the marts to keep (warehouse.marts, from a pack's mart files);
after core, the merge refreshes them in the same transaction, handing on the keys it
touched (TOUCHED_KEYS) as relations it owns, or none after a full recompute.

Memory: the merge caps DuckDB's memory (MEMORY_LIMIT; DuckDB spills to its temp directory
beside the warehouse past it) and lets it drop insertion order, which nothing here needs.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from schemas.codes import CATEGORIES, CATEGORY_BUCKET

from . import linking
from .code_lists import refresh_codes
from .db import transaction
from .golden import golden_sql, parties_sql, records_in, timeline_sql
from .linking import LinkResult, case_id_of, link
from .marts import refresh_marts
from .model_file import ModelFile

#: the core tables the merge writes, derived from staging alone (a rebuild empties them
#: all); the marts' tables it refreshes are the caller's
MERGED_TABLES = ("core.records", "core.cases", "core.case_history", "core.case_parties",
                 "core.timeline", "core.case_merges")
#: the merge's working relations, temp tables it fills and hands on by name (to the
#: linking, the scope, the marts) and drops at its end: the records whose current version
#: is new or changed (record_uid, is_new); the records and cases an incremental merge
#: recomputes; the parties those cases held before the merge or hold after it
_TOUCHED = "_merge_touched"
_SCOPE_RECORDS, _SCOPE_CASES, _SCOPE_PARTIES = \
    "_merge_scope_records", "_merge_scope_cases", "_merge_scope_parties"
#: where linking.link leaves the records it moved to another case (record_uid,
#: old_case_id, new_case_id: its docstring); named there, not passed, because the rules
#: digest covers linking.py's source and any edit to it makes the next merge a full one
_MOVED = "_link_moved"
#: what an incremental merge touched, by key (a mart of kind INCREMENTAL_BY_KEY names
#: one): every case it recomputed, and every party such a case held before or holds after
TOUCHED_KEYS = {"case_id": _SCOPE_CASES, "party_key": _SCOPE_PARTIES}
#: DuckDB's memory cap while merging (its default is 80% of the machine's memory)
MEMORY_LIMIT = "1GB"
#: above this share of touched records a full recompute costs no more than the scoped one
FULL_SHARE = 0.25

#: golden columns that make up a case's content (everything but run bookkeeping)
_CASE_COLUMNS = (
    "category_code", "bucket", "title", "summary", "scale", "people_count", "amount",
    "county_code", "town_code", "village_code", "grid_code", "address", "lon_wgs84",
    "lat_wgs84", "occurred_at", "reported_at", "accepted_at", "resolved_at", "closed_at",
    "channel", "status", "status_source", "status_at", "handling_level", "highest_level",
    "handling_org", "handler", "resolved", "satisfaction", "supervision", "major", "urgent",
    "sources", "records", "grid_report_ids", "township_ids", "county_ids", "province_ids",
    "province_status", "province_status_at")
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
    #: "full" (every case recomputed) or "incremental" (the cases around touched records)
    mode: str = "full"
    #: records whose current version is new or changed, and the cases recomputed
    records_touched: int = 0
    cases_recomputed: int = 0
    #: wall time of the linking inside the merge (the benchmark reports it apart)
    link_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def merge(con: duckdb.DuckDBPyConnection, run_id: str, marts: Sequence[ModelFile], *,
          full: bool | None = None, memory_limit: str | None = MEMORY_LIMIT) -> MergeSummary:
    """Merge staging into core and refresh `marts`, in one transaction.

    full=None picks: incremental unless most records are touched or the buckets changed;
    full=True recomputes every case; full=False is incremental unless the buckets
    changed. All three give the same core and mart tables. memory_limit=None leaves
    DuckDB's."""
    summary = MergeSummary(run_id=run_id)
    with _merge_settings(con, memory_limit), transaction(con, "merge"):
        rules_changed = _refresh_rules(con)
        buckets_changed = _refresh_buckets(con)
        families_changed = refresh_codes(con)
        summary.records_new, summary.records_changed = _refresh_records(con, run_id, _TOUCHED)
        (touched, total) = con.execute(
            f"SELECT (SELECT count(*) FROM {_TOUCHED}), count(*) FROM core.records"  # noqa: S608
            ).fetchall()[0]
        summary.records_touched = int(touched)
        if full is None:
            full = touched > FULL_SHARE * total
        full = full or buckets_changed or families_changed or rules_changed
        summary.mode = "full" if full else "incremental"
        started = time.perf_counter()
        result: LinkResult = link(con, run_id, None if full else _TOUCHED)
        summary.link_seconds = round(time.perf_counter() - started, 3)
        summary.link = asdict(result)
        scope = _Scope.everything() if full else _Scope.around(con, _TOUCHED, _MOVED)
        summary.cases_recomputed = _count_cases(con, scope)
        summary.cases_new, summary.cases_changed, summary.cases_removed = \
            _refresh_cases(con, run_id, scope)
        if not full:  # the parties of the scope's cases before the merge rewrites them
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_SCOPE_PARTIES} AS "  # noqa: S608
                        f"SELECT party_key FROM core.case_parties c WHERE {scope.where}")
        _refresh_parties(con, scope)
        if not full:  # and after
            con.execute(f"INSERT INTO {_SCOPE_PARTIES} SELECT party_key "  # noqa: S608
                        f"FROM core.case_parties c WHERE {scope.where}")
        summary.timeline_added = _append_timeline(con, scope)
        summary.history_opened = _update_history(con, run_id, scope)
        refresh_marts(con, marts, None if full else TOUCHED_KEYS)
        for working in (_TOUCHED, _MOVED, _SCOPE_RECORDS, _SCOPE_CASES, _SCOPE_PARTIES):
            con.execute(f"DROP TABLE IF EXISTS {working}")
    return summary


@contextmanager
def _merge_settings(con: duckdb.DuckDBPyConnection, memory_limit: str | None) -> Iterator[None]:
    """Cap DuckDB's memory and drop insertion order for the merge; restore them after."""
    wanted = {"preserve_insertion_order": "false"}
    if memory_limit is not None:
        wanted["memory_limit"] = memory_limit
    before = {k: con.execute(f"SELECT current_setting('{k}')").fetchall()[0][0]
              for k in wanted}
    for k, v in wanted.items():
        con.execute(f"SET {k} = '{v}'")
    try:
        yield
    finally:
        for k, v in before.items():
            con.execute(f"SET {k} = '{v}'")


@dataclass(frozen=True)
class _Scope:
    """What a merge recomputes: the records whose golden inputs (`cases`: whole cases)
    and whose events (`records`) it rebuilds, and the filter on a core table's case_id
    (as `c.case_id`) that keeps the rows it may delete or replace."""
    cases: str
    records: str
    where: str

    @classmethod
    def everything(cls) -> _Scope:
        return cls("core.records", "core.records", "TRUE")

    @classmethod
    def around(cls, con: duckdb.DuckDBPyConnection, touched: str, moved: str) -> _Scope:
        """The `touched` records and those that `moved` case; the cases that hold one of
        them now or held one before (a case that lost records, or that is gone)."""
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {_SCOPE_RECORDS} AS
            SELECT record_uid FROM {touched} UNION SELECT record_uid FROM {moved}""")  # noqa: S608
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {_SCOPE_CASES} AS
            SELECT case_id FROM core.records
            WHERE record_uid IN (SELECT record_uid FROM {_SCOPE_RECORDS})
            UNION SELECT old_case_id FROM {moved} WHERE old_case_id <> ''""")  # noqa: S608
        cases = f"case_id IN (SELECT case_id FROM {_SCOPE_CASES})"  # noqa: S608
        return cls(f"(SELECT * FROM core.records WHERE {cases})",  # noqa: S608
                   records_in(_SCOPE_RECORDS), f"c.{cases}")


def _count_cases(con: duckdb.DuckDBPyConnection, scope: _Scope) -> int:
    (n,) = con.execute(f"SELECT count(DISTINCT case_id) FROM {scope.cases}").fetchall()[0]  # noqa: S608
    return int(n)


def rules_digest() -> str:
    """The digest of the rules core is built with: change any and the next merge is full."""
    text = "\n".join((golden_sql(), parties_sql(), timeline_sql(), case_id_of("")))
    return hashlib.sha256(inspect.getsource(linking).encode() + text.encode()).hexdigest()


def _refresh_rules(con: duckdb.DuckDBPyConnection) -> bool:
    """Record the rules this merge applies; returns whether they differ from the last."""
    digest = rules_digest()
    stored = con.execute("SELECT digest FROM core.merge_rules").fetchall()
    if stored == [(digest,)]:
        return False
    con.execute("DELETE FROM core.merge_rules")
    con.execute("INSERT INTO core.merge_rules VALUES (?, now())", [digest])
    return True


def _refresh_buckets(con: duckdb.DuckDBPyConnection) -> bool:
    """Bring ref.category_buckets up to date; returns whether any code's bucket changed."""
    # as list parameters, not an Arrow table: scanning Python objects makes DuckDB import
    # pandas, seconds of a small merge
    codes = list(CATEGORIES)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _buckets AS
        SELECT unnest($1::VARCHAR[]) AS code, unnest($2::VARCHAR[]) AS name,
               unnest($3::VARCHAR[]) AS bucket""",
                [codes, [CATEGORIES[c] for c in codes],
                 [CATEGORY_BUCKET[c].value for c in codes]])
    (changed,) = con.execute("""
        SELECT count(*) FROM _buckets n FULL JOIN ref.category_buckets o USING (code)
        WHERE n.bucket IS DISTINCT FROM o.bucket""").fetchall()[0]
    con.execute("""
        INSERT INTO ref.category_buckets SELECT * FROM _buckets
        ON CONFLICT (code) DO UPDATE SET name = excluded.name, bucket = excluded.bucket""")
    return bool(changed)


def _refresh_records(con: duckdb.DuckDBPyConnection, run_id: str,
                     touched: str) -> tuple[int, int]:
    """Point every record at its latest staged version; returns (new, changed). The
    records whose current version is new or changed are left in `touched`."""
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
    # the records whose current version is new or changed: what the merge works around
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {touched} AS
        SELECT l.record_uid, r.record_uid IS NULL AS is_new
        FROM _latest l LEFT JOIN core.records r USING (record_uid)
        WHERE r.record_uid IS NULL
           OR r.batch_id <> l.batch_id OR r.row_no <> l.row_no OR r.versions <> l.versions
        """)  # noqa: S608
    new, changed = con.execute(f"SELECT count(*) FILTER (WHERE is_new), "  # noqa: S608
                               f"count(*) FILTER (WHERE NOT is_new) FROM {touched}"
                               ).fetchall()[0]
    con.execute(f"""
        INSERT INTO core.records
        SELECT record_uid, source, source_record_id, '' AS case_id, 'single', batch_id,
               row_no, origin, raw_hash, versions, first_seen, ?
        FROM _latest l
        WHERE record_uid IN (SELECT record_uid FROM {touched} WHERE is_new)
        """, [run_id])  # noqa: S608
    con.execute("""
        UPDATE core.records r SET batch_id = l.batch_id, row_no = l.row_no, origin = l.origin,
               raw_hash = l.raw_hash, versions = l.versions, updated_run = ?
        FROM _latest l
        WHERE r.record_uid = l.record_uid
          AND (r.batch_id <> l.batch_id OR r.row_no <> l.row_no OR r.versions <> l.versions)
        """, [run_id])
    # a gate decided since the last merge may have let a batch in or held it back: its
    # records count as touched even where that left their version count as it was
    con.execute(f"""
        INSERT INTO {touched}
        SELECT DISTINCT source || ':' || source_record_id, false FROM staging.cases
        WHERE batch_id IN (
            SELECT unnest(batch_ids) FROM ops.gates
            WHERE decided_at >= coalesce((SELECT max(started_at) FROM ops.runs
                                          WHERE kind = 'merge' AND status = 'ok'),
                                         '-infinity'::TIMESTAMPTZ))
        EXCEPT SELECT record_uid, false FROM {touched}""")  # noqa: S608
    con.execute("DROP TABLE _latest")
    return int(new), int(changed)


def _refresh_cases(con: duckdb.DuckDBPyConnection, run_id: str,
                   scope: _Scope) -> tuple[int, int, int]:
    cols = ", ".join(_CASE_COLUMNS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _golden AS
        SELECT *, md5(to_json(struct_pack({", ".join(f"{c} := {c}" for c in _CASE_COLUMNS)})))
               AS content_hash
        FROM ({golden_sql(scope.cases)})""")  # noqa: S608
    (new,) = con.execute("SELECT count(*) FROM _golden g WHERE NOT EXISTS "
                         "(SELECT 1 FROM core.cases c WHERE c.case_id = g.case_id)").fetchall()[0]
    (changed,) = con.execute("SELECT count(*) FROM _golden g JOIN core.cases c USING (case_id) "
                             "WHERE c.content_hash <> g.content_hash").fetchall()[0]
    gone = (f"FROM core.cases c WHERE {scope.where} AND NOT EXISTS "  # noqa: S608
            "(SELECT 1 FROM _golden g WHERE g.case_id = c.case_id)")
    (removed,) = con.execute(f"SELECT count(*) {gone}").fetchall()[0]
    con.execute(f"DELETE {gone}")
    # a changed case is replaced whole: DuckDB updates a row with list columns by deleting
    # and inserting it anyway, and its update of forty columns costs far more
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _replaced AS
        SELECT case_id, c.created_run FROM _golden g JOIN core.cases c USING (case_id)
        WHERE c.content_hash <> g.content_hash""")
    con.execute("DELETE FROM core.cases WHERE case_id IN (SELECT case_id FROM _replaced)")
    con.execute(f"""
        INSERT INTO core.cases (case_id, {cols}, content_hash, created_run, updated_run)
        SELECT case_id, {cols}, content_hash, coalesce(r.created_run, ?), ?
        FROM _golden g LEFT JOIN _replaced r USING (case_id)
        WHERE NOT EXISTS (SELECT 1 FROM core.cases c WHERE c.case_id = g.case_id)
        """, [run_id, run_id])  # noqa: S608
    return int(new), int(changed), int(removed)


def _refresh_parties(con: duckdb.DuckDBPyConnection, scope: _Scope) -> None:
    """Make core.case_parties equal the parties the records now give (rows kept if equal)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _parties AS {parties_sql(scope.cases)}")
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'core' AND table_name = 'case_parties'").fetchall()]
    same = " AND ".join(f"p.{c} IS NOT DISTINCT FROM c.{c}" for c in columns)
    con.execute(f"""
        DELETE FROM core.case_parties c WHERE {scope.where} AND NOT EXISTS (
            SELECT 1 FROM _parties p WHERE {same})""")  # noqa: S608
    con.execute("""
        INSERT INTO core.case_parties BY NAME
        SELECT * FROM _parties p WHERE NOT EXISTS (
            SELECT 1 FROM core.case_parties c
            WHERE c.case_id = p.case_id AND c.party_key = p.party_key)""")


def _append_timeline(con: duckdb.DuckDBPyConnection, scope: _Scope) -> int:
    con.execute(f"CREATE OR REPLACE TEMP TABLE _events AS {timeline_sql(scope.records)}")
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


def _update_history(con: duckdb.DuckDBPyConnection, run_id: str, scope: _Scope) -> int:
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
        WHERE {scope.where} AND (h.case_id IS NULL OR NOT ({same}))""")  # noqa: S608
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
