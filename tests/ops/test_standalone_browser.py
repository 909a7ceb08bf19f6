"""The real thing, end to end, as an operator meets it: `silobridge demo`, then
`airflow standalone` and the gateway through AirflowStack on the same home (`make demo`,
then `make airflow`), and a browser (Debian's Chromium driven by Playwright) in Airflow's
UI. Then a stop that leaves no process behind.

- It starts clean: the scheduler runs each ingest DAG's latest due schedule and the
  merges those trigger, and every run ends green; no run starts for asset events the
  demo has handled already.
- A task's log in the UI tells what its step did.
- A task that fails (the province connection carries a wrong secret) is red, its log in
  the UI shows the error and its cause, and the failure is in the run ledger and the
  quality report. The merge DAG is paused in the UI first: with that connection, a merge
  would fail its sync too.

One standalone only: it takes about a minute to start on two cores.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest

from ops.airflow_home import INGEST_DAGS
from ops.stack import PROJECT_DAGS, AirflowStack, port_answers
from silobridge.settings import Settings
from warehouse.db import session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
FAILING_RUN = "browser_test_failure"
#: liveness bounds only: a step that takes longer has hung
DEMO_TIMEOUT_S = 420
SETTLE_TIMEOUT_S = 420
RUN_TIMEOUT_S = 180
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(what: Callable[[], str | None], timeout: float, pause: float = 2.0) -> None:
    """Poll until what() returns None (it returns what it still waits for)."""
    deadline = time.monotonic() + timeout
    waiting = what()
    while waiting is not None:
        assert time.monotonic() < deadline, f"still waiting for {waiting}"
        time.sleep(pause)
        waiting = what()


def _runs(api: httpx.Client) -> list[dict]:
    return api.get("/api/v2/dags/~/dagRuns", params={"limit": 200}).json()["dag_runs"]


def _unsettled(api: httpx.Client) -> str | None:
    """What the scheduler still has to do with the runs due at its start, or None."""
    busy = [f"{r['dag_id']} {r['state']}" for r in _runs(api)
            if r["state"] in ("queued", "running")]
    if busy:
        return ", ".join(busy)
    for dag_id in PROJECT_DAGS:
        if api.get(f"/api/v2/dags/{dag_id}/assets/queuedEvents").json()["total_entries"]:
            return f"a run of {dag_id} for queued asset events"
    now = datetime.now(UTC)
    for dag_id in INGEST_DAGS:
        due = api.get(f"/api/v2/dags/{dag_id}").json()["next_dagrun_run_after"]
        if due is None or datetime.fromisoformat(due) <= now:
            return f"the due schedule of {dag_id}"
    return None


def _log_in(page, stack: AirflowStack) -> None:
    from playwright.sync_api import expect

    # the simple auth manager's login page; the UI redirects there in more than one hop,
    # so wait on the result (expect polls across navigations) rather than on one
    # navigation, which a later hop may abort
    page.goto(f"{stack.url}/dags", wait_until="commit")
    expect(page).to_have_url(re.compile(r"/auth/login"), timeout=30_000)
    expect(page.get_by_label("Username")).to_be_visible(timeout=30_000)
    page.get_by_label("Username").fill(stack.username)
    page.get_by_label("Password").fill(stack.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dags/?$"), timeout=30_000)


def test_demo_then_airflow_starts_clean_and_a_failed_task_shows_its_cause(
        tmp_path: Path, small_world: Path, monkeypatch: pytest.MonkeyPatch,
        procs: SimpleNamespace) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's browser with "
                    "`apt-get install chromium` (this test never downloads one)")
    from playwright.sync_api import expect, sync_playwright

    home = tmp_path / "home"
    shutil.copytree(small_world, home / "world")
    monkeypatch.setenv("SILOBRIDGE_HOME", str(home))
    monkeypatch.setenv("SILOBRIDGE_PROVINCE__BASE_URL", f"http://127.0.0.1:{_free_port()}")
    settings = Settings()
    timings: dict[str, float] = {}
    t0 = time.monotonic()

    # make demo
    with open(tmp_path / "demo.log", "wb") as out:
        demo = subprocess.run([str(Path(sys.executable).parent / "silobridge"), "demo"],
                              stdout=out, stderr=subprocess.STDOUT, timeout=DEMO_TIMEOUT_S,
                              check=False)
    assert demo.returncode == 0, (tmp_path / "demo.log").read_text(errors="replace")
    timings["demo"] = time.monotonic() - t0

    # make airflow
    api_port = _free_port()
    stack = AirflowStack(settings, port=api_port)
    started_at = datetime.now(UTC)
    county_log = failed_log = ""
    states: dict[str, set[str]] = {}
    stale_triggers: list[str] = []
    failing_badge = ""
    failing_tasks: dict[str, str] = {}
    stack.start()
    try:
        groups = stack.pgids
        stack.wait_ready(timeout=180)
        timings["ready"] = time.monotonic() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(30_000)
                _log_in(page, stack)
                for dag_id in PROJECT_DAGS:
                    listed = page.get_by_test_id("dag-id").and_(
                        page.locator(f'[href="/dags/{dag_id}"]'))
                    expect(listed).to_have_text(dag_id)

                # the runs due at start: the latest schedule of each ingest DAG, the merges
                with stack.api() as api:
                    _until(lambda: _unsettled(api), SETTLE_TIMEOUT_S)
                    runs = _runs(api)
                timings["settled"] = time.monotonic() - t0
                for r in runs:
                    states.setdefault(r["state"], set()).add(f"{r['dag_id']} {r['dag_run_id']}")
                stale_triggers = [r["dag_run_id"] for r in runs
                                  if r["run_type"] == "asset_triggered"
                                  and datetime.fromisoformat(r["run_after"]) < started_at]
                county = next(r["dag_run_id"] for r in runs if r["dag_id"] == "ingest_county"
                              and r["run_type"] == "scheduled")

                # what a step did, in its task's log in the UI
                page.goto(f"{stack.url}/dags/ingest_county/runs/{quote(county, safe='')}"
                          "/tasks/extract")
                told = page.get_by_text(re.compile(r"extract county: .*rows read"))
                expect(told.first).to_be_visible(timeout=60_000)
                county_log = page.locator("body").inner_text()

                # pause the merge in the UI, then fail a task with a wrong secret
                page.goto(f"{stack.url}/dags/merge_disputes")
                page.get_by_test_id("toggle-pause").click()
                with stack.api() as api:
                    _until(lambda: None
                           if api.get("/api/v2/dags/merge_disputes").json()["is_paused"]
                           else "the merge DAG paused", 30, pause=0.5)
                    api.post("/api/v2/connections", json={
                        "connection_id": "silobridge_province", "conn_type": "http",
                        "password": "not-the-secret"}).raise_for_status()
                page.goto(f"{stack.url}/dags/ingest_province")
                page.get_by_test_id("trigger-dag-button").click()
                dialog = page.get_by_role("dialog")
                dialog.get_by_text("Advanced Options").click()
                dialog.locator("input[name=dagRunId]").fill(FAILING_RUN)
                dialog.get_by_test_id("trigger-dag-submit").click()
                page.wait_for_url(f"**/dags/ingest_province/runs/{FAILING_RUN}")
                badge = page.get_by_test_id("header-card").get_by_test_id("state-badge")
                expect(badge).to_have_text("Failed", timeout=RUN_TIMEOUT_S * 1000)
                failing_badge = badge.inner_text().strip()
                timings["failed"] = time.monotonic() - t0
                with stack.api() as api:
                    run = f"/api/v2/dags/ingest_province/dagRuns/{FAILING_RUN}"
                    failing_tasks = {ti["task_id"]: ti["state"] for ti in
                                     api.get(f"{run}/taskInstances").json()["task_instances"]}

                # the error and its cause, in the failed task's log in the UI
                page.goto(f"{stack.url}/dags/ingest_province/runs/{FAILING_RUN}"
                          "/tasks/extract")
                cause = page.get_by_test_id("summary-SourceAuthError")
                expect(cause.first).to_be_visible(timeout=60_000)
                expect(cause.first).to_contain_text("gateway code 14 (signature refused)")
                expect(page.get_by_test_id("summary-AirflowFailException").first
                       ).to_contain_text("not retried: SourceAuthError is permanent")
                failed_log = page.locator("body").inner_text()
                page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
            finally:
                browser.close()
        shutil.copyfile(tmp_path / "ui.png", settings.airflow_home / "ui.png")
    finally:
        t1 = time.monotonic()
        left = stack.stop()
        timings["stop"] = time.monotonic() - t1
        print(f"timings (s): {timings}")

    # it started clean: every run green (the demo's and the scheduler's), none for events
    # the demo had handled
    assert set(states) == {"success"}, states
    assert stale_triggers == []
    assert {r.split()[0] for r in states["success"]} >= set(PROJECT_DAGS)
    assert "done in" in county_log
    # the failed task: red, its cause in the UI, and in the ledger and the report
    assert failing_badge == "Failed"
    assert failing_tasks == {"extract": "failed", "conform_and_validate": "upstream_failed",
                             "quality_gate": "upstream_failed"}
    assert "extract province: failed after" in failed_log
    with session(settings.warehouse_path, read_only=True) as con:
        recorded = con.execute("SELECT task_id, error, cause FROM ops.task_failures "
                               "WHERE dag_id = 'ingest_province' AND run_id = ?",
                               [FAILING_RUN]).fetchall()
    assert len(recorded) == 1 and recorded[0][0] == "extract", recorded
    assert "code 14 (signature refused)" in recorded[0][2]
    report = (settings.reports_dir / "quality" / "index.html").read_text("utf-8")
    assert FAILING_RUN in report.split('id="failed-steps"', 1)[1].split("</table>", 1)[0]
    for shot in (tmp_path / "ui.png", settings.airflow_home / "ui.png"):
        data = shot.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, shot
    assert left == []
    assert procs.in_groups(groups) == []
    assert not port_answers("127.0.0.1", api_port)
    log = (settings.airflow_home / "logs" / "standalone.log").read_text(errors="replace")
    assert stack.password not in log
