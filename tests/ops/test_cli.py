"""The `silobridge` command is composed: the pipeline's command line (silobridge.cli) knows
nothing of the operations tooling, and ops.cli adds its commands and, after `run`, the
linking scored against the home's answer key."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app
from packs.disputes.mockworld.gateway import ProvinceGateway

runner = CliRunner()
OPS_COMMANDS = {"mock", "demo", "airflow", "bench"}

# in a fresh interpreter: this test session imports ops.cli, which adds to silobridge.cli.app
PIPELINE_ONLY = """
import json, sys
from typer.main import get_command
from silobridge.cli import app
names = sorted(get_command(app).commands)
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "ops" or ".mockworld" in m)
print(json.dumps({"commands": names, "loaded": loaded}))
"""


def test_the_pipelines_command_line_has_no_ops_command_and_loads_no_mock_world() -> None:
    done = subprocess.run([sys.executable, "-c", PIPELINE_ONLY], capture_output=True,
                          text=True, check=True)
    found = json.loads(done.stdout)
    assert {"extract", "ingest", "run", "merge", "sync", "query"} <= set(found["commands"])
    assert OPS_COMMANDS.isdisjoint(found["commands"])
    assert found["loaded"] == []


def test_run_reports_the_linking_only_when_the_home_holds_an_answer_key(
        tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    shutil.copytree(tiny_world, home / "world")
    monkeypatch.setenv("SILOBRIDGE_HOME", str(home))

    def run(*args: str) -> str:
        result = runner.invoke(app, ["run", *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.stdout

    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        monkeypatch.setenv("SILOBRIDGE_PROVINCE__BASE_URL", gateway.url)
        linking = json.loads(run("--json"))["linking"]
        assert linking["records"] > 0 and 0.9 <= linking["precision"] <= 1.0
        assert linking["true_pairs"] > 0 and 0.9 <= linking["recall"] <= 1.0
        line = (f"linking against the answer key: precision {linking['precision']:.4f}, "
                f"recall {linking['recall']:.4f}, F1 {linking['f1']:.4f} "
                f"({linking['records']:,} records)")
        assert line in run()
        # the same home without its answer key: the pipeline runs, nothing is scored
        shutil.rmtree(home / "world" / "answer_key")
        summary = json.loads(run("--json"))
        assert summary["linking"] is None and summary["merge"] is not None
        assert "linking against" not in run()
