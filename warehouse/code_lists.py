"""ref.code_lists and ref.codes: every code list of the installed packs, with its labels.

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
    con.execute("DELETE FROM ref.codes")
    con.execute("DELETE FROM ref.code_lists")
    # a hundred-odd rows: as parameters (an Arrow table would make DuckDB import pandas)
    con.executemany("INSERT INTO ref.code_lists VALUES (?, ?, ?, ?, ?)", lists)
    con.executemany("INSERT INTO ref.codes VALUES (?, ?, ?, ?, ?, ?)", codes)


def refresh_codes(con: duckdb.DuckDBPyConnection, code_lists: Sequence[CodeList]) -> bool:
    """Make ref.code_lists and ref.codes hold `code_lists` (written only when they
    differ); returns whether any status's family changed. Runs inside the caller's
    transaction."""
    lists, codes = _rows(code_lists)
    held = (con.execute("SELECT * FROM ref.code_lists ORDER BY position").fetchall(),
            con.execute("SELECT * FROM ref.codes ORDER BY list_name, position").fetchall())
    if held == (lists, sorted(codes, key=lambda r: (r[0], r[5]))):
        return False
    families = con.execute(_FAMILIES).fetchall()
    _write(con, lists, codes)
    return con.execute(_FAMILIES).fetchall() != families


def seed_codes(con: duckdb.DuckDBPyConnection, code_lists: Sequence[CodeList]) -> bool:
    """Write `code_lists` into a warehouse that holds none yet, in a transaction of its
    own; returns whether it did. A warehouse that has them is left alone: a change to
    the lists is the next merge's to apply, which then sees what it changes."""
    (held,) = con.execute("SELECT count(*) FROM ref.code_lists").fetchall()[0]
    if held or not code_lists:
        return False
    with transaction(con, "codes"):
        _write(con, *_rows(code_lists))
    return True
