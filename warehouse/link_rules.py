"""An entity's link rules (warehouse.entity.LinkRules) compiled to SQL.

`prepare` projects some records to what the rules compare (the declaration's link records
query) and to their keys (its keys query), as two temp tables this module names and owns
(`<prefix>_records`, `<prefix>_keys`; `release` drops them); `edges` finds the candidate
edges between the prepared records; `near` lists every record that may have an edge to one
of them (linking's incremental scope). Two kinds of edge:

1. cross-references: two records naming the same id of the same id space (a `link.xref`
   column and the space it names);
2. evidence: two records with a key of the same kind and value, equal on every `block`
   column, that meet every `match` condition (SQL over the two records, `a` and `b`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from .entity import EntityDeclaration

#: a column of one of the two records a match condition compares
_SIDE_COLUMN = re.compile(r"\b[ab]\.([a-z_][a-z0-9_]*)\b")


@dataclass(frozen=True)
class Prepared:
    """The link attributes (`records`: a row per record_uid) and the keys (`keys`:
    record_uid, kind, value; None when the rules have no evidence) of some records."""

    records: str
    keys: str | None


def prepare(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, records: str,
            prefix: str = "_link") -> Prepared:
    """Project the records of `records` (a `{records}` relation) for linking."""
    link = entity.link
    con.execute(f"CREATE OR REPLACE TEMP TABLE {prefix}_records AS "
                f"{entity.render(link.records, records)}")
    keys = None
    if link.evidence is not None and link.keys is not None:
        keys = f"{prefix}_keys"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {keys} AS {entity.render(link.keys, records)}")
    return Prepared(f"{prefix}_records", keys)


def release(con: duckdb.DuckDBPyConnection, prepared: Prepared) -> None:
    for table in (prepared.records, prepared.keys):
        if table is not None:
            con.execute(f"DROP TABLE IF EXISTS {table}")


def edges(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, prepared: Prepared
          ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(cross-reference edges, evidence edges) between the prepared records, each pair
    once with the smaller record_uid first."""
    link, records = entity.link, prepared.records
    xref: list[tuple[str, str]] = []
    if link.xref:
        keys = " UNION ALL ".join(
            f"SELECT record_uid, '{space}:' || {column} AS k FROM {records} "  # noqa: S608
            f"WHERE {column} IS NOT NULL" for column, space in link.xref.items())
        xref = [tuple(e) for e in con.execute(f"""
            WITH keys AS ({keys})
            SELECT DISTINCT a.record_uid, b.record_uid
            FROM keys a JOIN keys b ON a.k = b.k AND a.record_uid < b.record_uid""").fetchall()]  # noqa: S608
    evidence: list[tuple[str, str]] = []
    if link.evidence is not None and prepared.keys is not None:
        rule = link.evidence
        # only the columns the join and the conditions read, not the whole projection
        used = list(dict.fromkeys([*rule.block, *(c for m in rule.match
                                                  for c in _SIDE_COLUMN.findall(m))]))
        columns = "".join(f", r.{c}" for c in used if c != "record_uid")
        same = "".join(f" AND a.{c} = b.{c}" for c in rule.block)
        where = " AND ".join(f"({m})" for m in rule.match) or "TRUE"
        evidence = [tuple(e) for e in con.execute(f"""
            WITH p AS (
                SELECT r.record_uid{columns}, k.kind, k.value
                FROM {records} r JOIN {prepared.keys} k USING (record_uid))
            SELECT DISTINCT a.record_uid, b.record_uid
            FROM p a JOIN p b
              ON a.kind = b.kind AND a.value = b.value{same}
             AND a.record_uid < b.record_uid
            WHERE {where}""").fetchall()]  # noqa: S608 - the pack's declared rules
    return xref, evidence


def near(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, prepared: Prepared,
         into: str) -> None:
    """Write into the temp table `into` (record_uid) the prepared records and every record
    that may have an edge to one of them: it names an id one of them names (in any
    cross-reference column), or it lies in the block of one of them. A superset: `edges`
    over these tells which do."""
    link = entity.link
    everyone = f"({entity.render(link.records)})"
    block = link.evidence.block if link.evidence and prepared.keys else None
    if block == ():  # evidence without blocks may join any two records
        con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS "  # noqa: S608 - declared
                    f"SELECT record_uid FROM {entity.records}")
        return
    tests = []
    if block:
        struct = ", ".join(f"'{c}': {{side}}{c}" for c in block)
        known = " AND ".join(f"{c} IS NOT NULL" for c in block)
        tests.append(f"{{{struct.format(side='a.')}}} IN (SELECT DISTINCT "  # noqa: S608
                     f"{{{struct.format(side='')}}} FROM {prepared.records} WHERE {known})")
    if link.xref:
        columns = ", ".join(link.xref)
        named = (f"(SELECT DISTINCT v FROM (SELECT unnest([{columns}]) AS v "  # noqa: S608
                 f"FROM {prepared.records}) WHERE v IS NOT NULL)")
        tests += [f"a.{c} IN {named}" for c in link.xref]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT a.record_uid FROM {everyone} a WHERE {" OR ".join(tests) or "FALSE"}
        UNION SELECT record_uid FROM {prepared.records}""")  # noqa: S608
