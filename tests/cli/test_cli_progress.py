"""Live progress: drawn on a terminal for each step of a command, never into a pipe or a
file (logs and CI stay clean), and gone once the command is done."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
#: the steps `silobridge run` goes through (the province is left out: no gateway here)
STEPS = ("extract county", "conform and validate county", "quality gate county",
         "extract grid", "merge", "quality checks and reports", "publish the analyst snapshot")


@pytest.fixture
def env(tiny_world: Path, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    shutil.copytree(tiny_world, home / "world")
    # nothing listens there: the province fails at once and the others go on
    return {**os.environ, "SILOBRIDGE_HOME": str(home),
            "SILOBRIDGE_PROVINCE__BASE_URL": "http://127.0.0.1:9",
            "SILOBRIDGE_PROVINCE__MAX_ATTEMPTS": "1", "TERM": "xterm-256color"}


def test_steps_are_drawn_on_a_terminal(terminal: Any, env: dict[str, str]) -> None:
    code, out = terminal([SILOBRIDGE, "run"], env)
    assert code == 1  # the province is down
    text = terminal.plain(out)
    for label in STEPS:
        assert label in text, label
    assert "━" in text  # a bar where the step knows its total
    # every display hides the cursor while it draws and shows it again when done
    assert out.count("\x1b[?25l") == out.count("\x1b[?25h") >= 1
    assert "merge:" in text and "ingestion (this run)" in text  # the result as ever


def test_nothing_is_drawn_into_pipes(env: dict[str, str]) -> None:
    done = subprocess.run([SILOBRIDGE, "ingest", "county"], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout + done.stderr and done.stderr == ""
    assert "county" in done.stdout and "quarantined" in done.stdout
