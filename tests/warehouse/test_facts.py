"""The facts merge kind (warehouse.facts) on real DuckDB files: tables of staged rows per
batch → the core rows and counts they must give, a merge killed before COMMIT, and a
property test against a model of the rules written plainly in Python."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warehouse.db import session, transaction
from warehouse.fact_tables import FactsDeclaration, FactsError, ensure_tables, load_facts
from warehouse.facts import merge_facts

#: the `killed_at` fixture (tests/warehouse/conftest.py)
KilledAt = Callable[[str, str, Path], str]

#: 15-minute loads per transformer; a batch is complete for each local day it carries
LOADS = FactsDeclaration(
    name="loads", staged="staging.loads", core="core.loads", series=("transformer_id",),
    start="interval_start", grain=timedelta(minutes=15), values=("load_kw",),
    lag=timedelta(days=2), complete_for=timedelta(days=1))
UPSERT = LOADS.model_copy(update={"complete_for": None})
LATE = UPSERT.model_copy(update={"lag": timedelta(hours=2)})
LATE_DAYS = LOADS.model_copy(update={"lag": timedelta(hours=2)})
STAGED = ("CREATE TABLE IF NOT EXISTS staging.loads (batch_id BIGINT, row_no BIGINT, "
          "transformer_id VARCHAR, interval_start TIMESTAMP, load_kw DOUBLE)")

#: a staged row: (series, "DD HH:MM" in September 2026, value)
Row = tuple[str | None, str, float | None]
Batch = tuple[int, list[Row]]


def ts(text: str) -> datetime:
    return datetime.strptime(f"2026-09-{text}", "%Y-%m-%d %H:%M")


def stage(con: duckdb.DuckDBPyConnection, batches: Sequence[Batch]) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    con.execute(STAGED)
    for batch_id, rows in batches:
        con.executemany("INSERT INTO staging.loads VALUES (?, ?, ?, ?, ?)",
                        [(batch_id, n, s, ts(t), v) for n, (s, t, v) in enumerate(rows, 1)])


def merge(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration,
          batch_ids: Sequence[int], run_id: str = "run") -> dict[str, Any]:
    with transaction(con, "facts"):
        summary = merge_facts(con, decl, batch_ids, run_id).to_dict()
    del summary["facts"], summary["run_id"]
    return {k: v for k, v in summary.items() if v}


def core(con: duckdb.DuckDBPyConnection, table: str = "core.loads") -> list[Row]:
    return [(s, t.strftime("%d %H:%M"), v) for s, t, v in con.execute(
        f"SELECT transformer_id, interval_start, load_kw FROM {table} ORDER BY ALL").fetchall()]


def state(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every table merge_facts writes, in full."""
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("core.loads", "quarantine.loads", "ops.facts_loads")}


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A real warehouse file, every migration applied."""
    with session(tmp_path / "warehouse.duckdb") as connection:
        yield connection


DAY3 = [("T1", "03 00:00", 1.0), ("T1", "03 00:15", 2.0), ("T1", "03 00:30", 3.0),
        ("T2", "03 00:00", 5.0), ("T1", "04 00:00", 4.0)]

#: (declaration, merges: each a list of batches merged together) → core, counts of the
#: last merge
CASES = {
    "append an interval to a streamed feed": (
        UPSERT, [[(1, [("T1", "03 00:00", 1.0), ("T1", "03 00:15", 2.0)])],
                 [(2, [("T1", "03 00:30", 3.0)])]],
        [("T1", "03 00:00", 1.0), ("T1", "03 00:15", 2.0), ("T1", "03 00:30", 3.0)],
        {"read": 1, "inserted": 1}),
    "append the next day to daily exports": (
        LOADS, [[(1, [("T1", "03 00:00", 1.0), ("T1", "03 00:15", 2.0)])],
                [(2, [("T1", "04 00:00", 3.0), ("T1", "04 00:15", 4.0)])]],
        [("T1", "03 00:00", 1.0), ("T1", "03 00:15", 2.0), ("T1", "04 00:00", 3.0),
         ("T1", "04 00:15", 4.0)],
        {"read": 2, "inserted": 2}),
    "a restatement of one day of one series replaces that day only": (
        LOADS, [[(1, DAY3)], [(2, [("T1", "03 00:00", 9.0), ("T1", "03 00:30", 3.0)])]],
        [("T1", "03 00:00", 9.0), ("T1", "03 00:30", 3.0), ("T1", "04 00:00", 4.0),
         ("T2", "03 00:00", 5.0)],
        {"read": 2, "replaced": 1, "unchanged": 1, "deleted": 1}),
    "without complete_for a restatement only upserts": (
        UPSERT, [[(1, DAY3)], [(2, [("T1", "03 00:00", 9.0), ("T1", "03 00:30", 3.0)])]],
        [("T1", "03 00:00", 9.0), ("T1", "03 00:15", 2.0), ("T1", "03 00:30", 3.0),
         ("T1", "04 00:00", 4.0), ("T2", "03 00:00", 5.0)],
        {"read": 2, "replaced": 1, "unchanged": 1}),
    "late data: inside the lag window taken, older quarantined (the source's watermark)": (
        LATE, [[(1, [("T1", "03 09:45", 1.0), ("T1", "03 10:00", 2.0)])],
                [(2, [("T1", "03 08:00", 3.0), ("T1", "03 07:45", 4.0),
                      ("T2", "03 07:00", 5.0)])]],
        [("T1", "03 08:00", 3.0), ("T1", "03 09:45", 1.0), ("T1", "03 10:00", 2.0)],
        {"read": 3, "inserted": 1, "too_late": 2}),
    "a complete batch deletes nothing behind the lag window": (
        LATE_DAYS, [[(1, [("T1", "03 06:00", 1.0), ("T1", "03 09:00", 2.0),
                      ("T1", "03 10:00", 3.0)])],
                [(2, [("T1", "03 10:00", 3.0)])]],
        [("T1", "03 06:00", 1.0), ("T1", "03 10:00", 3.0)],
        {"read": 1, "unchanged": 1, "deleted": 1}),
    "off-grain intervals and missing keys are rejected with their reason": (
        LOADS, [[(1, [("T1", "03 00:07", 1.0), (None, "03 00:15", 2.0),
                      ("T1", "03 00:30", 3.0)])]],
        [("T1", "03 00:30", 3.0)],
        {"read": 3, "inserted": 1, "rejected": {"off_grain": 1, "missing_key": 1}}),
    "two series interleaved": (
        UPSERT, [[(1, [("T1", "03 00:00", 1.0), ("T2", "03 00:00", 2.0),
                       ("T1", "03 00:15", 3.0), ("T2", "03 00:15", 4.0)]),
                  (2, [("T2", "03 00:30", 6.0), ("T1", "03 00:30", 5.0),
                       ("T2", "03 00:15", 7.0)])]],
        [("T1", "03 00:00", 1.0), ("T1", "03 00:15", 3.0), ("T1", "03 00:30", 5.0),
         ("T2", "03 00:00", 2.0), ("T2", "03 00:15", 7.0), ("T2", "03 00:30", 6.0)],
        {"read": 7, "inserted": 6, "superseded": 1}),
    "two series interleaved, then one of them restated": (
        LOADS, [[(1, [("T1", "03 00:00", 1.0), ("T2", "03 00:00", 2.0),
                      ("T1", "03 00:15", 3.0), ("T2", "03 00:15", 4.0)])],
                [(2, [("T2", "03 00:15", 7.0)])]],
        [("T1", "03 00:00", 1.0), ("T1", "03 00:15", 3.0), ("T2", "03 00:15", 7.0)],
        {"read": 1, "replaced": 1, "deleted": 1}),
    "within a batch the last row of an interval wins": (
        LOADS, [[(1, [("T1", "03 00:00", 1.0), ("T1", "03 00:00", 2.0)])]],
        [("T1", "03 00:00", 2.0)], {"read": 2, "inserted": 1, "superseded": 1}),
    "batches merged together equal batches merged one by one": (
        LOADS, [[(1, DAY3), (2, [("T1", "03 00:00", 9.0)])]],
        [("T1", "03 00:00", 9.0), ("T1", "04 00:00", 4.0), ("T2", "03 00:00", 5.0)],
        {"read": 6, "inserted": 3, "superseded": 3}),
}


@pytest.mark.parametrize("case", CASES)
def test_cases(con: duckdb.DuckDBPyConnection, case: str) -> None:
    decl, merges, expected_core, expected_counts = CASES[case]
    counts: dict[str, Any] = {}
    for batches in merges:
        stage(con, batches)
        counts = merge(con, decl, [b for b, _ in batches])
    assert core(con) == expected_core
    assert counts == expected_counts


def test_merged_together_equals_one_by_one(tmp_path: Path) -> None:
    batches = [(1, DAY3), (2, [("T1", "03 00:00", 9.0), ("T2", "03 00:15", 1.0)]),
               (3, [("T2", "03 00:15", 2.0), ("T1", "04 00:00", 3.0)])]
    results = []
    for how in ([[1, 2, 3]], [[1], [2], [3]]):
        con = duckdb.connect(str(tmp_path / f"{len(how)}.duckdb"))
        stage(con, batches)
        for ids in how:
            merge(con, LOADS, ids)
        results.append(core(con))
        con.close()
    assert results[0] == results[1]


def test_the_same_batches_twice_change_nothing(con: duckdb.DuckDBPyConnection) -> None:
    batches = [(1, DAY3), (2, [("T1", "03 00:00", 9.0), ("T1", "01 23:45", 1.0),
                               ("T1", "03 00:07", 1.0)])]
    stage(con, batches)
    first = merge(con, LOADS, [1, 2], "run-1")
    after_first = state(con)
    second = merge(con, LOADS, [1, 2], "run-2")
    assert state(con) == after_first
    assert first == {"read": 8, "inserted": 3, "superseded": 3, "too_late": 1,
                     "rejected": {"off_grain": 1}}
    assert second == {"read": 8, "unchanged": 3, "superseded": 3, "too_late": 1,
                      "rejected": {"off_grain": 1}}
    third = merge(con, LOADS, [2], "run-3")
    assert state(con) == after_first and third["too_late"] == 1


def test_quarantine_names_the_reason_and_releases_what_a_later_merge_takes(
        con: duckdb.DuckDBPyConnection) -> None:
    stage(con, [(1, [("T1", "03 10:00", 1.0)]), (2, [("T1", "03 07:00", 2.0)])])
    merge(con, LATE, [1])
    merge(con, LATE, [2], "run-late")
    assert con.execute("SELECT batch_id, row_no, reason, released_run FROM quarantine.loads"
                       ).fetchall() == [(2, 1, "too_late", None)]
    wider = LATE.model_copy(update={"lag": timedelta(hours=6)})
    assert merge(con, wider, [2], "run-wider") == {"read": 1, "inserted": 1}
    assert con.execute("SELECT run_id, released_run FROM quarantine.loads").fetchall() == [
        ("run-late", "run-wider")]


def test_days_are_counted_in_the_declared_zone(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    con.execute("CREATE TABLE staging.zoned (batch_id BIGINT, row_no BIGINT, "
                "transformer_id VARCHAR, interval_start TIMESTAMPTZ, load_kw DOUBLE)")
    # Beijing 2026-09-03 00:00 to 24:00 is 09-02 16:00 to 09-03 16:00 UTC
    con.execute("""INSERT INTO staging.zoned VALUES
        (1, 1, 'T1', '2026-09-02 23:45+08', 1), (1, 2, 'T1', '2026-09-03 00:00+08', 2),
        (1, 3, 'T1', '2026-09-03 07:45+08', 3), (1, 4, 'T1', '2026-09-03 08:00+08', 4),
        (2, 1, 'T1', '2026-09-03 08:00+08', 5)""")
    decl = LOADS.model_copy(update={"staged": "staging.zoned", "core": "core.zoned",
                                    "name": "zoned", "lag": timedelta(days=7)})
    merge(con, decl, [1])
    assert merge(con, decl, [2]) == {"read": 1, "replaced": 1, "deleted": 2}
    assert [(s, t.isoformat(), v) for s, t, v in con.execute(
        "SELECT transformer_id, interval_start, load_kw FROM core.zoned ORDER BY ALL")
        .fetchall()] == [("T1", "2026-09-02T23:45:00+08:00", 1.0),
                         ("T1", "2026-09-03T08:00:00+08:00", 5.0)]


def test_intervals_with_an_end(con: duckdb.DuckDBPyConnection) -> None:
    """Charge sessions: any start, an end not before it; 15-minute spans: end = start +
    grain."""
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    con.execute("CREATE TABLE staging.spans (batch_id BIGINT, row_no BIGINT, "
                "connector_id VARCHAR, started_at TIMESTAMP, ended_at TIMESTAMP, kwh DOUBLE)")
    con.execute("""INSERT INTO staging.spans VALUES
        (1, 1, 'C1', '2026-09-03 08:03:10', '2026-09-03 09:00:00', 20),
        (1, 2, 'C1', '2026-09-03 10:00:00', '2026-09-03 09:59:00', 5),
        (1, 3, 'C2', '2026-09-03 08:00:00', '2026-09-03 08:15:00', 3),
        (2, 1, 'C1', '2026-09-03 08:03:10', '2026-09-03 09:30:00', 31)""")
    sessions = FactsDeclaration(
        name="sessions", staged="staging.spans", core="core.sessions",
        series=("connector_id",), start="started_at", end="ended_at", values=("kwh",),
        lag=timedelta(days=1))
    assert merge(con, sessions, [1]) == {"read": 3, "inserted": 2,
                                         "rejected": {"ends_before_start": 1}}
    assert merge(con, sessions, [2]) == {"read": 1, "replaced": 1}
    assert con.execute("SELECT connector_id, ended_at::VARCHAR, kwh FROM core.sessions "
                       "ORDER BY ALL").fetchall() == [("C1", "2026-09-03 09:30:00", 31.0),
                                                      ("C2", "2026-09-03 08:15:00", 3.0)]
    spans = sessions.model_copy(update={"name": "spans", "core": "core.spans",
                                        "grain": timedelta(minutes=15)})
    assert merge(con, spans, [1]) == {
        "read": 3, "inserted": 1, "rejected": {"off_grain": 1, "end_off_grain": 1}}
    assert con.execute("SELECT reason, count(*) FROM quarantine.spans GROUP BY ALL "
                       "ORDER BY ALL").fetchall() == [("end_off_grain", 1), ("off_grain", 1)]


def test_a_staged_row_named_twice_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    stage(con, [(1, DAY3)])
    con.execute("UPDATE staging.loads SET row_no = 1")
    with pytest.raises(FactsError, match="4 staged rows share their"):
        merge(con, LOADS, [1])
    # the caller's transaction rolled back, the tables it created with it
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                       "table_name = 'loads' AND table_schema = 'core'").fetchone() == (0,)


def test_the_core_table_is_derived_from_the_declaration(con: duckdb.DuckDBPyConnection
                                                        ) -> None:
    stage(con, [])
    decl = LOADS.model_copy(update={"types": {"load_kw": "DECIMAL(9,1)"}})
    with transaction(con, "facts"):
        assert ensure_tables(con, decl) == "TIMESTAMP"
    assert con.execute("SELECT column_name, data_type, is_nullable FROM "
                       "information_schema.columns WHERE table_schema = 'core' AND "
                       "table_name = 'loads' ORDER BY ordinal_position").fetchall() == [
        ("transformer_id", "VARCHAR", "NO"), ("interval_start", "TIMESTAMP", "NO"),
        ("load_kw", "DECIMAL(9,1)", "YES"), ("batch_id", "BIGINT", "NO"),
        ("row_no", "BIGINT", "YES"), ("run_id", "VARCHAR", "NO")]
    con.execute("ALTER TABLE staging.loads ADD COLUMN vehicles BIGINT")
    with pytest.raises(FactsError, match="migrate the table first"):
        ensure_tables(con, LOADS.model_copy(update={"values": ("load_kw", "vehicles")}))


def test_it_runs_only_inside_the_callers_transaction(con: duckdb.DuckDBPyConnection) -> None:
    stage(con, [(1, DAY3)])
    with pytest.raises(FactsError, match="caller's transaction"):
        merge_facts(con, LOADS, [1], "run")
    assert con.execute("SELECT count(*) FROM information_schema.tables "
                       "WHERE table_name = 'loads' AND table_schema = 'core'").fetchone() == (0,)


def test_a_packs_own_reason_refuses_a_row_and_the_rest_of_its_batch_merges(
        con: duckdb.DuckDBPyConnection) -> None:
    """`refuse`: the pack's conditions over a staged row; a refused row is quarantined
    with the pack's reason and counted; the others of its batch and series merge."""
    decl = UPSERT.model_copy(update={"refuse": {"blank": "load_kw IS NULL",
                                                "negative": "load_kw < 0"}})
    stage(con, [(1, [("T1", "03 00:00", 1.0), ("T1", "03 00:15", None),
                     ("T1", "03 00:30", -3.0), ("T2", "03 00:00", 5.0)])])
    assert merge(con, decl, [1]) == {"read": 4, "inserted": 2,
                                     "rejected": {"blank": 1, "negative": 1}}
    assert core(con) == [("T1", "03 00:00", 1.0), ("T2", "03 00:00", 5.0)]
    assert con.execute("SELECT row_no, reason FROM quarantine.loads ORDER BY 1").fetchall() \
        == [(2, "blank"), (3, "negative")]
    # a reason must be a plain name and not one of the merge's own
    for refuse, problem in (({"Bad Name": "true"}, "not a plain lower-case name"),
                            ({"too_late": "true"}, "one of the merge's own reasons")):
        with pytest.raises(ValueError, match=problem):
            UPSERT.model_validate({**UPSERT.model_dump(), "refuse": refuse})


