"""The SQL connector against real SQLite files holding rows the county system should not
have written: NULL keys, NULL or garbled update times, values of any storage class,
bytes that are not UTF-8, child rows pointing at nothing. Each class of bad row found by
the malformed-input campaign has a test; the last test generates garbage with
hypothesis. Every row must come out exactly once, as a record or an error record, or the
extraction must raise a SourceError."""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import RawBatch
from connectors.errors import SourceError
from connectors.sql_db import ChildTable, SqlConnector, SqlSourceConfig

T = "2026-09-01 08:00:00"
SCHEMA = """
    CREATE TABLE c (id PRIMARY KEY, tag INTEGER NOT NULL UNIQUE, v, updated_at);
    CREATE TABLE p (pid INTEGER PRIMARY KEY, case_id, x);
"""


def database(path: Path, cases: list[tuple[Any, ...]],
             parties: list[tuple[Any, ...]] = ()) -> Path:
    """A county-like database: `c` (key of no declared type, so any storage class and
    NULL go in) and its child table `p`. A value given as ("bad", bytes) is stored as
    TEXT that is not UTF-8."""
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)

    def stored(v: Any) -> tuple[str, Any]:
        if isinstance(v, tuple) and v[0] == "bad":
            return "CAST(? AS TEXT)", v[1]
        return "?", v

    for case in cases:
        parts = [stored(v) for v in case]
        con.execute(f"INSERT INTO c VALUES ({', '.join(p for p, _ in parts)})",
                    [v for _, v in parts])
    con.executemany("INSERT INTO p (case_id, x) VALUES (?, ?)", parties)
    con.commit()
    con.close()
    return path


def connector(db: Path, **settings: Any) -> SqlConnector:
    config = SqlSourceConfig(url=f"sqlite:///{db}", table="c",
                             children={"ps": ChildTable(table="p", foreign_key="case_id")},
                             **settings)
    return SqlConnector(config, source="county", sleep=lambda _: None)


def rows_of(batches: list[RawBatch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.records.to_pylist()]


_TAG = re.compile(r'"tag": "(-?\d+)"')


def tags(batches: list[RawBatch]) -> list[int]:
    """Every row's tag, records and error records alike (an error record's tag is in its
    raw text, which may be cut at 64 KiB: the tag comes early)."""
    return [int(r["tag"]) if r["_parse_error"] is None else int(_TAG.search(r["_raw_text"])[1])
            for r in rows_of(batches)]


def reasons(batches: list[RawBatch]) -> dict[int, str]:
    return {int(_TAG.search(r["_raw_text"])[1]): r["_parse_error"] for r in rows_of(batches)
            if r["_parse_error"] is not None}


# -- 8. NULL keys, NULL and garbled times -----------------------------------------------------
def test_null_keys_are_rejected_and_paging_goes_on(tmp_path: Path) -> None:
    db = database(tmp_path / "c.db", [
        (1, 1, "a", T), (None, 2, "b", T), (2, 3, "c", T), (None, 4, "d", None),
        (3, 5, "e", "2026-09-01 09:00:00"), (None, 6, "f", "2026-09-01 09:00:00"),
        (4, 7, "g", "2026-09-01 09:00:00")])
    for size in (1, 2, 3, 100):
        batches = list(connector(db, batch_size=size).extract(None))
        assert sorted(tags(batches)) == list(range(1, 8)), size
        assert reasons(batches) == {t: "missing_key: key column id is NULL" for t in (2, 4, 6)}
        # the keyless rows are remembered too: the next run from here repeats nothing
        assert list(connector(db, batch_size=size).extract(batches[-1].cursor)) == []


def test_rows_without_a_readable_update_time_are_rejected(tmp_path: Path) -> None:
    db = database(tmp_path / "c.db", [
        (1, 1, "a", T), (2, 2, "b", None), (3, 3, "c", 20260901), (4, 4, "d", "yesterday"),
        (5, 5, "e", b"\x00\x01"), (6, 6, "f", "2026-02-30 08:00:00"), (7, 7, "g", 1.5),
        (8, 8, "h", "２０２６-09-01 08:00:00")])  # full-width digits
    batches = list(connector(db, batch_size=2).extract(None))
    assert sorted(tags(batches)) == list(range(1, 9))
    null = ("missing_key: updated column updated_at is NULL: the row has no place in the "
            "incremental order")
    garbled = "impossible_date: updated column updated_at is not a time like 2026-09-01 08:00:00"
    assert reasons(batches) == {2: null, 3: garbled, 4: garbled, 5: garbled, 6: garbled,
                                7: garbled, 8: garbled}
    assert batches[-1].cursor["high"] == T  # only a readable time moves the watermark
    assert list(connector(db, batch_size=2).extract(batches[-1].cursor)) == []


def test_child_rows_pointing_at_nothing_or_typed_differently(tmp_path: Path) -> None:
    db = database(tmp_path / "c.db", [(1, 1, "a", T), (2.5, 2, "b", T), ("k", 3, "c", T),
                                      (None, 4, "d", T)],
                  [(1, "one"), (1.0, "one as a real"), ("1", "one as text"), (2.5, "two"),
                   ("k", "k"), (None, "no case"), (99, "orphan"), (b"k", "bytes")])
    rows = {int(r["tag"]): r for r in rows_of(list(connector(db).extract(None)))
            if r["_parse_error"] is None}
    xs = {tag: [p["x"] for p in json.loads(r["ps"])] for tag, r in rows.items()}
    # 1 = 1.0 in SQLite; "1" is text, another key (the column has no type to convert it)
    assert xs == {1: ["one", "one as a real"], 2: ["two"], 3: ["k"]}


def test_a_key_beyond_64_bits_and_bytes_keys_still_load(tmp_path: Path) -> None:
    db = database(tmp_path / "c.db", [("99999999999999999999", 1, "a", T), (b"\xff", 2, "b", T),
                                      (2**63 - 1, 3, "c", T)])
    rows = sorted(rows_of(list(connector(db).extract(None))), key=lambda r: int(r["tag"]))
    # keys that are no whole numbers: the page's rows are numbered by their place (a
    # landed row needs a number), each once
    assert sorted(r["_row"] for r in rows) == [1, 2, 3]
    assert all(r["_parse_error"] is None for r in rows)


def test_text_that_is_not_utf8_in_a_child_rejects_its_case(tmp_path: Path) -> None:
    db = database(tmp_path / "c.db", [(1, 1, "a", T), (2, 2, "b", T)])
    con = sqlite3.connect(db)
    con.execute("INSERT INTO p (case_id, x) VALUES (2, CAST(x'e4bdff' AS TEXT))")
    con.commit()
    con.close()
    batches = list(connector(db).extract(None))
    assert reasons(batches) == {2: "bad_encoding: p.x holds bytes that are not UTF-8"}
    assert sorted(tags(batches)) == [1, 2]


# -- 9. properties: garbage rows, every one accounted for ----------------------------------
_TIMES = ["2026-09-01 08:00:00", "2026-09-01 08:00:00.5", "2026-09-02 00:00:00"]
_KEYS = (st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=3)
         | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
         | st.binary(max_size=3))
