"""A failed step as operators read it: the error and its cause in one line each, in the
steps' log, in the run ledger and in the quality report (without Airflow: the DAG runs in
tests/dags check the callback that calls this)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import duckdb
import pytest

from connectors.errors import SourceNotFoundError
from schemas.pii import find_numbers
from silobridge import steps
from silobridge.failures import MAX_LINE, FailedStep, cause_line, error_line, record
from silobridge.settings import Settings

#: a resident ID valid under GB 11643 (made up): must never reach the ledger in clear
RESIDENT_ID = "33042119800101001X"


def _chained() -> RuntimeError:
    """RuntimeError raised from a KeyError that was raised while handling a ValueError."""
    try:
        try:
            raise ValueError(f"row 7: bad id {RESIDENT_ID}")
        except ValueError:
            try:
                raise KeyError("county_code")  # its context is the ValueError
            except KeyError as e:
                raise RuntimeError("merge failed\nsecond line not shown") from e
    except RuntimeError as e:
        return e
    raise AssertionError("unreachable")


def test_error_and_cause_lines_follow_the_chain_and_mask_numbers() -> None:
    error = _chained()
    assert error_line(error) == "RuntimeError: merge failed"
    cause = cause_line(error)
    assert cause is not None
    assert cause.startswith("KeyError: 'county_code' ← ValueError: row 7: bad id ")
    assert RESIDENT_ID not in cause and find_numbers(cause) == []
    assert error_line("a\nb") == "a"
    assert len(error_line(RuntimeError("x" * 2000))) == MAX_LINE
    assert cause_line("killed by the scheduler") is None and cause_line(None) is None
    try:
        try:
            raise ValueError("hidden")
        except ValueError:
            raise KeyError("shown") from None
    except KeyError as e:
        assert cause_line(e) is None  # `from None` hides the context, as in tracebacks


@pytest.fixture
def settings(tiny_world: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(tiny_world, home / "world")
    return Settings(home=home)


def test_a_failing_step_logs_its_time_error_and_cause(
        settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="silobridge")
    gone = settings.model_copy(update={"grid": settings.grid.model_copy(
        update={"path": tmp_path / "no-such-folder"})})
    with pytest.raises(SourceNotFoundError):
        steps.extract(gone, "grid")
    lines = [r.getMessage() for r in caplog.records if r.name == "silobridge.steps"]
    assert lines[0] == "extract grid: started"
    assert lines[-1].startswith("extract grid: failed after ")
    assert "s: SourceNotFoundError: grid" in lines[-1]
    assert caplog.records[-1].levelno == logging.ERROR


def test_a_recorded_failure_is_in_the_ledger_and_the_report(settings: Settings) -> None:
    step = FailedStep.of("merge", "merge", "scheduled__2026-09-04T03:00:00+08:00", 2,
                         _chained())
    report = record(settings, step)
    record(settings, step)  # the same try reported twice (task, then scheduler) is one row
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute("SELECT dag_id, task_id, run_id, try_number, error, cause "
                           "FROM ops.task_failures").fetchall()
    finally:
        con.close()
    assert rows == [("merge", "merge", "scheduled__2026-09-04T03:00:00+08:00", 2,
                     "RuntimeError: merge failed", step.cause)]
    html = report.read_text("utf-8")
    listed = html.split('id="failed-steps"', 1)[1].split("</table>", 1)[0]
    assert "merge" in listed and "RuntimeError: merge failed" in listed
    assert "KeyError: &#39;county_code&#39; ← ValueError" in listed
    assert find_numbers(html) == []
