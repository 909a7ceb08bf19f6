"""Marts from SQL files: a folder of models (warehouse.model_file), one per table, kept in
the warehouse as views and tables and refreshed for the keys a merge touched.

The caller passes the folder (a pack's `marts/`); nothing here knows a domain.

`load_marts(folder)`: every `*.sql` in it, parsed, in build order (a mart after the marts
its query names).

`build_marts(con, marts)`: the warehouse holds each mart as its file now defines it. The
ledger ops.marts keeps, per mart, the digest of the definition it was built from: the
file's header and query, and the digests of the marts it reads. A mart whose digest
differs, or that is missing, is rebuilt: dropped, created from its file (a view; or a
table with the query's columns and types and its grain as primary key), filled whole,
its description and column descriptions written as DuckDB comments (COMMENT ON), so
analysts see them in the warehouse. A change to a file so rebuilds its mart and every
mart downstream of it, and nothing else.

Why digests, not migrations: the marts' DDL is their files, written once; a migration
would have to restate each change. Upgrade: the marts earlier migrations made (0004 to
0014) are entered in the ledger by migration 0015 with no digest, so the first build
replaces each with its file's definition. An object the ledger does not list is never
replaced: a mart named like a core table stops the build (MartError).

`refresh_marts(con, marts, touched)`: `build_marts`, then every table it did not rebuild
is brought up to date: FULL ones whole; INCREMENTAL_BY_KEY ones for the keys in `touched`
(key name → a relation the caller owns and fills, with a column of that name): their
rows whose key_columns hold a touched key are deleted, and the query's rows for those
keys inserted; with `touched` None (a full merge) whole. Recomputing by key equals
recomputing whole when the query's rows for a key depend only on the data the caller
recomputed for that key: the file's header says by which key, the caller which keys.

Crash semantics: everything runs in the caller's transaction (the merge's), so a build
or refresh killed half-way leaves the marts, the ledger and core as they were.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import duckdb

from .model_file import ModelError, ModelFile, parse_model, render


class MartError(RuntimeError):
    """A mart the warehouse cannot build or refresh: names its file and the reason."""

    def __init__(self, model: ModelFile | Path, problem: str) -> None:
        self.path = model.path if isinstance(model, ModelFile) else model
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def load_marts(folder: Path) -> tuple[ModelFile, ...]:
    """The marts of `folder`, in build order; a ModelError names a bad file."""
    if not folder.is_dir():
        raise MartError(folder, "no such folder of marts")
    return build_order(parse_model(f) for f in sorted(folder.glob("*.sql")))


def build_order(marts: Iterable[ModelFile]) -> tuple[ModelFile, ...]:
    """The marts with every mart after those its query reads (ties by name)."""
    by_name = {m.name: m for m in sorted(marts, key=lambda m: m.name)}
    graph = TopologicalSorter({name: sorted(upstream(m, by_name)) for name, m in
                               by_name.items()})
    try:
        return tuple(by_name[name] for name in graph.static_order())
    except CycleError as e:
        cycle = e.args[1]
        raise MartError(by_name[cycle[0]].path, "the marts read each other in a circle: "
                        + " → ".join(cycle)) from None


def upstream(model: ModelFile, names: Iterable[str]) -> set[str]:
    """The other marts among `names` that the model's query reads (its comments aside)."""
    query = re.sub(r"--[^\n]*", "", model.query)
    return {n for n in names if n != model.name
            and re.search(rf"(?<![\w.\"]){re.escape(n)}(?![\w\"])", query, re.IGNORECASE)}


def digests(marts: Sequence[ModelFile]) -> dict[str, str]:
    """name → digest of its definition and of the definitions of the marts it reads."""
    out: dict[str, str] = {}
    ordered = build_order(marts)
    names = [m.name for m in ordered]
    for m in ordered:
        definition = json.dumps([m.name, m.kind, m.key, m.key_columns, m.grain, m.owner,
                                 m.description, list(m.columns.items()), m.query,
                                 sorted(out[u] for u in upstream(m, names))],
                                ensure_ascii=False)
        out[m.name] = hashlib.sha256(definition.encode()).hexdigest()
    return out


