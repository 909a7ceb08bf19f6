"""The engine's builders of model-check SQL work on any columns a pack names: run in a
real DuckDB over a table of a made-up domain (stations within operators within regions,
readings in time order), each condition keeps exactly the rows it should."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from schemas.model_sql import (
    LATEST_CHILD_AT,
    REGISTRY_VIEW,
    Nested,
    in_order,
    in_scope,
    nest,
    not_in_future,
    registered,
)
from schemas.scope import RECEIVED_AT, UNSCOPED, Scope

T0 = datetime(2024, 3, 1, tzinfo=UTC)
CHAIN = [Nested("region"), Nested("operator"), Nested("station", optional=True),
         Nested("plug", optional=True)]
#: id, region, operator, station, plug, opened, checked, latest child time
ROWS = [
    (1, "11", "1101", "110101", "110101001", T0, T0 + timedelta(days=1), None),
    (2, "11", "1201", None, None, T0, None, None),                    # operator outside
    (3, "11", "1101", None, "110101001", T0, T0, None),               # no station: unjudged
    (4, "11", "1101", "110102", "110101001", T0 + timedelta(days=2), T0, None),  # both bad
    (5, "12", "1201", "120101", None, T0, T0, T0 + timedelta(days=30)),
]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    db = duckdb.connect()
    db.execute(f"CREATE TABLE t (id INT, region VARCHAR, operator VARCHAR, station VARCHAR, "
               f"plug VARCHAR, opened TIMESTAMPTZ, checked TIMESTAMPTZ, "
               f"{LATEST_CHILD_AT} TIMESTAMPTZ, {RECEIVED_AT} TIMESTAMPTZ)")
    db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [(*r, T0 + timedelta(days=3)) for r in ROWS])
    db.execute(f"CREATE TABLE {REGISTRY_VIEW} (code VARCHAR, kind VARCHAR)")
    db.executemany(f"INSERT INTO {REGISTRY_VIEW} VALUES (?, ?)",
                   [("1101", "operator"), ("110101", "station"), ("110101001", "plug")])
    return db


def kept(con: duckdb.DuckDBPyConnection, condition: str) -> list[int]:
    return [i for (i,) in con.execute(f"SELECT id FROM t WHERE {condition} ORDER BY id")
            .fetchall()]


def test_nesting_judges_only_codes_that_are_there(con: duckdb.DuckDBPyConnection) -> None:
    assert kept(con, nest(CHAIN)) == [1, 3, 5]


def test_times_in_their_declared_order(con: duckdb.DuckDBPyConnection) -> None:
    assert kept(con, in_order(("opened", "checked"))) == [1, 2, 3, 5]


def test_scope_covers_the_coded_columns(con: duckdb.DuckDBPyConnection) -> None:
    scope = Scope(("1101",), None)
    assert kept(con, in_scope(scope, ("operator", "station"))) == [1, 3, 4]
    assert kept(con, in_scope(UNSCOPED, ("operator",))) == [1, 2, 3, 4, 5]
    assert in_scope(scope, ()) == "true"


def test_not_in_future_reads_the_childrens_latest_time(con: duckdb.DuckDBPyConnection) -> None:
    scope = Scope(None, timedelta(days=1))
    assert kept(con, not_in_future(scope, ("opened", "checked"))) == [1, 2, 3, 4]
    assert kept(con, not_in_future(scope, ("opened",), child_time=None)) == [1, 2, 3, 4, 5]
    assert not_in_future(UNSCOPED, ("opened",)) == "true"


def test_registry_judges_inside_the_scope_and_where_it_speaks(
        con: duckdb.DuckDBPyConnection) -> None:
    scope = Scope(("11",), None)
    # operator 1201 is outside the scope: not judged
    assert kept(con, registered(scope, CHAIN[1], "operator")) == [1, 2, 3, 4, 5]
    # station 110102 is unknown; region 12 has no stations in the registry: not judged
    assert kept(con, registered(UNSCOPED, CHAIN[2], "station", ("region", 2))) == [1, 2, 3, 5]
    assert kept(con, registered(UNSCOPED, CHAIN[2], "station")) == [1, 2, 3]