def test_declarations_are_read_from_toml(tmp_path: Path) -> None:
    file = tmp_path / "facts.toml"
    file.write_text("""
[facts.transformer_loads]
staged = "staging.transformer_loads"
core = "core.transformer_loads"
series = ["transformer_id"]
start = "interval_start"
grain = "PT15M"
values = ["load_kw"]
lag = "P2D"
complete_for = "P1D"
""", encoding="utf-8")
    (decl,) = load_facts(file).values()
    assert (decl.name, decl.grain, decl.lag) == (
        "transformer_loads", timedelta(minutes=15), timedelta(days=2))
    file.write_text("""
[facts.bad]
staged = "staging.bad"
core = "core.bad"
series = ["segment_id"]
start = "segment_id"
grain = "PT5M"
values = ["vehicles"]
lag = "PT1H"
complete_for = "PT7M"
""", encoding="utf-8")
    with pytest.raises(FactsError, match=r"facts\.toml: \[facts\.bad\].*two roles.*whole "
                                         r"number of grains"):
        load_facts(file)


def test_a_merge_killed_before_commit_leaves_core_as_it_was(tmp_path: Path,
                                                            killed_at: KilledAt) -> None:
    db = tmp_path / "warehouse.duckdb"
    with session(db) as con:
        stage(con, [(1, DAY3), (2, [("T1", "03 00:00", 9.0), ("T1", "03 00:30", 3.0)])])
        merge(con, LOADS, [1])
        before = state(con)
    script = (
        "from pathlib import Path\n"
        "from warehouse.db import session, transaction\n"
        "from warehouse.fact_tables import FactsDeclaration\n"
        "from warehouse.facts import merge_facts\n"
        f"decl = FactsDeclaration.model_validate_json({LOADS.model_dump_json()!r})\n"
        f"with session(Path({str(db)!r})) as con, transaction(con, 'facts'):\n"
        "    merge_facts(con, decl, [2], 'killed')\n"
        "print('merged', flush=True)\n")
    # it stops inside its transaction, every write done but the COMMIT, and is killed there
    assert "merged" not in killed_at("facts:commit", script, tmp_path / "inside-the-merge")
    with session(db) as con:
        assert state(con) == before
        merge(con, LOADS, [2])
        assert core(con) == [("T1", "03 00:00", 9.0), ("T1", "03 00:30", 3.0),
                             ("T1", "04 00:00", 4.0), ("T2", "03 00:00", 5.0)]