def build_marts(con: duckdb.DuckDBPyConnection, marts: Sequence[ModelFile]) -> list[str]:
    """Rebuild every mart whose definition changed or that is missing (module
    docstring); returns their names, in build order."""
    wanted = digests(marts)
    built = dict(con.execute("SELECT name, digest FROM ops.marts").fetchall())
    rebuilt = []
    for model in build_order(marts):
        present = _existing(con, model.name)
        if present and model.name not in built:
            raise MartError(model, f"{model.name} exists and is no mart: the build never "
                            "replaces a table or view it did not make; rename the mart")
        if present and built[model.name] == wanted[model.name]:
            continue
        if present:
            con.execute(f"DROP {present} {model.name}")
        _create(con, model)
        con.execute("""
            INSERT INTO ops.marts VALUES (?, ?, ?, ?, ?, ?, now())
            ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, grain = excluded.grain,
                owner = excluded.owner, description = excluded.description,
                digest = excluded.digest, built_at = excluded.built_at""",
                    [model.name, model.kind, list(model.grain), model.owner,
                     model.description, wanted[model.name]])
        rebuilt.append(model.name)
    return rebuilt


def refresh_marts(con: duckdb.DuckDBPyConnection, marts: Sequence[ModelFile],
                  touched: Mapping[str, str] | None) -> None:
    """Build what changed, then refresh every other table: by the touched keys, or
    whole when `touched` is None (module docstring)."""
    if touched is not None:
        for model in marts:
            if model.kind == "INCREMENTAL_BY_KEY" and model.key not in touched:
                raise MartError(model, f"kind INCREMENTAL_BY_KEY (key {model.key}): the "
                                "caller passes touched keys of "
                                + (", ".join(sorted(touched)) or "nothing"))
    rebuilt = set(build_marts(con, marts))
    for model in build_order(marts):
        if not model.is_table or model.name in rebuilt:
            continue
        relation = None
        if touched is not None and model.kind == "INCREMENTAL_BY_KEY" and model.key:
            relation = touched[model.key]
        with _naming(model):
            if relation is None:
                con.execute(f"DELETE FROM {model.name}")  # noqa: S608 - checked names
            else:
                hit = " OR ".join(f'"{c}" IN (SELECT "{model.key}" FROM {relation})'  # noqa: S608
                                  for c in model.key_columns)
                con.execute(f"DELETE FROM {model.name} WHERE {hit}")  # noqa: S608
            con.execute(f"INSERT INTO {model.name} BY NAME ({render(model, relation)}\n)")


def _existing(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """TABLE or VIEW when the warehouse holds an object of that name, else None."""
    schema, table = name.split(".")
    found = con.execute("""
        SELECT 'TABLE' FROM duckdb_tables() WHERE database_name = current_database()
            AND schema_name = $1 AND table_name = $2 AND NOT temporary
        UNION ALL
        SELECT 'VIEW' FROM duckdb_views() WHERE database_name = current_database()
            AND schema_name = $1 AND view_name = $2 AND NOT temporary AND NOT internal""",
                        [schema, table]).fetchall()
    return found[0][0] if found else None


def _create(con: duckdb.DuckDBPyConnection, model: ModelFile) -> None:
    """Create the mart from its file and fill it whole; comment it and its columns."""
    query = render(model, None)
    with _naming(model):
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{model.schema}"')
        described = con.execute(f"DESCRIBE ({query}\n)").fetchall()
    columns = [(name, kind) for name, kind, *_ in described]
    names = [name for name, _ in columns]
    missing = [c for c in names if c not in model.columns]
    unknown = [c for c in model.columns if c not in names]
    if missing or unknown:
        raise MartError(model, "column_descriptions must describe the query's columns: "
                        + "; ".join(f"{what} {', '.join(cols)}" for what, cols in (
                            ("undescribed:", missing), ("no such column:", unknown)) if cols))
    with _naming(model):
        if model.kind == "VIEW":
            con.execute(f"CREATE VIEW {model.name} AS {query}\n")
        else:
            key = [f"PRIMARY KEY ({', '.join(_quoted(model.grain))})"] if model.grain else []
            ddl = ", ".join([*(f'"{n}" {t}' for n, t in columns), *key])
            con.execute(f"CREATE TABLE {model.name} ({ddl})")
            con.execute(f"INSERT INTO {model.name} BY NAME ({query}\n)")
        con.execute(f"COMMENT ON {model.kind if model.kind == 'VIEW' else 'TABLE'} "
                    f"{model.name} IS {_literal(model.description)}")
        for column in names:
            con.execute(f'COMMENT ON COLUMN {model.name}."{column}" IS '
                        f"{_literal(model.columns[column])}")


@contextmanager
def _naming(model: ModelFile) -> Iterator[None]:
    """Raise DuckDB's errors about a mart's SQL as MartErrors that name its file."""
    try:
        yield
    except duckdb.Error as error:
        raise MartError(model, f"(query from line {model.query_line}) {error}") from error


def _quoted(names: Iterable[str]) -> list[str]:
    return [f'"{n}"' for n in names]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


__all__ = ["MartError", "ModelError", "ModelFile", "build_marts", "build_order", "digests",
           "load_marts", "refresh_marts", "upstream"]
