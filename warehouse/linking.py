"""Linking: which records, from any source, are the same real-world entity.

The entity's link rules (warehouse.link_rules) give the edges between records; edges
become clusters (connected components). An entity's id is derived from its founding
record, the first of its records in the declaration's founder order (record_uid breaking
ties): `EntityDeclaration.id_of(record_uid)`. So the ids are a function of the data alone:
any order of runs, failures and retries over the same data gives the same ids (a sequence
would hand out numbers in processing order, and a failed merge would use some up). A new
record joins its cluster's entity unchanged unless it is the new founder; when a record
bridges two entities the merged one takes the id of its founder and the other id is
recorded in the declaration's merges table, so an old id stays findable.

Incremental linking (`link(..., touched=...)`) relinks only the records whose current
version changed and the entities around them, with the same result as relinking
everything. Why: an edge depends only on its two records' current versions, and after
every link an entity is exactly one connected component. So an edge between two untouched
records was there last time and joins records of one entity. Relinking the scope A = the
touched records, every record with an edge to one of them, and every record of those
records' entities, therefore sees every edge of every record in A (no edge leaves A), so
its components are exactly the full graph's components that meet A; the components outside
A are the old entities, unchanged, and since an id depends only on its component's
records, the components in A get the ids a full link gives them.

Temp tables of this module's own, dropped before `link` returns: the prepared records
(warehouse.link_rules), `_link_near`, `_link_seeds`, `_link_scope`, `_assign`, `_merges`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import duckdb

from . import link_rules
from .entity import ID_HEX, EntityDeclaration

#: rows per statement when the assignment goes back into DuckDB
_CHUNK = 50_000


class LinkError(RuntimeError):
    """Linking met a state it must not paper over (two founders hashing to one id)."""


@dataclass
class LinkResult:
    records: int
    cases: int
    new_cases: int
    merged_cases: int
    xref_edges: int
    rule_edges: int


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


def _scope(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, touched: str) -> str:
    """`_link_scope`: the records an incremental link must relink (module docstring):
    the records in `touched` (a relation of record_uids), every record with an edge to
    one of them, and every record of those records' entities."""
    prepared = link_rules.prepare(con, entity, entity.records_in(touched))
    link_rules.near(con, entity, prepared, "_link_near")
    prepared = link_rules.prepare(con, entity, entity.records_in("_link_near"))
    xref, rules = link_rules.edges(con, entity, prepared)
    link_rules.release(con, prepared)
    seeds = {u for (u,) in con.execute(f"SELECT record_uid FROM {touched}").fetchall()}  # noqa: S608
    near = {b if a in seeds else a for a, b in (*xref, *rules) if a in seeds or b in seeds}
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _link_seeds AS
        SELECT unnest($1::VARCHAR[]) AS record_uid""", [sorted(seeds | near)])
    key = entity.key
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _link_scope AS
        SELECT record_uid FROM {entity.records}
        WHERE record_uid IN (SELECT record_uid FROM _link_seeds)
           OR {key} IN (SELECT {key} FROM {entity.records} WHERE {key} <> ''
                        AND record_uid IN (SELECT record_uid FROM _link_seeds))""")  # noqa: S608
    con.execute("DROP TABLE _link_near")
    con.execute("DROP TABLE _link_seeds")
    return "_link_scope"


