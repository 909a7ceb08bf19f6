"""Great Expectations runs quietly: no INFO chatter reaches the root logger's handlers and
no progress bar reaches stderr, during the pipeline run and during a check run here."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from quality.batch import evaluate, read_batches
from silobridge.quality_files import of_source
from warehouse.db import session

if TYPE_CHECKING:
    from conftest import QualityRun

TQDM = re.compile(r"\d+%\||it/s\]|Calculating Metrics")


def test_pipeline_run_was_quiet(quality_run: QualityRun) -> None:
    chatter = [r.getMessage() for r in quality_run.gx_records if r.levelno <= logging.INFO]
    assert chatter == []
    assert not TQDM.search(quality_run.stderr), quality_run.stderr[-2000:]
    assert logging.getLogger("great_expectations").getEffectiveLevel() == logging.WARNING


def test_a_gx_backed_check_is_quiet(quality_run: QualityRun, caplog: pytest.LogCaptureFixture,
                                    capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)  # the root at DEBUG: only GX's own level can hush it
    with session(quality_run.settings.warehouse_path, read_only=True) as con:
        ids = [b for (b,) in con.execute(
            "SELECT batch_id FROM ops.batches WHERE source = 'grid'").fetchall()]
        data = read_batches(con, of_source("grid").batch_suite(), "grid", ids)
    results = evaluate(data, "quiet-check", tmp_path / "reports")
    assert any(r.check == "rejected_share" and not r.success for r in results)
    gx = [r for r in caplog.records
          if r.name.startswith("great_expectations") and r.levelno <= logging.INFO]
    assert gx == []
    out = capsys.readouterr()
    assert not TQDM.search(out.err), out.err[-2000:]
    assert not TQDM.search(out.out)
