"""The real thing, end to end: `airflow standalone` and the gateway through AirflowStack, a
browser (Debian's Chromium driven by Playwright) logging in to Airflow's UI, listing the
project's DAGs and triggering ingest_county, the run ending green, then a stop that leaves
no process behind.

The other DAGs start paused so that the scheduler does not run every source at once on
two cores: the test is about the stack and the UI, test_dag_runs covers every DAG.
"""

from __future__ import annotations

import re
import shutil
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from silobridge.airflow_stack import PROJECT_DAGS, AirflowStack, port_answers
from silobridge.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
RUN_ID = "browser_test_run"
RUN_TIMEOUT_S = 180
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def test_log_in_trigger_ingest_county_and_see_it_succeed(
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
    api_port = _free_port()
    stack = AirflowStack(settings, port=api_port,
                         extra_env={"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"})
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    badge_text = api_state = ""
    task_states: dict[str, str] = {}
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
                # the simple auth manager's login page; the UI redirects there in more
                # than one hop, so wait on the result (expect polls across navigations)
                # rather than on one navigation, which a later hop may abort
                page.goto(f"{stack.url}/dags", wait_until="commit")
                expect(page).to_have_url(re.compile(r"/auth/login"), timeout=30_000)
                expect(page.get_by_label("Username")).to_be_visible(timeout=30_000)
                page.get_by_label("Username").fill(stack.username)
                page.get_by_label("Password").fill(stack.password)
                page.get_by_role("button", name="Sign in").click()
                expect(page).to_have_url(re.compile(r"/dags/?$"), timeout=30_000)
                for dag_id in PROJECT_DAGS:
                    listed = page.get_by_test_id("dag-id").and_(
                        page.locator(f'[href="/dags/{dag_id}"]'))
                    expect(listed).to_have_text(dag_id)

                page.goto(f"{stack.url}/dags/ingest_county")
                toggle = page.get_by_test_id("toggle-pause")
                expect(toggle).to_be_visible()
                toggle.click()  # unpause: the DAG started paused, see the module docstring
                with stack.api() as api:
                    deadline = time.monotonic() + 30
                    while api.get("/api/v2/dags/ingest_county").json()["is_paused"]:
                        assert time.monotonic() < deadline, "the pause toggle did nothing"
                        time.sleep(0.5)
                page.get_by_test_id("trigger-dag-button").click()
                dialog = page.get_by_role("dialog")
                dialog.get_by_text("Advanced Options").click()
                dialog.locator("input[name=dagRunId]").fill(RUN_ID)
                dialog.get_by_test_id("trigger-dag-submit").click()
                page.wait_for_url(f"**/dags/ingest_county/runs/{RUN_ID}")
                timings["triggered"] = time.monotonic() - t0

                badge = page.get_by_test_id("header-card").get_by_test_id("state-badge")
                deadline = time.monotonic() + RUN_TIMEOUT_S
                last_reload = time.monotonic()
                while time.monotonic() < deadline:
                    if badge.count():
                        badge_text = badge.first.inner_text().strip()
                    if badge_text in ("Success", "Failed"):
                        break
                    # the UI refreshes a running run by itself; reload now and then anyway
                    if time.monotonic() - last_reload > 20:
                        page.reload()
                        last_reload = time.monotonic()
                    time.sleep(2)
                timings["run finished"] = time.monotonic() - t0
                with stack.api() as api:
                    run = f"/api/v2/dags/ingest_county/dagRuns/{RUN_ID}"
                    api_state = api.get(run).json()["state"]
                    task_states = {ti["task_id"]: ti["state"] for ti in
                                   api.get(f"{run}/taskInstances").json()["task_instances"]}
                page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
            finally:
                browser.close()
        shutil.copyfile(tmp_path / "ui.png", settings.airflow_home / "ui.png")
    finally:
        t1 = time.monotonic()
        left = stack.stop()
        timings["stop"] = time.monotonic() - t1
        print(f"timings (s): {timings}")

    assert badge_text == "Success", (badge_text, api_state, task_states)
    assert api_state == "success", task_states
    assert task_states == dict.fromkeys(("extract", "conform_and_validate", "quality_gate"),
                                        "success")
    for shot in (tmp_path / "ui.png", settings.airflow_home / "ui.png"):
        data = shot.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, shot
    assert left == []
    assert procs.in_groups(groups) == []
    assert not port_answers("127.0.0.1", api_port)
    log = (settings.airflow_home / "logs" / "standalone.log").read_text(errors="replace")
    assert stack.password not in log
