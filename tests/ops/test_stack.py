"""AirflowStack's process handling, without booting Airflow: a small real program stands in
for `airflow standalone` and behaves like its worst case, ignoring SIGTERM in every process
and starting children that leave its process group (as the task supervisor's setpgid does)
or its session (setsid)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ops.stack import AirflowStack, StackError, port_answers
from silobridge.settings import Settings

STUBBORN = textwrap.dedent("""
    import os, signal, sys, time

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by every child below
    pids = [os.getpid()]
    for how in ("same group", "own group", "own session"):
        pid = os.fork()
        if pid == 0:
            if how == "own group":
                os.setpgid(0, 0)
            elif how == "own session":
                os.setsid()
            while True:
                time.sleep(1)
        pids.append(pid)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(" ".join(map(str, pids)))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    while True:
        time.sleep(1)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




@pytest.fixture
def settings(tmp_path: Path, small_world: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(small_world, home / "world")
    monkeypatch.setenv("SILOBRIDGE_HOME", str(home))
    monkeypatch.setenv("SILOBRIDGE_PROVINCE__BASE_URL", f"http://127.0.0.1:{_free_port()}")
    return Settings()


def test_stop_kills_what_ignores_sigterm_even_outside_the_group(
        settings: Settings, tmp_path: Path, procs: SimpleNamespace) -> None:
    pidfile = tmp_path / "pids"
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    stack = AirflowStack(settings, port=_free_port(), migrate=False, term_grace=1.0,
                         standalone_command=[sys.executable, str(script), str(pidfile)])
    stack.start()
    try:
        deadline = time.monotonic() + 60  # liveness: fails only if something hangs
        while not pidfile.exists():
            assert time.monotonic() < deadline, "the stand-in never wrote its pids"
            time.sleep(0.1)
        pids = [int(p) for p in pidfile.read_text().split()]
        gateway_port = int(settings.province.base_url.rsplit(":", 1)[1])
        while not port_answers("127.0.0.1", gateway_port):
            assert time.monotonic() < deadline, "the gateway never answered"
            time.sleep(0.1)
        groups = stack.pgids
        assert len(groups) == 2
        assert all(procs.alive(p) for p in pids)
    finally:
        t0 = time.monotonic()
        left = stack.stop()
        took = time.monotonic() - t0
    assert left == []
    assert [p for p in pids if procs.alive(p)] == []
    assert procs.in_groups(groups) == []
    assert not port_answers("127.0.0.1", gateway_port)
    assert took >= 1.0  # it had to wait out SIGTERM, then kill
    assert stack.stop() == []  # a second stop is harmless


def test_stop_is_quick_when_children_obey_sigterm(settings: Settings,
                                                  procs: SimpleNamespace) -> None:
    stack = AirflowStack(settings, port=_free_port(), migrate=False, gateway=False,
                         standalone_command=[sys.executable, "-c",
                                             "import time; time.sleep(60)"])
    with stack:
        groups = stack.pgids
        assert len(stack.running()) == 1
    assert procs.in_groups(groups) == []


def test_wait_ready_reports_a_child_that_died(settings: Settings) -> None:
    stack = AirflowStack(settings, port=_free_port(), migrate=False, gateway=False,
                         standalone_command=[sys.executable, "-c", "raise SystemExit(3)"])
    with stack, pytest.raises(StackError, match="standalone exited with code 3"):
        stack.wait_ready(timeout=60)
    assert (settings.airflow_home / "logs" / "standalone.log").exists()


def test_start_refuses_a_port_already_taken(settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        stack = AirflowStack(settings, port=s.getsockname()[1], migrate=False, gateway=False,
                             standalone_command=[sys.executable, "-c", "pass"])
        with pytest.raises(StackError, match="is in use by another process"):
            stack.start()
    assert stack.pgids == set()


def test_children_get_airflow_on_the_chosen_port(settings: Settings) -> None:
    stack = AirflowStack(settings, port=18999,
                         extra_env={"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"})
    env = stack.env()
    assert env["AIRFLOW_HOME"] == str(settings.airflow_home)
    assert env["AIRFLOW__API__PORT"] == "18999"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18999/execution/"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
    # the steps' INFO lines reach the task logs; httpx's request lines (signed URLs) do not
    assert env["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "INFO"
    assert "httpx=WARNING" in env["AIRFLOW__LOGGING__NAMESPACE_LEVELS"].split()
    # standalone finds `airflow` on PATH: it must be this environment's
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert stack.url == "http://127.0.0.1:18999"
    assert stack.gateway_url == settings.province.base_url


def test_no_gateway_for_a_remote_province(settings: Settings,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILOBRIDGE_PROVINCE__BASE_URL", "https://gateway.example.org/api")
    stack = AirflowStack(Settings(), port=_free_port())
    assert stack.gateway_url is None
