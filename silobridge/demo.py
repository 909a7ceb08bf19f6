"""`silobridge demo` (what `make demo` runs): the main job through Airflow, then a summary.

It generates the default mock world into the home folder (once; later runs reuse it),
serves the province gateway on the port the province connector expects, sets Airflow up
in the home folder (SQLite metadata database, the project's DAGs), runs the four ingest
DAGs and then the merge DAG with `dag.test()` (merge, quality, reports, the analyst
snapshot, the county → province sync), and prints the accounting of this run, the
linking figures, the sync and reconciliation, where the warehouse, reports and snapshot
are, and one example question answered from the snapshot. When the sync changed the
province's copies, it reads them back and merges again within the same demo, as the
scheduler does on the upload asset; a second demo then reads nothing new, changes nothing
and sends nothing.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from warehouse.db import session

from .run import score_step
from .settings import Settings

EXAMPLE = """SELECT town_name, cases, open_cases, escalated_cases, overdue_cases
FROM backlog_by_township WHERE county_code = '330421'
ORDER BY open_cases DESC, town_name LIMIT 3"""


def run_demo(settings: Settings, console: Console) -> int:
    from mockworld.gateway import ProvinceGateway  # noqa: PLC0415
    from mockworld.spec import Manifest, WorldSpec  # noqa: PLC0415
    from mockworld.world import generate  # noqa: PLC0415

    from .airflow_local import INGEST_DAGS, prepare, run_dag  # noqa: PLC0415

    started, began = time.perf_counter(), datetime.now(UTC)
    world = settings.world_dir
    if (world / "world.json").exists():
        manifest = Manifest.read(world)
        console.print(f"reusing the mock world at {world} (clock {manifest.now:%Y-%m-%d %H:%M})")
    else:
        t0 = time.perf_counter()
        manifest = generate(world, WorldSpec())
        console.print(f"generated the mock world at {world} in {time.perf_counter() - t0:.1f} s "
                      f"({manifest.spec.cases} disputes over {manifest.spec.days} days)")
    url = urlsplit(settings.province.base_url)
    with ExitStack() as stack:
        if url.hostname in ("127.0.0.1", "localhost"):
            gateway = stack.enter_context(ProvinceGateway(world, port=url.port or 80))
            console.print(f"province gateway serving on {gateway.url}")
        console.print(f"Airflow home {settings.airflow_home} (SQLite metadata database)")
        prepare(settings)
        outcomes = [run_dag(dag_id) for dag_id in (*INGEST_DAGS, "merge")]
        if outcomes[-1].tasks.get("read_back") == "success":
            # what a scheduler does on the upload asset: read the province's copies of the
            # cases just sent back, and merge them (they overrule nothing); the round's
            # sync then finds nothing to send, so the next demo finds nothing new
            outcomes += [run_dag("ingest_province"), run_dag("merge")]
    table = Table("DAG", "state", "tasks", title="Airflow runs (dag.test)")
    for o in outcomes:
        colour = "green" if o.state == "success" else "red"
        table.add_row(o.dag_id, f"[{colour}]{o.state}[/]",
                      ", ".join(f"{t} {s}" for t, s in o.tasks.items()))
    console.print(table)
    _accounting(settings, began, console)
    score = score_step(settings)
    if score:
        console.print(f"linking against the answer key: precision {score.precision:.4f}, "
                      f"recall {score.recall:.4f}, F1 {score.f1:.4f} "
                      f"({score.records:,} records)", highlight=False)
    _sync_status(settings, began, console)
    console.print(f"warehouse: {settings.warehouse_path}")
    console.print(f"quality report: {settings.reports_dir / 'quality' / 'index.html'}")
    console.print(f"Data Docs: {settings.reports_dir / 'data_docs' / 'index.html'}")
    _example_query(settings, console)
    console.print(f"done in {time.perf_counter() - started:.1f} s")
    return 0 if all(o.state == "success" for o in outcomes) else 1


def _accounting(settings: Settings, since: datetime, console: Console) -> None:
    with session(settings.warehouse_path, read_only=True) as con:
        rows = con.execute("""
            SELECT a.source, sum(a.read), sum(a.loaded), sum(a.quarantined), sum(a.duplicates)
            FROM ops.accounting a JOIN ops.runs r USING (run_id)
            WHERE r.started_at >= ? AND a.kind = 'ingest'
            GROUP BY a.source ORDER BY a.source""", [since]).fetchall()
        staged = dict(con.execute("SELECT source, count(*) FROM core.records GROUP BY source")
                      .fetchall())
    table = Table("source", "read", "loaded", "quarantined", "duplicates", "records in core",
                  title="accounting of this run")
    for source, read, loaded, quarantined, duplicates in rows:
        table.add_row(source, f"{read:,}", f"{loaded:,}", f"{quarantined:,}",
                      f"{duplicates:,}", f"{staged.get(source, 0):,}")
    if not rows:
        table.add_row("(nothing new)", "0", "0", "0", "0", f"{sum(staged.values()):,}")
    console.print(table)


def _sync_status(settings: Settings, since: datetime, console: Console) -> None:
    """The syncs of this demo: what they sent together, and the last reconciliation."""
    with session(settings.warehouse_path, read_only=True) as con:
        found = con.execute("SELECT status, summary, error FROM ops.runs WHERE kind = 'sync' "
                            "AND started_at >= ? ORDER BY started_at", [since]).fetchall()
    if not found:
        console.print("county → province sync: not run")
        return
    failed = [(status, error) for status, _, error in found if status != "ok"]
    if failed:
        console.print(f"county → province sync [red]{failed[-1][0]}[/]: {failed[-1][1]}")
        return
    runs = [json.loads(text) for _, text, _ in found]
    s, r = runs[-1], runs[-1]["reconciliation"]
    sent = sum(x["sent"] for x in runs)
    receipts = Counter[str]()
    for x in runs:
        receipts.update(x["results"])
    listed = ", ".join(f"{k} {v}" for k, v in sorted(receipts.items())) or "none"
    console.print(f"county → province sync: sent {sent} of {s['county_cases']} county cases "
                  f"(one per linked case; {s['further_records']} further county records of "
                  f"those cases not sent on their own; receipts: {listed}); at the province "
                  f"{r['in_sync']} in sync, {r['missing']} missing, {r['stale']} stale, "
                  f"{r['conflicting']} conflicting, {r['unkeyed']} held without the county's "
                  "number (not sent: a person attaches it there); duplicates we created: "
                  f"{r['duplicates_ours']}; held twice by the province's legacy sync: "
                  f"{r['duplicates_province']}", highlight=False)


def _example_query(settings: Settings, console: Console) -> None:
    from .snapshot import query, snapshot_dir  # noqa: PLC0415

    result = query(settings, EXAMPLE)
    console.print(f"analyst snapshot (read-only, masked): {snapshot_dir(settings)}")
    console.print("example question: which Jiashan townships carry the largest backlog?")
    console.print(f'silobridge query "{" ".join(EXAMPLE.split())}"', highlight=False)
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
