"""The one run bracket (warehouse.runs.tracked_run) on a real warehouse file: what it
writes to ops.runs when the step ends well, when it fails, and that the failure comes
out as it went in."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import pytest

from warehouse.db import session
from warehouse.runs import tracked_run


@dataclass
class Counts:
    read: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _runs(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT run_id, kind, source, status, summary, error, "
                           "finished_at IS NOT NULL FROM ops.runs ORDER BY started_at, "
                           "run_id").fetchall()
    finally:
        con.close()
    return [(*r[:4], json.loads(r[4]) if r[4] else None, *r[5:]) for r in rows]


def test_a_run_that_ends_well_records_its_summary(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with session(path) as con, tracked_run(con, "ingest", "grid", timed=True) as run:
        run.summary = Counts(read=3)
        con.execute("SELECT 1")
    ((run_id, kind, source, status, summary, error, finished),) = _runs(path)
    assert run_id == run.run_id and run_id.startswith("ingest-grid-")
    assert (kind, source, status, error, finished) == ("ingest", "grid", "ok", None, True)
    assert summary["read"] == 3
    # timed: the summary carries the run's own time, the same figure the ledger keeps
    assert summary["seconds"] == run.summary.seconds >= 0


def test_a_failing_run_records_the_error_and_raises_it_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    failure = OSError(28, "No space left on device")
    with pytest.raises(OSError) as raised, \
            tracked_run(path, "extract", "county",
                        describe=lambda e: f"{type(e).__name__}: {e}") as run:
        run.summary = Counts(read=7)
        raise failure
    assert raised.value is failure
    ((_, _, _, status, summary, error, finished),) = _runs(path)
    assert status == "failed" and finished
    assert summary == {"read": 7, "seconds": 0.0}  # the counts so far; not timed here
    assert error == "OSError: [Errno 28] No space left on device"


def test_a_run_that_fails_before_it_has_a_summary_records_an_empty_one(
        tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with pytest.raises(ValueError, match="bad cursor"), tracked_run(path, "merge"):
        raise ValueError("bad cursor")
    ((run_id, _, source, status, summary, error, _),) = _runs(path)
    assert run_id.startswith("merge-all-") and source is None
    assert (status, summary, error) == ("failed", {}, "bad cursor")


def test_a_run_id_of_the_callers_choosing_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with tracked_run(path, "reconcile", run_id="reconcile-test-1") as run:
        run.summary = {"states": {"in_sync": 2}}
    assert _runs(path) == [("reconcile-test-1", "reconcile", None, "ok",
                            {"states": {"in_sync": 2}}, None, True)]
