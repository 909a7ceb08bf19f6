"""Cross-level linking: which records, at any level, are the same real dispute.

Rules first, in order of strength:
1. explicit cross-references: records that name the same grid report, township event,
   county case or province case id (every source names its own id in its own ref field,
   so a shared typed key is a link);
2. evidence: the same township and the same day of occurrence, compatible villages, a
   shared party (the same resident ID, the same masked ID as the province shows it, the
   same phone, or the same name), and agreement on what it is about: where both records
   know the time of occurrence, the same minute and the same category bucket; where one
   knows only the day (ledgers, some township feeds), the same category. The same
   people can fall out twice in one day; the category tells those disputes apart.
Edges become clusters (connected components). A case's id is derived from its founding
record, the record of the lowest level that saw the dispute, the earliest reported among
those (report time, else occurrence; then the record id): `case_id_of(record_uid)`. Level
first because records of higher levels arrive later and must not rename the case: above
all the province's copy of a county case, which carries the county's times cut to the
second and would otherwise "found" the case the county already holds. So the ids are a
function of the data alone: any order of runs, failures and retries over the same data
gives the same ids (a sequence would hand out numbers in processing order, and a failed
merge would use some up). A new record joins its cluster's case unchanged unless it is
the new founder; when a record bridges two cases the merged case takes the id of its
founder and the other id is recorded in core.case_merges, so an old id stays findable.

Incremental linking (`link(..., touched=...)`) relinks only the records whose current
version changed and the cases around them, with the same result as relinking everything.
Why: an edge depends only on its two records' current versions, and after every link a
case is exactly one connected component. So an edge between two untouched records was
there last time and joins records of one case. Relinking the scope A = the touched
records, every record with an edge to one of them, and every record of those records'
cases, therefore sees every edge of every record in A (no edge leaves A), so its
components are exactly the full graph's components that meet A; the components outside
A are the old cases, unchanged, and since an id depends only on its component's
records, the components in A get the ids a full link gives them.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass

import duckdb

from .golden import records_in

#: rows per statement when the assignment goes back into DuckDB
_CHUNK = 50_000
#: typed keys: (key type, column) pairs that name a record in some source's id space
_XREF_COLUMNS = (("grid", "grid_report_ref"), ("grid", "related_ref"),
                 ("township", "township_ref"), ("county", "county_ref"),
                 ("province", "province_ref"))


#: hex digits of the founding record's SHA-256 in a case id: 64 bits, so that among 10M
#: cases the chance of any two ids colliding is about 3 in a million (and a collision is
#: caught, never silently merged: see `link`)
_ID_HEX = 16


class LinkError(RuntimeError):
    """Linking met a state it must not paper over (two founders hashing to one id)."""


def case_id_of(founder_uid: str) -> str:
    """The id of the case whose founding record is `founder_uid` (the SQL form, used by
    migration 0011, is `'C' || sha256(uid)[1:16]`)."""
    return "C" + hashlib.sha256(founder_uid.encode("utf-8")).hexdigest()[:_ID_HEX]


@dataclass
class LinkResult:
    records: int
    cases: int
    new_cases: int
    merged_cases: int
    xref_edges: int
    rule_edges: int


def candidate_edges(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[str, str]],
                                                              list[tuple[str, str]]]:
    """(xref edges, rule edges) between record_uids of `_link_records` (a temp table)."""
    xref_keys = " UNION ALL ".join(
        f"SELECT record_uid, '{kind}:' || {col} AS k FROM _link_records "  # noqa: S608
        f"WHERE {col} IS NOT NULL" for kind, col in _XREF_COLUMNS)
    xref = con.execute(f"""  -- kinds and columns come from _XREF_COLUMNS, not from data
        WITH keys AS ({xref_keys})
        SELECT DISTINCT a.record_uid, b.record_uid
        FROM keys a JOIN keys b ON a.k = b.k AND a.record_uid < b.record_uid""").fetchall()  # noqa: S608
    rules = con.execute("""
        WITH p AS (
            SELECT r.record_uid, r.town_code, r.day, r.minute, r.village_code, r.bucket,
                   r.category_code, k.kind, k.value
            FROM _link_records r JOIN _link_party_keys k USING (record_uid))
        SELECT DISTINCT a.record_uid, b.record_uid
        FROM p a JOIN p b
          ON a.kind = b.kind AND a.value = b.value AND a.town_code = b.town_code
         AND a.day = b.day AND a.record_uid < b.record_uid
        WHERE (a.village_code IS NULL OR b.village_code IS NULL
               OR a.village_code = b.village_code)
          AND CASE WHEN a.minute IS NOT NULL AND b.minute IS NOT NULL
                   THEN a.minute = b.minute AND a.bucket = b.bucket
                   ELSE a.category_code = b.category_code END""").fetchall()
    return [tuple(e) for e in xref], [tuple(e) for e in rules]


def prepare(con: duckdb.DuckDBPyConnection, records: str = "core.records") -> None:
    """Build `_link_records` and `_link_party_keys` from the current versions of the
    records in `records` (core.records, or a subquery keeping some of its rows)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _link_records AS
        SELECT r.record_uid, s.town_code, s.village_code, s.category_code,
               coalesce(s.reported_at, s.occurred_at) AS founded_at, s.source_level,
               CAST(timezone('Asia/Shanghai', s.occurred_at) AS DATE) AS day,
               -- a date-only source writes midnight: it knows the day, not the minute
               CASE WHEN strftime(timezone('Asia/Shanghai', s.occurred_at), '%H:%M:%S')
                         = '00:00:00' THEN NULL
                    ELSE date_trunc('minute', s.occurred_at) END AS minute,
               b.bucket, s.grid_report_ref, s.related_ref, s.township_ref, s.county_ref,
               s.province_ref
        FROM {records} r
        JOIN staging.cases s USING (batch_id, row_no)
        LEFT JOIN ref.category_buckets b ON b.code = s.category_code""")  # noqa: S608
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _link_party_keys AS
        WITH p AS (
            SELECT r.record_uid, p.* FROM {records} r
            JOIN staging.parties p USING (batch_id, row_no))
        SELECT DISTINCT record_uid, kind, value FROM (
            -- personal numbers only as keyed link hashes and masked forms
            SELECT record_uid, 'id' AS kind, id_number_link AS value FROM p
            WHERE id_number_link IS NOT NULL
            UNION ALL
            SELECT record_uid, 'masked', id_number_masked[1:6] || id_number_masked[-4:]
            FROM p WHERE id_number_masked IS NOT NULL
            UNION ALL
            SELECT record_uid, 'credit', credit_code FROM p WHERE credit_code IS NOT NULL
            UNION ALL
            SELECT record_uid, 'phone', phone_link FROM p WHERE phone_link IS NOT NULL
            UNION ALL
            SELECT record_uid, 'name', trim(name) FROM p WHERE name IS NOT NULL)""")  # noqa: S608


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _scope(con: duckdb.DuckDBPyConnection, touched: str) -> None:
    """`_link_scope`: the records an incremental link must relink (module docstring):
    the records in `touched` (a table of record_uids), every record with an edge to one
    of them, and every record of those records' cases."""
    prepare(con, records_in(touched))
    # a record with an edge to a touched one shares a typed key with it or lies in the
    # same township on the same day: these candidates hold every such record
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _link_near AS
        WITH k AS (
            SELECT DISTINCT v FROM (
                SELECT unnest([grid_report_ref, related_ref, township_ref, county_ref,
                               province_ref]) AS v FROM _link_records)
            WHERE v IS NOT NULL),
        d AS (SELECT DISTINCT {'t': town_code, 'd': day} AS td FROM _link_records
              WHERE town_code IS NOT NULL AND day IS NOT NULL)
        SELECT r.record_uid
        FROM core.records r JOIN staging.cases s USING (batch_id, row_no)
        WHERE {'t': s.town_code,
               'd': CAST(timezone('Asia/Shanghai', s.occurred_at) AS DATE)}
                  IN (SELECT td FROM d)
           OR s.grid_report_ref IN (SELECT v FROM k) OR s.related_ref IN (SELECT v FROM k)
           OR s.township_ref IN (SELECT v FROM k) OR s.county_ref IN (SELECT v FROM k)
           OR s.province_ref IN (SELECT v FROM k)
        UNION SELECT record_uid FROM _link_records""")
    prepare(con, records_in("_link_near"))
    xref, rules = candidate_edges(con)
    seeds = {u for (u,) in con.execute(f"SELECT record_uid FROM {touched}").fetchall()}  # noqa: S608
    near = {b if a in seeds else a for a, b in (*xref, *rules) if a in seeds or b in seeds}
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _link_seeds AS
        SELECT unnest($1::VARCHAR[]) AS record_uid""", [sorted(seeds | near)])
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _link_scope AS
        SELECT record_uid FROM core.records
        WHERE record_uid IN (SELECT record_uid FROM _link_seeds)
           OR case_id IN (SELECT case_id FROM core.records WHERE case_id <> ''
                          AND record_uid IN (SELECT record_uid FROM _link_seeds))""")


def link(con: duckdb.DuckDBPyConnection, run_id: str, touched: str | None = None) -> LinkResult:
    """Assign every core record a case id; stable across runs (see module docstring).

    With `touched` (a table of the record_uids whose current version is new or changed
    since the last link), only the records around them are relinked, with the same
    result; `xref_edges` and `rule_edges` then count the edges in that scope. The
    records whose case changed are left in `_link_moved` (record_uid, old_case_id,
    new_case_id; old_case_id is '' for a new record)."""
    records = "core.records"
    if touched is not None:
        _scope(con, touched)
        records = records_in("_link_scope")
    prepare(con, records)
    xref, rules = candidate_edges(con)
    # the records in founding order (module docstring): a component's first is its founder
    uids = [u for (u,) in con.execute(
        "SELECT record_uid FROM _link_records "
        "ORDER BY source_level, founded_at NULLS LAST, record_uid").fetchall()]
    uf = _UnionFind()
    for a, b in (*xref, *rules):
        uf.union(a, b)
    components: dict[str, list[str]] = defaultdict(list)
    for uid in uids:
        components[uf.find(uid)].append(uid)
    how = {}
    for a, b in rules:
        how.setdefault(a, "rule")
        how.setdefault(b, "rule")
    for a, b in xref:
        how[a] = how[b] = "xref"
    existing = dict(con.execute(
        f"SELECT record_uid, case_id FROM {records} WHERE case_id <> ''").fetchall())  # noqa: S608
    assignment: dict[str, str] = {}
    # old id → {new id: records of that old case that went there}
    went: dict[str, Counter[str]] = defaultdict(Counter)
    new_cases = 0
    for members in components.values():
        case_id = case_id_of(members[0])
        olds = {existing[m] for m in members if m in existing}
        new_cases += case_id not in olds
        for m in members:
            assignment[m] = case_id
            if m in existing:
                went[existing[m]][case_id] += 1
    ids = set(assignment.values())
    if len(ids) != len(components):
        raise LinkError("two founding records hash to one case id: widen _ID_HEX")
    # an old id that no component keeps was merged into the case that took most of its
    # records (ties: the smaller id); an old id still in use was at most split
    merges = sorted((old, min(to, key=lambda c: (-to[c], c)))
                    for old, to in went.items() if old not in ids)
    n_xref, n_rules, n_components, n_uids = len(xref), len(rules), len(components), len(uids)
    del xref, rules, uids, uf, components, existing, went  # a full link holds millions
    # as list parameters in chunks, not an Arrow table: scanning Python objects makes
    # DuckDB import pandas (seconds of a small merge), and chunks keep the copies small
    con.execute("CREATE OR REPLACE TEMP TABLE _assign "
                "(record_uid VARCHAR, case_id VARCHAR, link_rule VARCHAR)")
    rows = list(assignment.items())
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start:start + _CHUNK]
        con.execute("INSERT INTO _assign SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), "
                    "unnest($3::VARCHAR[])", [[u for u, _ in chunk], [c for _, c in chunk],
                                              [how.get(u, "single") for u, _ in chunk]])
    del rows, assignment, how
    con.execute("DROP TABLE IF EXISTS _link_records")
    con.execute("DROP TABLE IF EXISTS _link_party_keys")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _link_moved AS
        SELECT r.record_uid, r.case_id AS old_case_id, a.case_id AS new_case_id
        FROM core.records r JOIN _assign a USING (record_uid)
        WHERE r.case_id IS DISTINCT FROM a.case_id""")
    con.execute("""
        UPDATE core.records r SET case_id = a.case_id, link_rule = a.link_rule,
               updated_run = ?
        FROM _assign a
        WHERE a.record_uid = r.record_uid
          AND (r.case_id IS DISTINCT FROM a.case_id OR r.link_rule IS DISTINCT FROM a.link_rule)
        """, [run_id])
    if touched is not None:
        # outside the scope every case keeps its id: none may equal an id given out here
        (clash,) = con.execute("""
            SELECT count(*) FROM core.records
            WHERE case_id IN (SELECT case_id FROM _assign)
              AND record_uid NOT IN (SELECT record_uid FROM _assign)""").fetchall()[0]
        if clash:
            raise LinkError(f"{clash} records outside the relinked scope hold an id given "
                            "to a case inside it")
    _note_merges(con, run_id, merges)
    n_records, n_cases = n_uids, n_components
    if touched is not None:
        n_records, n_cases = con.execute(
            "SELECT count(*), count(DISTINCT case_id) FROM core.records").fetchall()[0]
    return LinkResult(records=n_records, cases=n_cases, new_cases=new_cases,
                      merged_cases=len(merges), xref_edges=n_xref, rule_edges=n_rules)


def _note_merges(con: duckdb.DuckDBPyConnection, run_id: str,
                 merges: list[tuple[str, str]]) -> None:
    """Record old → new ids in core.case_merges, keeping every old id one step from a
    live case: earlier merges into an id merged now point on, and an id that lives again
    (its founder founded a case once more) is no longer a merged one."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _merges AS
        SELECT unnest($1::VARCHAR[]) AS old_case_id, unnest($2::VARCHAR[]) AS new_case_id""",
                [[o for o, _ in merges], [n for _, n in merges]])
    con.execute("""
        UPDATE core.case_merges m SET new_case_id = x.new_case_id, run_id = ?
        FROM _merges x WHERE m.new_case_id = x.old_case_id""", [run_id])
    con.execute("""
        INSERT INTO core.case_merges SELECT old_case_id, new_case_id, ?, now() FROM _merges
        ON CONFLICT (old_case_id) DO UPDATE SET new_case_id = excluded.new_case_id,
            run_id = excluded.run_id""", [run_id])
    con.execute("""
        DELETE FROM core.case_merges
        WHERE old_case_id IN (SELECT case_id FROM _assign)""")
    con.execute("DROP TABLE _merges")
