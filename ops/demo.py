"""`silobridge demo` (what `make demo` runs): the main job through Airflow, then a summary.

It generates the default mock world into the home folder (once; later runs reuse it),
serves the province gateway on the port the province connector expects (or, when another
process holds that port, such as a second demo on the machine, on a free one, pointing
the province settings at it), sets Airflow up in the home folder (SQLite metadata
database, the project's DAGs), runs the four ingest DAGs and then the merge DAG with
`dag.test()` (merge, quality, reports, the analyst snapshot, the county → province sync),
and prints the accounting of this run, the linking figures, the sync and reconciliation,
where the warehouse, reports and snapshot are, and one example question answered from
the snapshot (or all of it as one JSON document). When the sync changed the province's
copies, it reads them back and merges again within the same demo, as the scheduler does
on the upload asset; a second demo then reads nothing new, changes nothing and sends
nothing. On a terminal, a progress bar follows the Airflow tasks (an Airflow listener).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console
from rich.table import Table

from silobridge import progress
from silobridge.settings import Settings, env_variable
from warehouse.db import session

from .scoring import score_home

EXAMPLE_QUESTION = "which Jiashan townships carry the largest backlog?"
EXAMPLE = """SELECT town_name, cases, open_cases, escalated_cases, overdue_cases
FROM backlog_by_township WHERE county_code = '330421'
ORDER BY open_cases DESC, town_name LIMIT 3"""
LOOPBACK = ("127.0.0.1", "localhost")

Say = Callable[..., None]


def run_demo(settings: Settings, console: Console, *, as_json: bool = False) -> int:
    """Run the demo; print tables (or, `as_json`, one JSON summary); 0 when every DAG
    succeeded."""
    from .airflow_home import RUN_DAGS, prepare  # noqa: PLC0415

    def say(*args: Any, **kwargs: Any) -> None:
        if not as_json:
            console.print(*args, **kwargs)

    started, began = time.perf_counter(), datetime.now(UTC)
    summary: dict[str, Any] = {"world": _world(settings, say)}
    with ExitStack() as stack:
        settings, summary["gateway"] = serve_gateway(settings, stack, say)
        say(f"Airflow home {settings.airflow_home} (SQLite metadata database)")
        summary["airflow_home"] = str(settings.airflow_home)
        prepare(settings)
        with _task_progress() as run_dag:
            outcomes = []
            for dags in RUN_DAGS:
                outcomes += [run_dag(dag_id) for dag_id in (*dags.ingest, dags.merge)]
                if dags.read_back and outcomes[-1].tasks.get("read_back") == "success":
                    # what a scheduler does on the upload asset: read back the sync target's
                    # copies of the cases just sent (the province's), and merge them (they
                    # overrule nothing); the round's sync then finds nothing to send, so the
                    # next demo finds nothing new
                    outcomes += [run_dag(dags.read_back), run_dag(dags.merge)]
    summary["dags"] = [asdict(o) for o in outcomes]
    summary["accounting"] = _accounting(settings, began)
    score = score_home(settings)
    summary["linking"] = score.to_dict() if score else None
    summary["sync"] = _sync_status(settings, began)
    summary["warehouse"] = str(settings.warehouse_path)
    summary["quality_report"] = str(settings.reports_dir / "quality" / "index.html")
    summary["data_docs"] = str(settings.reports_dir / "data_docs" / "index.html")
    summary["example"] = _example_query(settings)
    summary["ok"] = all(o.state == "success" for o in outcomes)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, default=str) + "\n")
    else:
        _print_summary(summary, console)
    return 0 if summary["ok"] else 1


def _world(settings: Settings, say: Say) -> dict[str, Any]:
    from packs.disputes.mockworld.spec import Manifest, WorldSpec  # noqa: PLC0415
    from packs.disputes.mockworld.world import generate  # noqa: PLC0415

    world = settings.world_dir
    if (world / "world.json").exists():
        manifest = Manifest.read(world)
        say(f"reusing the mock world at {world} (clock {manifest.now:%Y-%m-%d %H:%M})")
        return {"path": str(world), "generated": False, "clock": manifest.now.isoformat()}
    t0 = time.perf_counter()
    spec = WorldSpec()
    with progress.step(f"generate the mock world ({spec.cases:,} disputes)"):
        manifest = generate(world, spec)
    seconds = time.perf_counter() - t0
    say(f"generated the mock world at {world} in {seconds:.1f} s "
        f"({manifest.spec.cases} disputes over {manifest.spec.days} days)")
    return {"path": str(world), "generated": True, "clock": manifest.now.isoformat(),
            "cases": manifest.spec.cases, "days": manifest.spec.days,
            "seconds": round(seconds, 1)}


def serve_gateway(settings: Settings, stack: ExitStack,
                  say: Say = lambda *a, **k: None) -> tuple[Settings, dict[str, Any] | None]:
    """Serve the mock province gateway in this process while `stack` is open, when the
    province URL is on this machine; (the settings to run with, what was served).

    When another process holds the URL's port (a second demo, an old gateway), the
    gateway takes a free port, and the settings, and the environment Airflow's tasks
    build their settings from, point the province connector at it until `stack` closes.
    """
    from packs.disputes.mockworld.gateway import PortInUseError, ProvinceGateway  # noqa: PLC0415

    url = urlsplit(settings.province.base_url)
    if url.hostname not in LOOPBACK:
        return settings, None
    port = url.port or 80
    try:
        gateway = stack.enter_context(ProvinceGateway(settings.world_dir, port=port))
    except PortInUseError:
        gateway = stack.enter_context(ProvinceGateway(settings.world_dir, port=0))
    if gateway.port == port:
        say(f"province gateway serving on {gateway.url}")
        return settings, {"url": gateway.url, "port_was_busy": False}
    base_url = urlunsplit(url._replace(netloc=f"{url.hostname}:{gateway.port}"))
    variable = env_variable("province", "base_url")
    before = os.environ.get(variable)
    os.environ[variable] = base_url
    stack.callback(_restore_env, variable, before)
    say(f"port {port} is taken by another process: province gateway serving on "
        f"{gateway.url} instead ({variable} points there for this demo)")
    province = settings.province.model_copy(update={"base_url": base_url})
    return (settings.model_copy(update={"province": province}),
            {"url": gateway.url, "port_was_busy": True, "busy_port": port})


def _restore_env(variable: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = value


@contextmanager
def _task_progress() -> Iterator[Callable[[str], Any]]:
    """`run_dag`, with a bar over the DAGs' tasks while progress is shown."""
    from .airflow_home import dag_bag, run_dag  # noqa: PLC0415

    with progress.step("Airflow", total=0) as shown:
        if not progress.active():
            yield run_dag
            return
        # Airflow is imported only now: prepare() has configured it
        from airflow.listeners import hookimpl  # noqa: PLC0415
        from airflow.sdk.listener import get_listener_manager  # noqa: PLC0415

        class TaskListener:
            """Moves the bar as dag.test() runs each task (an Airflow listener)."""

            @hookimpl
            def on_task_instance_running(self, task_instance: Any) -> None:
                shown.update(description=f"Airflow: {task_instance.dag_id} › "
                                         f"{task_instance.task_id}")

            @hookimpl
            def on_task_instance_success(self) -> None:
                shown.update(advance=1)

            @hookimpl
            def on_task_instance_failed(self) -> None:
                shown.update(advance=1)

            @hookimpl
            def on_task_instance_skipped(self) -> None:
                shown.update(advance=1)

        listener = TaskListener()
        manager = get_listener_manager()
        manager.add_listener(listener)
        total = 0

        def run(dag_id: str) -> Any:
            nonlocal total
            total += len(dag_bag().get_dag(dag_id).task_ids)
            shown.update(total=total)
            return run_dag(dag_id)

        try:
            yield run
        finally:
            manager.pm.unregister(listener)


