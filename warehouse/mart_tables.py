"""The marts kept as tables by the merge (migration 0008), recomputed for the cases it touches.

- core.case_conflicts (marts.status_conflicts): a case where one level's latest word is
  resolved and another level's is open (by the status family, ref.status_family: an
  escalation in flight is neither);
- core.unsynced (marts.sync_gap): county records whose case holds no province record;
- core.party_pairs (marts.repeat_disputes): two parties who meet in more than one case.

The first two depend only on a case's own records, so recomputing the merge's scope of
whole cases gives the rows a full recompute gives. A pair depends on every case that holds
both parties: its rows are recomputed for every party the scope's cases held before the
merge or hold after it, over all the cases those parties appear in.
"""

from __future__ import annotations

import duckdb

# `{records}` is a relation with core.records' columns holding whole cases (golden.RECORDS)

# each level's latest word on a case (its newest record), as marts.level_status has it
_CONFLICTS = """
WITH w AS (
    SELECT r.case_id, r.source,
           coalesce(s.source_updated_at, s.reported_at, s.occurred_at) AS stated_at,
           f.status_family AS family
    FROM {records} r JOIN staging.cases s USING (batch_id, row_no)
    LEFT JOIN ref.status_family f ON f.status = s.status
    QUALIFY row_number() OVER (PARTITION BY r.case_id, r.source
                               ORDER BY coalesce(s.source_updated_at, s.reported_at,
                                                 s.occurred_at) DESC, r.record_uid DESC) = 1
)
SELECT case_id,
       list_sort(list(DISTINCT source) FILTER (WHERE family = 'resolved')),
       list_sort(list(DISTINCT source) FILTER (WHERE family = 'open')),
       max(stated_at) FILTER (WHERE family = 'resolved'),
       max(stated_at) FILTER (WHERE family = 'open')
FROM w GROUP BY case_id
HAVING count(*) FILTER (WHERE family = 'resolved') > 0
   AND count(*) FILTER (WHERE family = 'open') > 0
"""

_UNSYNCED = """
SELECT r.case_id, r.source_record_id, s.occurred_at, s.reported_at, s.status,
       s.source_updated_at
FROM {records} r JOIN staging.cases s USING (batch_id, row_no)
WHERE r.source = 'county'
  AND coalesce(s.status, '') <> 'merged'
  AND NOT EXISTS (SELECT 1 FROM {records} p
                  WHERE p.case_id = r.case_id AND p.source = 'province')
"""

# `{cases}` keeps the cases whose parties count, `{pairs}` the pairs to recompute
_PAIRS = """
WITH p AS (SELECT case_id, party_key, name FROM core.case_parties WHERE {cases})
SELECT a.party_key, b.party_key, min(a.name), min(b.name), count(DISTINCT a.case_id),
       list_sort(list(DISTINCT a.case_id)), min(c.occurred_at), max(c.occurred_at)
FROM p a
JOIN p b ON a.case_id = b.case_id AND a.party_key < b.party_key
JOIN core.cases c ON c.case_id = a.case_id
WHERE {pairs}
GROUP BY a.party_key, b.party_key
HAVING count(DISTINCT a.case_id) >= 2
"""
#: the noted parties' pairs, from the cases that hold one of them
_NOTED = {"cases": "case_id IN (SELECT case_id FROM core.case_parties "
                   "WHERE party_key IN (SELECT party_key FROM _pair_keys))",
          "pairs": "(a.party_key IN (SELECT party_key FROM _pair_keys) "
                   "OR b.party_key IN (SELECT party_key FROM _pair_keys))"}


def refresh_case_marts(con: duckdb.DuckDBPyConnection, records: str, where: str) -> None:
    """Recompute the per-case mart rows of the cases in `records`; `where` (on `c.case_id`)
    keeps the rows that may go, as in the merge's scope."""
    for table, sql in (("case_conflicts", _CONFLICTS), ("unsynced", _UNSYNCED)):
        con.execute(f"DELETE FROM core.{table} c WHERE {where}")  # noqa: S608
        con.execute(f"INSERT INTO core.{table} {sql.replace('{records}', records)}")


def note_pair_parties(con: duckdb.DuckDBPyConnection, where: str) -> None:
    """Note the parties of the cases `where` keeps (on `c.case_id`) before the merge
    rewrites them; refresh_pairs adds the parties those cases hold after."""
    con.execute("CREATE OR REPLACE TEMP TABLE _pair_keys AS "  # noqa: S608
                f"SELECT party_key FROM core.case_parties c WHERE {where}")


def refresh_pairs(con: duckdb.DuckDBPyConnection, where: str | None) -> None:
    """Recompute the pairs of every party noted or now held by the cases `where` keeps
    (every pair when `where` is None: a full merge)."""
    if where is None:
        con.execute("DELETE FROM core.party_pairs")
        con.execute(f"INSERT INTO core.party_pairs {_PAIRS.format(cases='TRUE', pairs='TRUE')}")
        return
    con.execute(f"INSERT INTO _pair_keys SELECT party_key FROM core.case_parties c "  # noqa: S608
                f"WHERE {where}")
    con.execute("""
        DELETE FROM core.party_pairs
        WHERE party_key_a IN (SELECT party_key FROM _pair_keys)
           OR party_key_b IN (SELECT party_key FROM _pair_keys)""")
    con.execute(f"INSERT INTO core.party_pairs {_PAIRS.format(**_NOTED)}")
    con.execute("DROP TABLE _pair_keys")
