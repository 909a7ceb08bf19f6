"""ref.code_lists and ref.codes: every code list of schemas.codes, with its labels.

Written when migration 0012 creates the tables, and brought up to date by every merge in
its transaction. The marts, the golden records and the kept marts read a status's family
from here (the view ref.status_family), so the family is declared once, in schemas.codes;
a merge that finds a status's family changed recomputes every case. The analyst snapshot
copies both tables and decodes its code columns with them.
"""

from __future__ import annotations

import duckdb

from schemas.codes import CODE_LISTS

_FAMILIES = "SELECT status, status_family FROM ref.status_family ORDER BY status"


def _rows() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    lists = [(cl.name, cl.zh, cl.en, cl.group, i) for i, cl in enumerate(CODE_LISTS)]
    codes = [(cl.name, c.code, c.zh, c.en, c.group, i)
             for cl in CODE_LISTS for i, c in enumerate(cl.codes)]
    return lists, codes


def refresh_codes(con: duckdb.DuckDBPyConnection) -> bool:
    """Make ref.code_lists and ref.codes hold schemas.codes (written only when they
    differ); returns whether any status's family changed. Runs inside the caller's
    transaction."""
    lists, codes = _rows()
    held = (con.execute("SELECT * FROM ref.code_lists ORDER BY position").fetchall(),
            con.execute("SELECT * FROM ref.codes ORDER BY list_name, position").fetchall())
    if held == (lists, sorted(codes, key=lambda r: (r[0], r[5]))):
        return False
    families = con.execute(_FAMILIES).fetchall()
    con.execute("DELETE FROM ref.codes")
    con.execute("DELETE FROM ref.code_lists")
    # a hundred-odd rows: as parameters (an Arrow table would make DuckDB import pandas)
    con.executemany("INSERT INTO ref.code_lists VALUES (?, ?, ?, ?, ?)", lists)
    con.executemany("INSERT INTO ref.codes VALUES (?, ?, ?, ?, ?, ?)", codes)
    return con.execute(_FAMILIES).fetchall() != families