_GARBLED = (st.none() | st.text(max_size=6) | st.integers(-(2**63), 2**63 - 1)
            | st.binary(max_size=2) | st.just("0001-01-01 00:00:00"))
#: mostly readable times, so that records and error records mix on a page
_UPDATED = st.sampled_from(_TIMES) | st.sampled_from(_TIMES) | _GARBLED
_VALUES = (st.none() | st.text(max_size=20) | st.integers(-(2**63), 2**63 - 1)
           | st.floats(allow_nan=False) | st.binary(max_size=4)
           | st.builds(lambda b: ("bad", b), st.sampled_from([b"\xff", b"a\xc3", b"\xed\xa0\x80"]))
           | st.integers(1000, 70_000).map(lambda n: "长" * n))


def _identity(key: Any) -> tuple[str, Any]:
    # keys SQLite's UNIQUE tells apart (NULLs are all distinct)
    return ("null", object()) if key is None else (type(key).__name__, key)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(st.tuples(_KEYS, _VALUES, _UPDATED), min_size=1, max_size=14,
                      unique_by=lambda c: _identity(c[0])),
       parties=st.lists(st.tuples(_KEYS, _VALUES), max_size=6),
       batch_size=st.integers(1, 5))
def test_garbage_rows_are_accounted_for_or_a_typed_error(
        cases: list[tuple[Any, Any, Any]], parties: list[tuple[Any, Any]],
        batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = database(Path(tmp) / "c.db", [(k, tag, v, u) for tag, (k, v, u) in
                                           enumerate(cases, 1)],
                      [(k, v[1].decode("latin-1") if isinstance(v, tuple) else v)
                       for k, v in parties])
        try:
            batches = list(connector(db, batch_size=batch_size).extract(None))
        except SourceError:
            return
        assert sorted(tags(batches)) == list(range(1, len(cases) + 1))
        if batches:
            again = list(connector(db, batch_size=batch_size).extract(batches[-1].cursor))
            assert again == []
