"""Opening the warehouse: one DuckDB file, migrations applied in order on open."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from warehouse.manifests import seal_existing

_MIGRATION = re.compile(r"^(\d{4})_(\w+)\.sql$")
#: what a migration's SQL cannot compute, run right after it in the same transaction
_AFTER_SQL: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    9: seal_existing,   # hash chains over the batches and accounting already there
}


class WarehouseError(Exception):
    """The warehouse cannot be opened or is in a state this code does not understand."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with this code, in order."""
    found = []
    for entry in resources.files("warehouse").joinpath("migrations").iterdir():
        m = _MIGRATION.match(entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations the database lacks; returns the versions applied."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute("CREATE TABLE IF NOT EXISTS ops.schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    done = {v for (v,) in con.execute("SELECT version FROM ops.schema_migrations").fetchall()}
    shipped = migrations()
    newest = max((v for v, _, _ in shipped), default=0)
    if done and max(done) > newest:
        raise WarehouseError(f"warehouse is at migration {max(done)}, this code knows "
                             f"up to {newest}: upgrade silobridge")
    applied = []
    for version, name, sql in shipped:
        if version in done:
            continue
        con.execute("BEGIN")
        try:
            con.execute(sql)
            if version in _AFTER_SQL:
                _AFTER_SQL[version](con)
            con.execute("INSERT INTO ops.schema_migrations (version, name) VALUES (?, ?)",
                        [version, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


@contextmanager
def session(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection; the writer's lock is released when the block ends."""
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run the pipeline first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        raise WarehouseError(f"cannot open {path}: {e}") from e
    try:
        # times are stored as instants; show them as people here read them
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        if not read_only:
            migrate(con)
        yield con
    finally:
        con.close()
