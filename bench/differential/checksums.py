"""Order-independent content checksums of DuckDB tables: the one definition the
differential run and the tests' before/after comparisons share."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

#: which run wrote a row: every run id (and the snapshot's id) holds the clock's time
#: and a random suffix, so two runs of the same code on the same data never share one
RUN_IDS = ("run_id", "created_run", "updated_run", "snapshot_id")
#: when, by the clock: a merge, a record's first sighting, the rules' application, a
#: publication
WALL_CLOCK = ("merged_at", "first_seen_at", "applied_at", "published_at")
#: personal numbers encrypted with a random nonce each time (their keyed links, from the
#: same key, are compared)
CIPHERTEXTS = ("id_number_cipher", "phone_cipher")
#: every column two runs of the same code on the same world (and key) may differ in, and
#: nothing else: found by running twice and comparing column by column
VARYING = RUN_IDS + WALL_CLOCK + CIPHERTEXTS
#: the digest of the merge rules' text (core.merge_rules): the same in two runs of one
#: commit, different between commits that edit the rules' files (or move them, as the
#: entity rules moved into the dispute pack) whatever the rules do; the tables they build
#: are what the differential compares
RULE_TEXT = ("digest",)
#: what the differential run leaves out when it compares two commits
ACROSS_COMMITS = VARYING + RULE_TEXT


def table_checksum(con: duckdb.DuckDBPyConnection, table: str,
                   columns: Iterable[str]) -> tuple[int, str]:
    """(rows, md5 over the sorted md5s of its rows) of `table` (schema-qualified),
    reading only `columns`: the same rows in any order give the same checksum. With no
    column left to read, only the count tells (core.merge_rules across commits)."""
    row = ", ".join(f'"{c}"' for c in columns)
    if not row:
        (rows,) = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0]  # noqa: S608
        return int(rows), "no columns compared"
    rows, digest = con.execute(f"""
        SELECT count(*), coalesce(md5(string_agg(h, ',' ORDER BY h)), 'empty')
        FROM (SELECT md5(CAST(struct_pack({row}) AS VARCHAR)) AS h
              FROM (SELECT {row} FROM {table}))""").fetchall()[0]  # noqa: S608 - our names
    return int(rows), str(digest)


def checksums(database: Path, schemas: Iterable[str] | None = None, *,
              ignore: Iterable[str] = ()) -> dict[str, tuple[int, str]]:
    """`table_checksum` of every table and view in `schemas` (default: all) of the DuckDB
    file, keyed "schema.table", leaving out the columns named in `ignore` wherever they
    occur."""
    skipped = set(ignore)
    con = duckdb.connect(str(database), read_only=True)
    try:
        found = con.execute(
            "SELECT table_schema, table_name, list(column_name ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND (? IS NULL OR list_contains(?, table_schema)) GROUP BY ALL ORDER BY ALL",
            [None if schemas is None else list(schemas)] * 2).fetchall()
        return {f"{schema}.{table}": table_checksum(
                    con, f'"{schema}"."{table}"', [c for c in cols if c not in skipped])
                for schema, table, cols in found}
    finally:
        con.close()
