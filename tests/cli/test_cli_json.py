"""`--json` on every command that prints a result: each one's output parses, and holds
what the command is about. One pipeline run over the tiny world feeds the commands that
read the warehouse or the snapshot."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from ops.cli import app
from packs.disputes.mockworld.gateway import ProvinceGateway

runner = CliRunner()
SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
#: commands that serve until stopped and print no result: `airflow` (its login is for
#: people; the stack's own tests cover it)
SERVERS = {"airflow"}


def _commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + name + " ")
        else:
            yield prefix + name, cmd


def test_every_command_that_prints_a_result_takes_json() -> None:
    missing = [name for name, cmd in _commands(get_command(app))
               if name not in SERVERS and not any("--json" in p.opts for p in cmd.params)]
    assert missing == []


@pytest.fixture(scope="module")
def home(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home over a copy of the tiny world after one `silobridge run`, its gateway up."""
    home = tmp_path_factory.mktemp("json") / "home"
    shutil.copytree(tiny_world, home / "world")
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway, \
            pytest.MonkeyPatch.context() as mp:
        mp.setenv("SILOBRIDGE_HOME", str(home))
        mp.setenv("SILOBRIDGE_PROVINCE__BASE_URL", gateway.url)
        summary = _json("run", "--json")
        assert summary["merge"]["cases_new"] > 0 and summary["snapshot"]
        yield home


def _json(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_source_commands(home: Path) -> None:
    assert _json("extract", "county", "--json")["source"] == "county"
    assert _json("ingest", "grid", "--json")["source"] == "grid"
    assert "cases_new" in _json("merge", "--json")
    assert _json("publish", "--json")["tables"]
    assert _json("verify", "--json")["batches"] > 0
    assert "reconciliation" in _json("sync", "--json")
    assert "reconciliation" in _json("sync", "--check-only", "--json")


def test_quarantine_commands(home: Path) -> None:
    listing = _json("quarantine", "list", "--limit", "2", "--json")
    assert listing["shown"] == len(listing["records"]) == 2 < listing["total"]
    first = listing["records"][0]["quarantine_id"]
    assert _json("quarantine", "show", str(first), "--json")["quarantine_id"] == first
    assert "loaded" in _json("quarantine", "replay", "--json")


def test_quarantine_list_shows_the_newest_and_how_many_there_are(home: Path) -> None:
    every = _json("quarantine", "list", "--all", "--json")
    ids = [r["quarantine_id"] for r in every["records"]]
    assert every["shown"] == every["total"] == len(ids) > 3
    assert ids == sorted(ids, reverse=True)  # newest first
    result = runner.invoke(app, ["quarantine", "list", "--limit", "3"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    shown = [int(line.split("│")[1]) for line in result.stdout.splitlines()
             if line.startswith("│")]
    assert shown == ids[:3]
    assert (f"showing 3 of {len(ids)}, newest first ({len(ids) - 3} older: --limit N or "
            "--all)") in result.stdout
    result = runner.invoke(app, ["quarantine", "list", "--all"], env={"COLUMNS": "200"})
    assert f"showing {len(ids)} of {len(ids)}, newest first\n" in result.stdout


def test_snapshot_and_audited_commands(home: Path) -> None:
    rows = _json("query", "SELECT case_id FROM core.case_parties ORDER BY case_id LIMIT 1",
                 "--json")
    case_id = rows[0]["case_id"]
    revealed = _json("reveal", case_id, "--why", "核实身份", "--json")
    assert revealed["case_id"] == case_id and revealed["parties"]
    assert _json("settings", "--json")["home"] == str(home)


def test_world_and_schema_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILOBRIDGE_HOME", str(tmp_path / "home"))
    world = _json("mock", "generate", "--cases", "60", "--days", "3", "--json")
    assert Path(world["world"]) == tmp_path / "home" / "world" and world["cases"] == 60
    assert _json("mock", "advance", "--json")["clock"] > world["clock"]
    written = _json("schemas", "export", str(tmp_path / "schemas"), "--json")["written"]
    assert written and all(Path(p).exists() for p in written)


def test_bench_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bench"
    out.mkdir()
    shutil.copy(Path(__file__).parents[2] / "bench" / "results.json", out)
    monkeypatch.chdir(tmp_path)  # no README.md here: the report touches only `out`
    assert _json("bench", "--report-only", "--out", str(out), "--json")["targets"]


def test_mock_serve_says_where_it_serves(tiny_world: Path) -> None:
    proc = subprocess.Popen([SILOBRIDGE, "mock", "serve", "--world", str(tiny_world),
                             "--port", "0", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert proc.stdout is not None
        serving = json.loads(proc.stdout.readline())
        assert serving["url"].startswith("http://127.0.0.1:")
        assert not serving["url"].endswith(":0")
    finally:
        proc.send_signal(signal.SIGINT)
        # a liveness bound only (a loaded machine takes its time to stop the server)
        assert proc.wait(timeout=120) == 0
