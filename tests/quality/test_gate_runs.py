"""Every gate is a run of the ledger under warehouse.runs.tracked_run: 'ok' with its
decision, or 'failed' with the error that stopped it (never left 'running'), and no run
at all when there is nothing to gate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from connectors.base import RawBatch
from connectors.lineage import build_table
from quality.expectations import SuiteFileError
from quality.files import QualityFiles
from quality.pipeline import gate_source
from schemas.pack import SourceDeclaration
from schemas.scope import UNSCOPED, Scope
from warehouse import batches
from warehouse.db import session
from warehouse.landing import land

if TYPE_CHECKING:
    from conftest import QualityRun

SUITE = """
min_records = 1
[records]
table = "staging.{table}"
[records.columns]
station = "s.station"
[expectations.known_station]
type = "expect_column_values_to_not_be_null"
kwargs = {{ column = "station" }}
severity = "critical"
title_zh = "站点已知"
title_en = "station known"
detail = "{{bad}} of {{n}} records name no station"
"""


@dataclass(frozen=True)
class _Settings:
    warehouse_path: Path
    reports_dir: Path
    scope: Scope = UNSCOPED
    sources: tuple[SourceDeclaration, ...] = field(default=())


def _files(tmp_path: Path, table: str) -> QualityFiles:
    folder = tmp_path / "expectations"
    folder.mkdir(exist_ok=True)
    (folder / "batch.toml").write_text(SUITE.format(table=table), encoding="utf-8")
    return QualityFiles(folder, tmp_path / "audits")


def _gate_runs(db: Path) -> list[tuple]:
    with session(db) as con:
        return con.execute("SELECT status, summary, error FROM ops.runs "
                           "WHERE kind = 'gate' ORDER BY started_at").fetchall()


def test_a_gate_that_fails_is_a_failed_run_and_gates_nothing(tmp_path: Path) -> None:
    settings = _Settings(tmp_path / "wh.duckdb", tmp_path / "reports")
    files = _files(tmp_path, "nowhere")  # a staged table the warehouse does not have
    with session(settings.warehouse_path) as con:
        table = build_table("chargers", "a.csv", ["station"], {"station": ["S1"]}, [2])
        ids = land(con, [RawBatch("chargers", "a.csv", table, ("station",), {})], "run-0")
    assert gate_source(settings, "chargers", files).batch_ids == []  # nothing ingested
    with session(settings.warehouse_path) as con:
        batches.mark_ingested(con, "run-1", ids)
    assert _gate_runs(settings.warehouse_path) == []  # no run without batches to gate
    with pytest.raises(SuiteFileError, match="name nowhere does not exist"):
        gate_source(settings, "chargers", files)
    ((status, summary, error),) = _gate_runs(settings.warehouse_path)
    assert status == "failed" and "nowhere does not exist" in error
    assert json.loads(summary) == {"batches": 1}
    with session(settings.warehouse_path) as con:
        assert batches.ungated(con, "chargers") == ids


def test_every_gate_of_the_pipeline_is_an_ok_run_with_its_decision(
        quality_run: QualityRun) -> None:
    with session(quality_run.settings.warehouse_path) as con:
        runs = {source: (status, json.loads(summary)) for source, status, summary in
                con.execute("SELECT source, status, summary FROM ops.runs "
                            "WHERE kind = 'gate'").fetchall()}
    assert set(runs) == set(quality_run.decisions)
    for source, decision in quality_run.decisions.items():
        status, summary = runs[source]
        assert status == "ok"
        assert summary["status"] == decision.status
        assert summary["batch_ids"] == len(decision.batch_ids)