def _accounting(settings: Settings, since: datetime) -> list[dict[str, Any]]:
    with session(settings.warehouse_path, read_only=True) as con:
        rows = con.execute("""
            SELECT a.source, sum(a.read), sum(a.loaded), sum(a.quarantined), sum(a.duplicates)
            FROM ops.accounting a JOIN ops.runs r USING (run_id)
            WHERE r.started_at >= ? AND a.kind = 'ingest'
            GROUP BY a.source ORDER BY a.source""", [since]).fetchall()
        staged = dict(con.execute("SELECT source, count(*) FROM core.records GROUP BY source")
                      .fetchall())
    return [{"source": source, "read": int(read), "loaded": int(loaded),
             "quarantined": int(quarantined), "duplicates": int(duplicates),
             "records_in_core": staged.get(source, 0)}
            for source, read, loaded, quarantined, duplicates in rows] or [
        {"source": None, "read": 0, "loaded": 0, "quarantined": 0, "duplicates": 0,
         "records_in_core": sum(staged.values())}]


def _sync_status(settings: Settings, since: datetime) -> dict[str, Any]:
    """The syncs of this demo: what they sent together, and the last reconciliation."""
    with session(settings.warehouse_path, read_only=True) as con:
        found = con.execute("SELECT status, summary, error FROM ops.runs WHERE kind = 'sync' "
                            "AND started_at >= ? ORDER BY started_at", [since]).fetchall()
    if not found:
        return {"status": "not run"}
    failed = [(status, error) for status, _, error in found if status != "ok"]
    if failed:
        return {"status": failed[-1][0], "error": failed[-1][1]}
    runs = [json.loads(text) for _, text, _ in found]
    receipts = Counter[str]()
    for x in runs:
        receipts.update(x["results"])
    last = runs[-1]
    return {"status": "ok", "sent": sum(x["sent"] for x in runs),
            "county_cases": last["county_cases"], "further_records": last["further_records"],
            "receipts": dict(sorted(receipts.items())),
            "reconciliation": last["reconciliation"]}


