"""Operator mistakes, as the `silobridge` command reports them: exit code 2, one line on
stderr per mistake naming what to change and what it allows, no traceback, and
{"error": {...}} on stdout under --json. Each runs the installed command in a process of
its own, as an operator would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app
from silobridge.cli import EXIT_CODES

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")


def _run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SILOBRIDGE, *args], env={**os.environ, "SILOBRIDGE_HOME": str(home),
                                                    **env},
                          capture_output=True, text=True, timeout=120, check=False)


def _one_line(done: subprocess.CompletedProcess[str], kind: str) -> str:
    assert done.returncode == EXIT_CODES[kind] == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ")
    return line.removeprefix("error: ")


def test_a_setting_out_of_range_names_its_variable_and_range(tmp_path: Path) -> None:
    done = _run(tmp_path, "sync", "--json", SILOBRIDGE_SYNC__BATCH_SIZE="1000")
    line = _one_line(done, "settings")
    assert line == "SILOBRIDGE_SYNC__BATCH_SIZE=1000 is out of range: allowed 1 to 500"
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "settings" and error["message"] == line
    assert error["problems"] == [{"variable": "SILOBRIDGE_SYNC__BATCH_SIZE", "value": "1000",
                                  "problem": "is out of range: allowed 1 to 500"}]
    # without --json: the line only
    done = _run(tmp_path, "settings", SILOBRIDGE_SYNC__BATCH_SIZE="0")
    assert _one_line(done, "settings").endswith("allowed 1 to 500") and done.stdout == ""


def test_each_bad_setting_is_a_line_of_its_own(tmp_path: Path) -> None:
    done = _run(tmp_path, "settings", SILOBRIDGE_VALIDATION__OUT_OF_SCOPE="maybe",
                SILOBRIDGE_WAREHOUSE__LOCK_WAIT="-5", SILOBRIDGE_SYNC__COUNTY_CODE="33042")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert sorted(done.stderr.splitlines()) == [
        "error: SILOBRIDGE_SYNC__COUNTY_CODE=33042 is not valid: it must match ^\\d{6}$",
        "error: SILOBRIDGE_VALIDATION__OUT_OF_SCOPE=maybe is not one of its choices: use "
        "quarantine or flag",
        "error: SILOBRIDGE_WAREHOUSE__LOCK_WAIT=-5 is out of range: allowed at least 0",
    ]


@pytest.mark.parametrize("value,problem", [
    ("33,3304", "is not valid: a list or table is written as JSON"),
    ("33", "is not valid: Input should be a valid tuple; a list or table is written as JSON"),
], ids=["not-json", "not-a-list"])
def test_a_list_setting_not_written_as_json_says_how(tmp_path: Path, value: str,
                                                     problem: str) -> None:
    line = _one_line(_run(tmp_path, "settings", SILOBRIDGE_VALIDATION__DIVISIONS=value),
                     "settings")
    assert line.startswith(f"SILOBRIDGE_VALIDATION__DIVISIONS={value} {problem}")
    assert line.endswith('e.g. ["a", "b"] or {"key": "value"}')


@pytest.mark.parametrize("key,problem", [
    ("abc123", "is 6 characters long: it must be the 32-byte key written as 64 hex characters"),
    ("zz" * 32, "holds characters other than hex digits (0-9, a-f)"),
    ("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
     "looks like base64: write the same 32 bytes as hex digits"),
], ids=["length", "not-hex", "base64"])
def test_a_bad_personal_data_key_says_what_it_must_be(tmp_path: Path, key: str,
                                                      problem: str) -> None:
    done = _run(tmp_path, "reveal", "C1", "--why", "核实身份", "--json", SILOBRIDGE_PII_KEY=key)
    line = _one_line(done, "pii_key")
    assert line.startswith("the personal-data key SILOBRIDGE_PII_KEY ") and problem in line
    assert "token_hex(32)" in line  # how to make one
    assert key not in done.stderr + done.stdout  # never the key itself
    assert json.loads(done.stdout)["error"]["kind"] == "pii_key"


def test_a_damaged_development_key_file_is_named(tmp_path: Path) -> None:
    key_file = tmp_path / "secrets" / "pii.key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("0123\n", encoding="utf-8")
    line = _one_line(_run(tmp_path, "reveal", "C1", "--why", "核实身份"), "pii_key")
    assert line.startswith(f"the development personal-data key file {key_file} is 4 "
                           "characters long")
    assert line.endswith("restore the file, or set SILOBRIDGE_PII_KEY")


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another process's socket listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_busy_port_names_the_option_to_change(small_world: Path, tmp_path: Path,
                                                held_port: int) -> None:
    done = _run(tmp_path, "mock", "serve", "--world", str(small_world), "--port",
                str(held_port), "--json")
    line = _one_line(done, "port_in_use")
    assert line.startswith(f"port {held_port} on 127.0.0.1 is in use by another process")
    assert "--port N" in line and "SILOBRIDGE_PROVINCE__BASE_URL" in line
    assert json.loads(done.stdout)["error"] == {"kind": "port_in_use", "message": line,
                                                "port": held_port}


def test_the_gateway_module_says_the_same_in_one_line(small_world: Path, held_port: int) -> None:
    done = subprocess.run([sys.executable, "-m", "packs.disputes.mockworld.gateway",
                           str(small_world), "--port", str(held_port)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"error: port {held_port} on 127.0.0.1 is in use by "
                                        "another process: choose another with --port"]


def test_airflow_on_a_busy_port_says_so_before_starting_anything(tmp_path: Path,
                                                                 held_port: int) -> None:
    done = _run(tmp_path, "airflow", "--port", str(held_port))
    line = _one_line(done, "port_in_use")
    assert line.startswith(f"port {held_port} on 127.0.0.1 is in use by another process")
    assert line.endswith("choose a free port with --port N")
    assert done.stdout == ""  # nothing started, nothing to stop
    assert not (tmp_path / "world").exists()


@pytest.mark.parametrize("why,accepted", [
    ("核实身份", True), ("核实当事人身份", True), ("court order 12", True),
    ("核实", False), ("ok", False), ("。。。。。。", False), ("     ", False),
])
def test_reveal_counts_a_chinese_reason_by_its_characters(tmp_path: Path, why: str,
                                                          accepted: bool) -> None:
    result = CliRunner().invoke(app, ["reveal", "C-none", "--why", why],
                                env={"SILOBRIDGE_HOME": str(tmp_path)})
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    if accepted:  # the reason passes; the case is what is missing
        assert line == "error: no case C-none with parties"
    else:
        assert line.startswith("error: say why the numbers are needed with --why (at least 5 "
                               "letters or 3 Chinese characters, e.g. --why 核实身份)")