def link(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, run_id: str,
         touched: str | None = None, *, moved: str) -> LinkResult:
    """Give every record of the entity's records table its entity's id; stable across
    runs (see module docstring).

    With `touched` (a relation of the record_uids whose current version is new or changed
    since the last link), only the records around them are relinked, with the same
    result; `xref_edges` and `rule_edges` then count the edges in that scope. The records
    whose entity changed go into the temp table `moved`, named by the caller (record_uid,
    old_id, new_id; old_id is '' for a new record)."""
    key, table = entity.key, entity.records
    records = table
    if touched is not None:
        records = entity.records_in(_scope(con, entity, touched))
    prepared = link_rules.prepare(con, entity, records)
    xref, rules = link_rules.edges(con, entity, prepared)
    # the records in founding order (module docstring): a component's first is its founder
    order = ", ".join((*entity.link.founder, "record_uid"))
    uids = [u for (u,) in con.execute(
        f"SELECT record_uid FROM {prepared.records} ORDER BY {order}").fetchall()]  # noqa: S608
    link_rules.release(con, prepared)
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
        f"SELECT record_uid, {key} FROM {records} WHERE {key} <> ''").fetchall())  # noqa: S608
    assignment: dict[str, str] = {}
    # old id → {new id: records of that old entity that went there}
    went: dict[str, Counter[str]] = defaultdict(Counter)
    new_ids = 0
    for members in components.values():
        new_id = entity.id_of(members[0])
        olds = {existing[m] for m in members if m in existing}
        new_ids += new_id not in olds
        for m in members:
            assignment[m] = new_id
            if m in existing:
                went[existing[m]][new_id] += 1
    ids = set(assignment.values())
    if len(ids) != len(components):
        raise LinkError(f"two founding records hash to one id: widen ID_HEX ({ID_HEX})")
    # an old id that no component keeps was merged into the entity that took most of its
    # records (ties: the smaller id); an old id still in use was at most split
    merges = sorted((old, min(to, key=lambda c: (-to[c], c)))
                    for old, to in went.items() if old not in ids)
    n_xref, n_rules, n_components, n_uids = len(xref), len(rules), len(components), len(uids)
    del xref, rules, uids, uf, components, existing, went  # a full link holds millions
    # as list parameters in chunks, not an Arrow table: scanning Python objects makes
    # DuckDB import pandas (seconds of a small merge), and chunks keep the copies small
    con.execute("CREATE OR REPLACE TEMP TABLE _assign "
                "(record_uid VARCHAR, new_id VARCHAR, link_rule VARCHAR)")
    rows = list(assignment.items())
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start:start + _CHUNK]
        con.execute("INSERT INTO _assign SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), "
                    "unnest($3::VARCHAR[])", [[u for u, _ in chunk], [c for _, c in chunk],
                                              [how.get(u, "single") for u, _ in chunk]])
    del rows, assignment, how
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {moved} AS
        SELECT r.record_uid, r.{key} AS old_id, a.new_id
        FROM {table} r JOIN _assign a USING (record_uid)
        WHERE r.{key} IS DISTINCT FROM a.new_id""")  # noqa: S608 - declared and caller's names
    con.execute(f"""
        UPDATE {table} r SET {key} = a.new_id, link_rule = a.link_rule, updated_run = ?
        FROM _assign a
        WHERE a.record_uid = r.record_uid
          AND (r.{key} IS DISTINCT FROM a.new_id OR r.link_rule IS DISTINCT FROM a.link_rule)
        """, [run_id])  # noqa: S608
    if touched is not None:
        # outside the scope every entity keeps its id: none may equal an id given out here
        (clash,) = con.execute(f"""
            SELECT count(*) FROM {table}
            WHERE {key} IN (SELECT new_id FROM _assign)
              AND record_uid NOT IN (SELECT record_uid FROM _assign)""").fetchall()[0]  # noqa: S608
        if clash:
            raise LinkError(f"{clash} records outside the relinked scope hold an id given "
                            "to an entity inside it")
        con.execute("DROP TABLE _link_scope")
    _note_merges(con, entity, run_id, merges)
    con.execute("DROP TABLE _assign")
    n_records, n_entities = n_uids, n_components
    if touched is not None:
        n_records, n_entities = con.execute(
            f"SELECT count(*), count(DISTINCT {key}) FROM {table}").fetchall()[0]  # noqa: S608
    return LinkResult(records=n_records, cases=n_entities, new_cases=new_ids,
                      merged_cases=len(merges), xref_edges=n_xref, rule_edges=n_rules)


def _note_merges(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, run_id: str,
                 merges: list[tuple[str, str]]) -> None:
    """Record old → new ids in the merges table, keeping every old id one step from a
    live entity: earlier merges into an id merged now point on, and an id that lives again
    (its founder founded an entity once more) is no longer a merged one."""
    m = entity.merges
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _merges AS
        SELECT unnest($1::VARCHAR[]) AS old_id, unnest($2::VARCHAR[]) AS new_id""",
                [[o for o, _ in merges], [n for _, n in merges]])
    con.execute(f"""
        UPDATE {m.table} m SET {m.new} = x.new_id, run_id = ?
        FROM _merges x WHERE m.{m.new} = x.old_id""", [run_id])  # noqa: S608
    con.execute(f"""
        INSERT INTO {m.table} ({m.old}, {m.new}, run_id, merged_at)
        SELECT old_id, new_id, ?, now() FROM _merges
        ON CONFLICT ({m.old}) DO UPDATE SET {m.new} = excluded.{m.new},
            run_id = excluded.run_id""", [run_id])  # noqa: S608
    con.execute(f"""
        DELETE FROM {m.table}
        WHERE {m.old} IN (SELECT new_id FROM _assign)""")  # noqa: S608
    con.execute("DROP TABLE _merges")
