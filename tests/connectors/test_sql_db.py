"""The SQL connector against real SQLite databases written by the mock world, on the
dispute pack's settings of its county source (tables, key, children), and on others'.

One small world is generated per module; tests that change a database work on a copy.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import LINEAGE_COLUMNS, RawBatch
from connectors.errors import (
    SourceNotFoundError,
    SourceProtocolError,
    TransientSourceError,
)
from connectors.incremental import TIME_FORMAT, parse_time
from connectors.kinds import KINDS
from connectors.sql_db import ChildTable, SqlConnector, SqlSourceConfig
from packs.disputes.mockworld.spec import Layout, Manifest, WorldSpec
from packs.disputes.mockworld.world import advance, generate
from silobridge.packs import pack

#: the dispute pack's settings of its county source, but where its database is
COUNTY = {k: v for k, v in KINDS["sql"].defaults(pack("disputes").source("county")).items()
          if k != "url"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sql_db") / "world"
    generate(root, WorldSpec(cases=600, days=15))
    return root


def connector(db: Path, sleep: Callable[[float], None] | None = None,
              **settings: Any) -> SqlConnector:
    """Retry waits take no time unless a test says what happens during them."""
    return SqlConnector(SqlSourceConfig(**(COUNTY | {"url": f"sqlite:///{db}"} | settings)),
                        source="county", sleep=sleep or (lambda _: None))


def rows_of(batches: list[RawBatch]) -> list[dict[str, Any]]:
    return [row for b in batches for row in b.records.to_pylist()]


def ids_of(batches: list[RawBatch]) -> list[int]:
    return [int(row["id"]) for row in rows_of(batches)]


def final_cursor(batches: list[RawBatch]) -> dict[str, Any]:
    assert batches, "expected at least one batch"
    return batches[-1].cursor


def query(db: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def execute(db: Path, sql: str, *params: Any) -> None:
    con = sqlite3.connect(db)
    with con:
        con.execute(sql, params)
    con.close()


@pytest.fixture
def lock() -> Iterator[Callable[[Path], Callable[[], None]]]:
    """Take an exclusive lock on a database from another connection; returns its release,
    which a test calls when it chooses (e.g. from the connector's retry wait), so that
    when the lock ends never depends on how fast the machine is."""
    releases: list[Callable[[], None]] = []

    def take(db: Path) -> Callable[[], None]:
        con = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        con.execute("BEGIN EXCLUSIVE")
        held = [con]

        def release(*_: Any) -> None:
            while held:
                held.pop().close()  # closing ends the transaction: the lock goes

        releases.append(release)
        return release

    yield take
    for release in releases:
        release()


# -- full extraction -------------------------------------------------------------------
def test_full_extraction_yields_every_case_once_with_children(world: Path) -> None:
    db = Layout(world).county_db
    batches = list(connector(db).extract(None))
    rows = rows_of(batches)

    cases = {r["id"]: r for r in query(db, "SELECT * FROM t_dispute_case")}
    assert sorted(int(r["id"]) for r in rows) == sorted(cases)
    assert len(cases) > 30
    for row in rows:
        case = cases[int(row["id"])]
        for name in case.keys():  # noqa: SIM118 - sqlite3.Row iterates values
            value = case[name]
            assert row[name] == (None if value is None else str(value)), name
        parties = query(db, "SELECT * FROM t_dispute_party WHERE case_id = ? ORDER BY id",
                        case["id"])
        flows = query(db, "SELECT * FROM t_case_flow_log WHERE case_id = ? ORDER BY id",
                      case["id"])
        assert json.loads(row["parties"]) == [dict(p) for p in parties]
        assert json.loads(row["flows"]) == [dict(f) for f in flows]
        assert parties, "every county case has parties"
    # compact JSON, as lineage.to_text writes nested values
    assert ", " not in rows[0]["parties"] and '": ' not in rows[0]["parties"]
    assert batches[0].columns == (*cases[1].keys(), "parties", "flows")


def test_rows_come_in_updated_order(world: Path) -> None:
    rows = rows_of(list(connector(Layout(world).county_db, batch_size=10).extract(None)))
    order = [(r["updated_at"], int(r["id"])) for r in rows]
    assert order == sorted(order)


def test_lineage_columns_and_stable_hash(world: Path) -> None:
    db = Layout(world).county_db
    first = list(connector(db).extract(None))
    second = list(connector(db, batch_size=7).extract(None))
    for batch in first:
        assert batch.source == "county"
        assert batch.origin == "t_dispute_case"
        assert batch.records.column_names[-len(LINEAGE_COLUMNS):] == list(LINEAGE_COLUMNS)
    rows = rows_of(first)
    assert all(r["_source"] == "county" and r["_origin"] == "t_dispute_case" for r in rows)
    assert all(r["_row"] == int(r["id"]) for r in rows)
    assert all(r["_parse_error"] is None and r["_raw_text"] is None for r in rows)
    hashes = {r["id"]: r["_raw_hash"] for r in rows}
    assert len(set(hashes.values())) == len(hashes)
    # the hash does not depend on how the rows were split into batches
    assert {r["id"]: r["_raw_hash"] for r in rows_of(second)} == hashes


def test_second_extraction_with_final_cursor_returns_nothing(world: Path) -> None:
    db = Layout(world).county_db
    cursor = final_cursor(list(connector(db).extract(None)))
    assert list(connector(db).extract(cursor)) == []
    # and the cursor survives a JSON round trip, as the caller stores it
    assert list(connector(db).extract(json.loads(json.dumps(cursor)))) == []


def test_resume_after_crash_repeats_and_loses_nothing(world: Path) -> None:
    db = Layout(world).county_db
    run = connector(db, batch_size=16).extract(None)
    landed = next(run)
    run.close()  # the crash: only the first batch and its cursor were stored
    rest = list(connector(db, batch_size=16).extract(landed.cursor))

    assert landed.num_rows == 16
    assert all(b.num_rows <= 16 for b in rest)
    landed_ids = ids_of([landed])
    rest_ids = ids_of(rest)
    assert not set(landed_ids) & set(rest_ids)
    assert len(rest_ids) == len(set(rest_ids))
    all_ids = [r["id"] for r in query(db, "SELECT id FROM t_dispute_case")]
    assert sorted(landed_ids + rest_ids) == sorted(all_ids)


# -- incremental runs ------------------------------------------------------------------
def test_after_advance_returns_exactly_the_cases_written_since(own_world: Path) -> None:
    db = Layout(own_world).county_db
    cursor = final_cursor(list(connector(db).extract(None)))
    old_now = Manifest.read(own_world).now
    advance(own_world, 1)

    got = ids_of(list(connector(db).extract(cursor)))

    with (Layout(own_world).answer_key / "records.csv").open(encoding="utf-8") as f:
        county = [r for r in csv.DictReader(f) if r["source"] == "county"]
    expected = {int(r["row"]) for r in county
                if datetime.strptime(r["written_at"], TIME_FORMAT) >= old_now}
    assert len(got) == len(set(got))
    assert set(got) == expected
    assert expected
    # the late commits: written after the old clock, but claiming an earlier time
    updated = {r["id"]: r["updated_at"] for r in
               query(db, "SELECT id, updated_at FROM t_dispute_case")}
    late = {i for i in got if parse_time(updated[i]) < old_now}
    assert late, "the world should hold a late-committed update to catch"


def _backdate(db: Path, case_id: int, updated: datetime) -> None:
    execute(db, "UPDATE t_dispute_case SET handler = handler || '(改)', updated_at = ? "
            "WHERE id = ?", updated.strftime(TIME_FORMAT), case_id)


def test_update_inside_lookback_is_caught(world: Path, tmp_path: Path) -> None:
    db = tmp_path / "county.sqlite"
    shutil.copy(Layout(world).county_db, db)
    cursor = final_cursor(list(connector(db).extract(None)))
    high = parse_time(cursor["high"])
    oldest = query(db, "SELECT id FROM t_dispute_case ORDER BY updated_at, id LIMIT 1")[0][0]
    # a change committed late: older than the watermark, newer than watermark - lookback
    _backdate(db, oldest, high - timedelta(hours=12))

    assert ids_of(list(connector(db).extract(cursor))) == [oldest]


def test_update_older_than_lookback_is_missed(world: Path, tmp_path: Path) -> None:
    """The documented limit: a change claiming a time before watermark - lookback is lost.

    Only a full extraction (cursor None) or a longer lookback would find it.
    """
    db = tmp_path / "county.sqlite"
    shutil.copy(Layout(world).county_db, db)
    cursor = final_cursor(list(connector(db).extract(None)))
    high = parse_time(cursor["high"])
    oldest = query(db, "SELECT id FROM t_dispute_case ORDER BY updated_at, id LIMIT 1")[0][0]
    _backdate(db, oldest, high - timedelta(days=1, hours=1))

    assert list(connector(db).extract(cursor)) == []
    assert oldest in ids_of(list(connector(db, lookback=timedelta(days=2)).extract(cursor)))


# -- failures --------------------------------------------------------------------------
def test_missing_database_file_is_not_found_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "county" / "county.sqlite"
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        list(connector(db).extract(None))
    assert not db.exists()
    assert not db.parent.exists()


def test_missing_url_or_table_names_the_setting(world: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="url"):
        list(SqlConnector(SqlSourceConfig(), source="county").extract(None))
    # the connector knows no table of its own: without the pack's settings it asks
    url = f"sqlite:///{Layout(world).county_db}"
    with pytest.raises(SourceNotFoundError, match=r"no main table.*SqlSourceConfig\.table"):
        list(SqlConnector(SqlSourceConfig(url=url), source="county").extract(None))


def test_missing_table_or_column_is_a_protocol_error(world: Path) -> None:
    db = Layout(world).county_db
    with pytest.raises(SourceProtocolError, match="t_no_such_case"):
        list(connector(db, table="t_no_such_case").extract(None))
    with pytest.raises(SourceProtocolError, match="modified_at"):
        list(connector(db, updated_column="modified_at").extract(None))
    children = {"parties": ChildTable(table="t_party_gone", foreign_key="case_id")}
    with pytest.raises(SourceProtocolError, match="t_party_gone"):
        list(connector(db, children=children).extract(None))
    children = {"parties": ChildTable(table="t_dispute_party", foreign_key="dispute_id")}
    with pytest.raises(SourceProtocolError, match="dispute_id"):
        list(connector(db, children=children).extract(None))


def test_locked_database_is_retried(world: Path, tmp_path: Path, lock: Any,
                                    caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "county.sqlite"
    shutil.copy(Layout(world).county_db, db)
    waits: list[float] = []
    release = lock(db)  # the writer commits while the connector waits to try again
    with caplog.at_level(logging.WARNING, logger="connectors.sql_db"):
        rows = rows_of(list(connector(db, lambda s: (waits.append(s), release())).extract(None)))
    assert len(rows) == len(query(db, "SELECT id FROM t_dispute_case"))
    assert any("database is locked" in r.getMessage() for r in caplog.records)
    assert waits == [0.5]  # one retry, after the first backoff step


def test_lock_outlasting_the_attempts_is_transient(world: Path, tmp_path: Path,
                                                  lock: Any) -> None:
    db = tmp_path / "county.sqlite"
    shutil.copy(Layout(world).county_db, db)
    lock(db)  # held until the test ends
    waits: list[float] = []
    with pytest.raises(TransientSourceError, match="database is locked") as caught:
        list(connector(db, waits.append, max_attempts=3).extract(None))
    assert caught.value.transient and "gave up after 3 attempts" in str(caught.value)
    assert waits == [0.5, 1.0]


def test_no_lock_is_held_between_batches_and_a_retry_resumes(
        world: Path, tmp_path: Path, lock: Any, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "county.sqlite"
    shutil.copy(Layout(world).county_db, db)
    released: list[Callable[[], None]] = []
    run = connector(db, lambda _: released.pop()(), batch_size=10).extract(None)
    first = next(run)
    # a writer must get in while the caller holds a batch; then the next page meets a lock
    released.append(lock(db))
    with caplog.at_level(logging.WARNING, logger="connectors.sql_db"):
        rest = list(run)
    assert released == []  # the lock was met, and released during the wait
    assert any("database is locked" in r.getMessage() for r in caplog.records)
    ids = ids_of([first, *rest])
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(r["id"] for r in query(db, "SELECT id FROM t_dispute_case"))


# -- any database ----------------------------------------------------------------------
def _tiny_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    with con:
        con.executescript("""
            CREATE TABLE "Event Log" (ev_no INTEGER PRIMARY KEY, label TEXT, score REAL,
                                      qty INTEGER, modified TEXT);
            INSERT INTO "Event Log" VALUES (7, '甲', 1.5, 3, '2026-01-02 08:00:00');
            INSERT INTO "Event Log" VALUES (3, NULL, NULL, 0, '2026-01-01 09:30:00');
            INSERT INTO "Event Log" VALUES (5, '丙', 2.0, NULL, NULL);
        """)
    con.close()
    return path


def test_non_default_table_and_columns(tmp_path: Path) -> None:
    db = _tiny_db(tmp_path / "other.db")
    source = SqlConnector(SqlSourceConfig(url=f"sqlite:///{db}", table="Event Log",
                                          key_column="ev_no", updated_column="modified"),
                          source="sensor")
    batches = list(source.extract(None))
    rows = rows_of(batches)
    assert batches[0].columns == ("ev_no", "label", "score", "qty", "modified")
    assert [r["_row"] for r in rows] == [5, 3, 7]  # the NULL time first, then by time
    # a row without an updated time cannot take part in incremental reads: rejected, named
    assert rows[0]["_parse_error"].startswith("missing_key: updated column modified is NULL")
    assert json.loads(rows[0]["_raw_text"]) == {"ev_no": "5", "label": "丙", "score": "2.0"}
    assert rows[2] | {"_raw_hash": None} == {
        "ev_no": "7", "label": "甲", "score": "1.5", "qty": "3",
        "modified": "2026-01-02 08:00:00", "_source": "sensor", "_origin": "Event Log",
        "_row": 7, "_raw_hash": None, "_parse_error": None, "_raw_text": None}
    assert rows[1]["label"] is None and rows[0]["ev_no"] is None

    cursor = final_cursor(batches)
    assert cursor["high"] == "2026-01-02 08:00:00"
    assert list(source.extract(cursor)) == []
    execute(db, "INSERT INTO \"Event Log\" VALUES (9, '丁', 0.25, 1, '2026-01-03 10:00:00')")
    assert [r["ev_no"] for r in rows_of(list(source.extract(cursor)))] == ["9"]


def test_undecodable_value_rejects_its_row_without_its_contents(tmp_path: Path) -> None:
    db = _tiny_db(tmp_path / "other.db")
    secret = "13800138000身份证"
    execute(db, "UPDATE \"Event Log\" SET label = CAST(? AS BLOB) || x'ff' WHERE ev_no = 7",
            secret.encode("utf-8"))
    execute(db, "UPDATE \"Event Log\" SET label = CAST(label AS TEXT) WHERE ev_no = 7")
    source = SqlConnector(SqlSourceConfig(url=f"sqlite:///{db}", table="Event Log",
                                          key_column="ev_no", updated_column="modified"),
                          source="sensor")
    rows = {r["_row"]: r for r in rows_of(list(source.extract(None)))}
    assert sorted(rows) == [3, 5, 7]
    bad = rows[7]
    assert bad["_parse_error"] == "bad_encoding: column label holds bytes that are not UTF-8"
    assert bad["label"] is None and "\\xff" in bad["_raw_text"]  # the bad byte, escaped
    assert rows[3]["_parse_error"] is None  # the others load