# --- property: the SQL merge equals the rules applied row by row in Python ------------

GRAIN, DAY, LAG = 15, 4 * 15, 2 * 15  # minutes; a "day" of four intervals keeps it dense
BASE = datetime(2026, 9, 3)
SMALL = LOADS.model_copy(update={"lag": timedelta(minutes=LAG),
                                 "complete_for": timedelta(minutes=DAY)})


def model(merges: list[list[int]], staged: dict[int, list[tuple[str | None, int, float | None]]],
          complete: bool) -> dict[tuple[str, int], float | None]:
    """The rules, one batch at a time, one row at a time: staged minutes since BASE in,
    the last writer per (series, interval) within restated ranges out."""
    kept: dict[tuple[str, int], float | None] = {}
    newest: dict[int, int | None] = {}  # per merged batch, the newest start it brought
    for call in merges:
        earlier = [v for b, v in newest.items() if b not in call and v is not None]
        for b in sorted(set(call)):
            floor = max(earlier) - LAG if earlier else None
            valid = [(s, m, v) for s, m, v in staged[b] if s is not None and m % GRAIN == 0]
            taken = {(s, m): v for s, m, v in valid if floor is None or m >= floor}
            if complete:
                for s, day in {(s, m - m % DAY) for s, m, _ in valid}:
                    low = day if floor is None else max(day, floor)
                    for key in [k for k in kept if k[0] == s and low <= k[1] < day + DAY]:
                        if key not in taken:
                            del kept[key]
            kept.update(taken)
            newest[b] = max((m for _, m in taken), default=None)
            if newest[b] is not None:  # the watermark moves with what was taken
                earlier.append(newest[b])
    return kept


