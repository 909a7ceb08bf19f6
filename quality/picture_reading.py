"""What a picture's query may read, and its rows as a chart takes them.

A picture is for anyone who opens the page, so its query reads what the warehouse has
merged and nothing personal: DuckDB's own parser (`json_serialize_sql`) gives the query's
tree, and `check_query` refuses

- anything but one SELECT;
- a table outside READABLE (core, marts: no raw records, staging, quarantine or ledger),
  one of another database, or a table function (files, URLs, pragmas);
- `*`: a picture names the columns it shows, so a new column cannot slip in;
- a column the pack withholds (its personal data's ciphertext and link key: a
  `PictureSet`'s `withheld`).

`reading` opens the warehouse read-only with DuckDB's external access switched off (no
file, no URL, whatever the SQL says), and `rows` hands the rows over as JSON values: times
as China's wall clock without offset (Vega shows them as given, as the quality report's
charts do), decimals as floats. A binary value (a ciphertext) is refused, not drawn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import duckdb

from warehouse.db import session

#: the schemas a picture may read: what the merge made, not what it was made from
READABLE = ("core", "marts")
#: more rows than a page should carry as marks: aggregate in the query
MAX_ROWS = 20_000
CHINA = ZoneInfo("Asia/Shanghai")


class QueryRefused(ValueError):
    """A picture's query that reads what pictures may not, or is not one SELECT."""


def check_query(sql: str, withheld: frozenset[str] = frozenset()) -> None:
    """Refuse `sql` unless it is one SELECT reading only named, non-withheld columns of
    READABLE tables (see the module)."""
    con = duckdb.connect()  # the parser only: no database is read here
    try:
        (tree,) = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone() or (None,)
    finally:
        con.close()
    parsed = json.loads(tree)
    if parsed.get("error"):
        raise QueryRefused(f"not one SELECT: {parsed.get('error_message')}")
    if len(parsed["statements"]) != 1:
        raise QueryRefused(f"{len(parsed['statements'])} statements: a picture reads one "
                           "SELECT")
    ctes = set(_cte_names(parsed))
    withheld = frozenset(c.lower() for c in withheld)
    # a table's name or alias as a column is its whole row (a struct): every column of it
    relations = {n.lower() for node in _nodes(parsed) if node.get("type") == "BASE_TABLE"
                 for n in (node["alias"], node["table_name"]) if n} | \
        {c.lower() for c in ctes}
    for node in _nodes(parsed):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            _readable(node, ctes)
        elif kind == "TABLE_FUNCTION":
            raise QueryRefused("reads a table function: a picture reads warehouse tables")
        elif node.get("class") == "STAR":
            raise QueryRefused("selects *: name the columns the picture shows")
        elif node.get("class") == "COLUMN_REF":
            _column(node["column_names"], withheld, relations)


def _column(names: list[str], withheld: frozenset[str], relations: set[str]) -> None:
    if names[-1].lower() in withheld:
        raise QueryRefused(f"reads {'.'.join(names)}: personal data, withheld from "
                           "pictures")
    if len(names) == 1 and names[0].lower() in relations:
        raise QueryRefused(f"reads {names[0]} as a whole row: name the columns the picture "
                           "shows")


def _readable(node: dict[str, Any], ctes: set[str]) -> None:
    schema, table, catalog = node["schema_name"], node["table_name"], node["catalog_name"]
    if not schema and not catalog and table in ctes:
        return
    name = ".".join(p for p in (catalog, schema, table) if p)
    if catalog or schema not in READABLE:
        raise QueryRefused(f"reads {name}: pictures read the tables of "
                           f"{' and '.join(READABLE)} only, named with their schema")


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def _cte_names(tree: Any) -> Iterator[str]:
    for node in _nodes(tree):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            yield from (entry["key"] for entry in cte_map.get("map", []))


@contextmanager
def reading(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse read-only, with no way out of it: DuckDB's external access off for
    this connection's database (it cannot be switched back on while it is open)."""
    with session(warehouse, read_only=True) as con:
        con.execute("SET enable_external_access = false")
        yield con


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """The query's rows as JSON objects (see the module); ValueError for more than
    MAX_ROWS, a column named twice or a binary value."""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or ()]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"columns named twice: {', '.join(twice)} (give each an alias)")
    found = cursor.fetchmany(MAX_ROWS + 1)
    if len(found) > MAX_ROWS:
        raise ValueError(f"more than {MAX_ROWS:,} rows: aggregate in the query")
    return [{n: _value(n, v) for n, v in zip(names, row, strict=True)} for row in found]


def _value(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(CHINA).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID):
        return str(value)
    raise ValueError(f"column {name}: a {type(value).__name__} value, which a picture does "
                     "not draw")
