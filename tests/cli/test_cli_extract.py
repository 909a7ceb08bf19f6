"""`silobridge extract` and `silobridge demo` against a running mock world."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.differential.checksums import checksums
from ops.cli import app
from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import Manifest
from packs.disputes.mockworld.world import advance

runner = CliRunner()
SOURCES = ("province", "county", "township", "grid")


@pytest.fixture
def home(small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home folder holding a copy of the small world, its gateway serving on a free port."""
    home = tmp_path / "home"
    shutil.copytree(small_world, home / "world")
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        monkeypatch.setenv("SILOBRIDGE_HOME", str(home))
        monkeypatch.setenv("SILOBRIDGE_PROVINCE__BASE_URL", gateway.url)
        yield home


def _extract(source: str) -> dict:
    result = runner.invoke(app, ["extract", source, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _key_counts(world: Path, since: str = "") -> Counter:
    """Rows each source's extraction reads: the answer key's records, and one totals row
    per ledger sheet (read so that it is counted, then quarantined as no record)."""
    with (world / "answer_key/records.csv").open(encoding="utf-8") as f:
        records = [r for r in csv.DictReader(f) if r["written_at"] >= since]
    sheets = {(r["source"], r["origin"]) for r in records if ".xlsx#" in r["origin"]}
    return Counter(r["source"] for r in records) + Counter(s for s, _ in sheets)


def test_extract_every_source_then_nothing_then_exactly_what_changed(home: Path) -> None:
    world = home / "world"
    expected = _key_counts(world)
    for source in SOURCES:
        summary = _extract(source)
        assert {"source", "rows", "batches", "seconds", "rows_per_s"} <= summary.keys()
        assert summary["rows"] == expected[source], source
    assert all(_extract(source)["rows"] == 0 for source in SOURCES)

    clock = Manifest.read(world).now.isoformat(" ")
    advance(world, 1)
    changed = _key_counts(world, since=clock)
    assert all(changed[s] > 0 for s in SOURCES)
    for source in SOURCES:
        assert _extract(source)["rows"] == changed[source], source


def test_a_permanent_source_error_is_a_clear_message(home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILOBRIDGE_PROVINCE__APP_SECRET", "wrong")
    result = runner.invoke(app, ["extract", "province"])
    assert result.exit_code == 1
    assert "14" in result.output and "Traceback" not in result.output
    monkeypatch.setenv("SILOBRIDGE_TOWNSHIP__PATH", str(home / "nowhere"))
    result = runner.invoke(app, ["extract", "township"])
    assert result.exit_code == 1 and "nowhere" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_runs_end_to_end_twice_and_leaves_nothing_serving(tmp_path: Path,
                                                               terminal: Any) -> None:
    """`make demo` as a user runs it: its own process (Airflow's configuration is
    process-wide), through Airflow, twice; the gateway is gone afterwards. The first run
    writes into pipes (no progress drawn), the second to a terminal with --json."""
    port = _free_port()
    env = {**os.environ, "SILOBRIDGE_HOME": str(tmp_path / "home"),
           "SILOBRIDGE_PROVINCE__BASE_URL": f"http://127.0.0.1:{port}", "COLUMNS": "300"}
    command = [str(Path(sys.executable).parent / "silobridge"), "demo"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600,
                           check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "\x1b" not in first.stdout + first.stderr  # no terminal: nothing drawn
    assert "generated the mock world" in first.stdout
    for dag_id in ("ingest_province", "ingest_county", "ingest_township", "ingest_grid",
                   "merge_disputes"):
        assert dag_id in first.stdout
    assert "failed" not in first.stdout
    assert "precision 1.0000" in first.stdout and "example question" in first.stdout
    assert "0 missing, 0 stale, 0 conflicting" in first.stdout
    assert "duplicates we created: 0" in first.stdout
    # the sync sent cases, and the province's copies were read back within the cycle
    assert first.stdout.count("ingest_province") == 2
    after_first = checksums(tmp_path / "home" / "warehouse.duckdb", ("core", "marts"))
    assert after_first["core.cases"][0] > 3000 and after_first["marts.sync_status"][0] > 500
    code, out = terminal([*command, "--json"], {**env, "TERM": "xterm-256color"})
    assert code == 0, out
    # on a terminal a bar followed the Airflow tasks, and went away
    drawn = terminal.plain(out)
    for task in ("ingest_county › extract", "ingest_grid › quality_gate",
                 "merge_disputes › publish_snapshot", "merge_disputes › sync_to_province"):
        assert f"Airflow: {task}" in drawn, task
    # the summary comes once the drawing is done (it shows the cursor again last)
    second = json.loads(terminal.plain(out.rsplit("\x1b[?25h", 1)[1]))
    assert second["ok"] and not second["world"]["generated"]
    assert second["gateway"] == {"url": f"http://127.0.0.1:{port}", "port_was_busy": False}
    # the second cycle reads nothing new, sends nothing, and changes no core or marts
    # table, byte for byte (our copies coming back overruled nothing the first time)
    assert [a["source"] for a in second["accounting"]] == [None]  # nothing new
    assert second["sync"]["sent"] == 0
    reconciled = second["sync"]["reconciliation"]
    assert (reconciled["missing"], reconciled["stale"], reconciled["conflicting"]) == (0, 0, 0)
    assert [d["state"] for d in second["dags"]] == ["success"] * 5
    assert second["example"]["columns"] == ["town_name", "cases", "open_cases", "escalated_cases",
                                            "overdue_cases"]
    assert checksums(tmp_path / "home" / "warehouse.duckdb", ("core", "marts")) == after_first
    with socket.socket() as s:  # the gateway is gone
        assert s.connect_ex(("127.0.0.1", port)) != 0