rows = st.lists(st.tuples(st.sampled_from(["A", "B", None]),
                          st.integers(0, 16).map(lambda i: i * 15 + (7 if i == 16 else 0)),
                          st.sampled_from([1.0, 2.0, None])), max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(staged=st.lists(rows, min_size=1, max_size=5), complete=st.booleans(), data=st.data())
def test_merging_equals_the_model(tmp_path_factory: pytest.TempPathFactory,
                                  staged: list[list[tuple[str | None, int, float | None]]],
                                  complete: bool, data: st.DataObject) -> None:
    ids = list(range(1, len(staged) + 1))
    merges = data.draw(st.lists(st.lists(st.sampled_from(ids), min_size=1, max_size=3),
                                min_size=1, max_size=5))
    by_id = dict(zip(ids, staged, strict=True))
    decl = SMALL if complete else SMALL.model_copy(update={"complete_for": None})
    folder = tmp_path_factory.mktemp("facts")
    con = duckdb.connect(str(folder / "warehouse.duckdb"))
    try:
        con.execute("CREATE SCHEMA staging")
        con.execute(STAGED)
        for b, batch in by_id.items():
            for n, (s, m, v) in enumerate(batch, 1):
                con.execute("INSERT INTO staging.loads VALUES (?, ?, ?, ?, ?)",
                            [b, n, s, BASE + timedelta(minutes=m), v])
        for call in merges:
            summary = merge(con, decl, call)
            assert summary.get("read", 0) == sum(len(by_id[b]) for b in set(call))
        got = {(s, int((t - BASE).total_seconds()) // 60): v for s, t, v in con.execute(
            "SELECT transformer_id, interval_start, load_kw FROM core.loads").fetchall()}
        assert got == model(merges, by_id, complete)
    finally:
        con.close()
        shutil.rmtree(folder)


# -- a list sent whole each time: the start is the day its batch landed ---------------

LISTS = FactsDeclaration(
    name="lists", staged="staging.lists", core="core.lists", series=("item",),
    start="as_of", start_from="landed", grain=timedelta(days=1), values=("value",),
    lag=timedelta(days=7))


def test_a_list_merges_by_the_day_its_batch_landed(con: duckdb.DuckDBPyConnection) -> None:
    """No staged start: each row takes its batch's landing day (Beijing time); an item
    changed on a later day gets a row of that day, one sent again the same day is
    replaced, and merging again changes nothing."""
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    con.execute("CREATE TABLE staging.lists (batch_id BIGINT, row_no BIGINT, item VARCHAR, "
                "value DOUBLE)")
    landed = {1: "2026-09-01 23:30:00+08", 2: "2026-09-02 01:00:00+08",
              3: "2026-09-02 09:00:00+08"}
    con.executemany("INSERT INTO ops.batches (batch_id, run_id, source, origin, columns, "
                    "rows, landed_at) VALUES (?, 'r', 'lists', 'x', [], 1, ?::TIMESTAMPTZ)",
                    list(landed.items()))
    con.executemany("INSERT INTO staging.lists VALUES (?, ?, ?, ?)",
                    [(1, 1, "a", 1.0), (1, 2, "b", 2.0), (2, 1, "a", 1.5), (3, 1, "a", 1.7)])
    assert merge(con, LISTS, [1, 2, 3]) == {"read": 4, "inserted": 3, "superseded": 1}
    rows = con.execute("SELECT item, strftime(timezone('Asia/Shanghai', as_of), '%d'), value "
                       "FROM core.lists ORDER BY ALL").fetchall()
    assert rows == [("a", "01", 1.0), ("a", "02", 1.7), ("b", "01", 2.0)]
    before = state_of(con)
    assert merge(con, LISTS, [1, 2, 3]) == {"read": 4, "unchanged": 3, "superseded": 1}
    assert state_of(con) == before
    with pytest.raises(ValueError, match="needs a grain"):
        LISTS.model_copy(update={"grain": None}).model_validate(
            LISTS.model_dump() | {"grain": None})


def state_of(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute("SELECT * FROM core.lists ORDER BY ALL").fetchall()
