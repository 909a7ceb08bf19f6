"""Case ids are a function of the data: any order of runs, failures and retries over the
same data gives the same ids (warehouse/linking.py derives a case's id from its founding
record; a sequence would number cases in processing order, and a failed merge would use
numbers up)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.world import advance
from silobridge.packs import entity
from silobridge.run import merge_step, run_pipeline
from silobridge.settings import Settings
from warehouse import merge as merge_module


def _run(home: Path) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        summary = run_pipeline(Settings(home=home, province={"base_url": gateway.url}))
    assert not summary.failures


def _ids_and_golden(home: Path) -> tuple[dict[str, str], list[tuple]]:
    """Every record's case id, and every golden record (run bookkeeping left out)."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        ids = dict(con.execute("SELECT record_uid, case_id FROM core.records").fetchall())
        golden = con.execute("SELECT * EXCLUDE (created_run, updated_run) FROM core.cases "
                             "ORDER BY case_id").fetchall()
        return ids, golden
    finally:
        con.close()


def test_run_advance_run_gives_the_ids_and_golden_records_of_one_run(
        small_world: Path, tmp_path: Path) -> None:
    stepwise = tmp_path / "stepwise"
    shutil.copytree(small_world, stepwise / "world")
    _run(stepwise)
    advance(stepwise / "world", 4)
    once = tmp_path / "once"
    shutil.copytree(stepwise / "world", once / "world")  # the same advanced world
    _run(stepwise)
    _run(once)
    stepwise_ids, stepwise_golden = _ids_and_golden(stepwise)
    once_ids, once_golden = _ids_and_golden(once)
    assert len(stepwise_ids) > 1000
    assert stepwise_ids == once_ids
    assert stepwise_golden == once_golden


def test_a_failed_merge_then_its_rerun_gives_the_ids_of_a_clean_run(
        small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        ingest_all: Callable[[Path], None]) -> None:
    clean = tmp_path / "clean"
    shutil.copytree(small_world, clean / "world")
    _run(clean)
    failing = tmp_path / "failing"
    shutil.copytree(small_world, failing / "world")
    ingest_all(failing)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected failure after the cases were linked")

    # the merge fails inside its transaction, after linking handed out the case ids
    monkeypatch.setattr(merge_module, "refresh_marts", broken)
    with pytest.raises(RuntimeError, match="injected"):
        merge_step(Settings(home=failing))
    monkeypatch.undo()
    merge_step(Settings(home=failing))
    assert _ids_and_golden(failing) == _ids_and_golden(clean)


def test_a_case_id_is_the_founding_records_hash_in_sql_and_python() -> None:
    # migration 0011 and the docs name the SQL form; linking computes it in Python
    uid = "county:2609013304210007"
    con = duckdb.connect()
    ((in_sql,),) = con.execute("SELECT 'C' || sha256(?)[1:16]", [uid]).fetchall()
    con.close()
    assert entity("disputes").id_of(uid) == in_sql and len(in_sql) == 17
