"""The SQL the conform engine writes: quoting, the value helpers, and the column plan.

Every identifier goes through q() and every value from a mapping file through lit(), so
the string-built SQL of the compiler modules is the point, not an accident.
"""

# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence

import pyarrow as pa

TZ = "Asia/Shanghai"
#: whitespace trimmed from every received value (incl. the ideographic space)
BLANKS = " \t\r\n\u3000\u00a0"
#: the digits of every decimal column the engine makes: in all, and after the point
DECIMAL_DIGITS = (14, 2)
SQL_TYPES = {"text": "VARCHAR", "time": "TIMESTAMPTZ", "int": "BIGINT",
             "decimal": "DECIMAL({},{})".format(*DECIMAL_DIGITS), "float": "DOUBLE",
             "bool": "BOOLEAN"}
ARROW_TYPES = {"text": pa.string(), "time": pa.timestamp("us", tz=TZ), "int": pa.int64(),
               "decimal": pa.decimal128(*DECIMAL_DIGITS), "float": pa.float64(),
               "bool": pa.bool_()}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def clean(sql: str) -> str:
    """Trimmed text, empty → NULL.

    trim() allocates a new string per value and is the costliest step of reading a
    record; the guard (blank first or last character) lets the common clean value pass.
    """
    ends = " OR ".join(f"ends_with({sql}, {lit(c)})" for c in BLANKS)
    return (f"CASE WHEN ascii({sql}) <= 32 OR ascii({sql}) IN (160, 12288) OR {ends} "
            f"THEN nullif(trim({sql}, {lit(BLANKS)}), '') ELSE {sql} END")


def shower(label: str, sensitive: bool) -> Callable[[str], str]:
    """SQL for how a message shows an offending value (never a sensitive one)."""
    if sensitive:
        return lambda col: lit(f"{label} (value not shown)")
    return lambda col: f"{lit(label + ' ')} || '''' || left(CAST({q(col)} AS VARCHAR), 40) || ''''"


def case_map(col: str, table: dict[str, object], default: object) -> str:
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in table.items())
    return f"CASE {q(col)} {whens} ELSE {lit(default)} END"


def struct_type(keys: Iterable[str]) -> str:
    return json.dumps({k: "VARCHAR" for k in keys}, ensure_ascii=False)


class Plan:
    """Named columns in dependency layers, rendered as a chain of CTEs.

    Every value a mapping declares becomes a named column; a column may use columns made
    before it, so the compiled query is a chain of CTEs (`l0` the raw columns of each
    record, `l1`, `l2`, … each adding the columns whose inputs exist by then). A column
    may come from a LEFT JOIN (`join`: table and ON condition over columns of lower
    layers): joins keep the chain a single pipeline, where a correlated subquery would
    make DuckDB materialise it.
    """

    def __init__(self, base_sql: str, base_columns: Iterable[str],
                 prelude: dict[str, str]) -> None:
        self.base_sql = base_sql
        self.depth = dict.fromkeys(base_columns, 0)
        self.columns: list[tuple[str, str, int]] = []
        self.joins: list[tuple[str, str, str, int]] = []
        self.prelude = prelude
        #: what one compilation made that another may reuse (a position's columns, by
        #: its declaration: the two fields of one position share them)
        self.shared: dict[str, object] = {}
        self._n = 0

    def add(self, name: str, sql: str, deps: Iterable[str | None],
            join: tuple[str, str] | None = None) -> str:
        if name in self.depth:
            self._n += 1
            name = f"{name}#{self._n}"
        depth = 1 + max((self.depth[d] for d in deps if d is not None), default=0)
        self.depth[name] = depth
        if join is not None:
            alias = f"j{len(self.joins)}"
            self.joins.append((alias, join[0], join[1].replace("{j}", alias), depth))
            sql = sql.replace("{j}", alias)
        self.columns.append((name, sql, depth))
        return name

    def sql(self, select: Sequence[str]) -> str:
        ctes = [f"{q(n)} AS (\n  {s}\n)" for n, s in self.prelude.items()]
        ctes.append(f"l0 AS (\n  {self.base_sql}\n)")
        top = max((d for _, _, d in self.columns), default=0)
        for d in range(1, top + 1):
            cols = ",\n    ".join(f"{s} AS {q(n)}" for n, s, depth in self.columns
                                   if depth == d)
            joins = "".join(f"\n  LEFT JOIN {q(t)} AS {a} ON {on}"
                            for a, t, on, depth in self.joins if depth == d)
            ctes.append(f"l{d} AS (\n  SELECT p.*,\n    {cols}\n  FROM l{d - 1} AS p{joins}\n)")
        return "WITH " + ",\n".join(ctes) + f"\nSELECT {', '.join(select)} FROM l{top}"
