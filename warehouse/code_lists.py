"""ref.code_lists and ref.codes: the code lists of the packs that ran, with their labels.

The app layer hands the lists in (each pack declares its own, with their labels:
schemas.labelled). `seed_codes` writes them into a new warehouse, before anything reads
them (the batch suites' code checks); every merge brings them up to date in its
transaction (`refresh_codes`). The marts, the golden records and the kept marts read a
code's group from here (a status's family: the view ref.status_family), so the grouping
is declared once, in the pack; a merge that finds a status's family changed recomputes
every case. The analyst snapshot copies both tables and decodes its code columns with
them.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from schemas.labelled import CodeList

from .db import transaction

_FAMILIES = "SELECT status, status_family FROM ref.status_family ORDER BY status"

Rows = list[tuple[object, ...]]


def _rows(code_lists: Sequence[CodeList]) -> tuple[Rows, Rows]:
    lists: Rows = [(cl.name, cl.zh, cl.en, cl.group, i) for i, cl in enumerate(code_lists)]
    codes: Rows = [(cl.name, c.code, c.zh, c.en, c.group, i)
                   for cl in code_lists for i, c in enumerate(cl.codes)]
    return lists, codes


def _write(con: duckdb.DuckDBPyConnection, lists: Rows, codes: Rows) -> None:
    """Replace the lists named in `lists` (another pack's lists stay as they are)."""
    names = [row[0] for row in lists]
    con.execute("DELETE FROM ref.codes WHERE list_name = ANY($names)", {"names": names})
    con.execute("DELETE FROM ref.code_lists WHERE list_name = ANY($names)", {"names": names})
    # a hundred-odd rows: as parameters (an Arrow table would make DuckDB import pandas)
    con.executemany("INSERT INTO ref.code_lists VALUES (?, ?, ?, ?, ?)", lists)
    con.executemany("INSERT INTO ref.codes VALUES (?, ?, ?, ?, ?, ?)", codes)


def refresh_codes(con: duckdb.DuckDBPyConnection, code_lists: Sequence[CodeList]) -> bool:
    """Make ref.code_lists and ref.codes hold `code_lists` as they are (written only when
    they differ; the lists of other packs are not touched); returns whether any status's
    family changed. Runs inside the caller's transaction."""
    lists, codes = _rows(code_lists)
    names = {"names": [row[0] for row in lists]}
    held = (con.execute("SELECT * FROM ref.code_lists WHERE list_name = ANY($names) "
                        "ORDER BY position", names).fetchall(),
            con.execute("SELECT * FROM ref.codes WHERE list_name = ANY($names) "
                        "ORDER BY list_name, position", names).fetchall())
    if held == (lists, sorted(codes, key=lambda r: (r[0], r[5]))):
        return False
    families = con.execute(_FAMILIES).fetchall()
    _write(con, lists, codes)
    return con.execute(_FAMILIES).fetchall() != families


def seed_codes(con: duckdb.DuckDBPyConnection, code_lists: Sequence[CodeList]) -> bool:
    """Write `code_lists` into a warehouse that holds none of them yet (a pack's first
    ingest), in a transaction of its own; returns whether it did. Lists it holds are left
    alone: a change to them is the next merge's to apply, which then sees what it
    changes."""
    names = [cl.name for cl in code_lists]
    (held,) = con.execute("SELECT count(*) FROM ref.code_lists WHERE list_name = ANY($n)",
                          {"n": names}).fetchall()[0]
    if held or not code_lists:
        return False
    with transaction(con, "codes"):
        _write(con, *_rows(code_lists))
    return True