def _example_query(settings: Settings) -> dict[str, Any]:
    from silobridge.snapshot import query, snapshot_dir  # noqa: PLC0415

    result = query(settings, EXAMPLE)
    return {"snapshot": str(snapshot_dir(settings)), "question": EXAMPLE_QUESTION,
            "sql": " ".join(EXAMPLE.split()), "columns": result.columns,
            "rows": [list(row) for row in result.rows]}


def _print_summary(summary: dict[str, Any], console: Console) -> None:
    table = Table("DAG", "state", "tasks", title="Airflow runs (dag.test)")
    for o in summary["dags"]:
        colour = "green" if o["state"] == "success" else "red"
        table.add_row(o["dag_id"], f"[{colour}]{o['state']}[/]",
                      ", ".join(f"{t} {s}" for t, s in o["tasks"].items()))
    console.print(table)
    table = Table("source", "read", "loaded", "quarantined", "duplicates", "records in core",
                  title="accounting of this run")
    for a in summary["accounting"]:
        table.add_row(a["source"] or "(nothing new)", f"{a['read']:,}", f"{a['loaded']:,}",
                      f"{a['quarantined']:,}", f"{a['duplicates']:,}",
                      f"{a['records_in_core']:,}")
    console.print(table)
    score = summary["linking"]
    if score:
        console.print(f"linking against the answer key: precision {score['precision']:.4f}, "
                      f"recall {score['recall']:.4f}, F1 {score['f1']:.4f} "
                      f"({score['records']:,} records)", highlight=False)
    _print_sync(summary["sync"], console)
    console.print(f"warehouse: {summary['warehouse']}")
    console.print(f"quality report: {summary['quality_report']}")
    console.print(f"Data Docs: {summary['data_docs']}")
    example = summary["example"]
    console.print(f"analyst snapshot (read-only, masked): {example['snapshot']}")
    console.print(f"example question: {example['question']}")
    console.print(f'silobridge query "{example["sql"]}"', highlight=False)
    table = Table(*example["columns"])
    for row in example["rows"]:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    console.print(f"done in {summary['seconds']:.1f} s")


def _print_sync(sync: dict[str, Any], console: Console) -> None:
    if sync["status"] == "not run":
        console.print("county → province sync: not run")
        return
    if sync["status"] != "ok":
        console.print(f"county → province sync [red]{sync['status']}[/]: {sync['error']}")
        return
    r = sync["reconciliation"]
    listed = ", ".join(f"{k} {v}" for k, v in sync["receipts"].items()) or "none"
    console.print(f"county → province sync: sent {sync['sent']} of {sync['county_cases']} "
                  f"county cases (one per linked case; {sync['further_records']} further "
                  f"county records of those cases not sent on their own; receipts: {listed}); "
                  f"at the province {r['in_sync']} in sync, {r['missing']} missing, "
                  f"{r['stale']} stale, {r['conflicting']} conflicting, {r['unkeyed']} held "
                  "without the county's number (not sent: a person attaches it there); "
                  f"duplicates we created: {r['duplicates_ours']}; held twice by the "
                  f"province's legacy sync: {r['duplicates_province']}", highlight=False)
