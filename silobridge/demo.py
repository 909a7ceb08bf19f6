"""`silobridge demo` (what `make demo` runs): the main job through Airflow, then a summary.

It generates the default mock world into the home folder (once; later runs reuse it),
serves the province gateway on the port the province connector expects, sets Airflow up
in the home folder (SQLite metadata database, the project's DAGs), runs the four ingest
DAGs and then the merge DAG with `dag.test()` (merge, quality, reports, the analyst
snapshot, the county → province sync), and prints the accounting of this run, the
linking figures, the sync and reconciliation, where the warehouse, reports and snapshot
are, and one example question answered from the snapshot. A second run reads nothing
new but the province's copies the first run's sync updated, and sends nothing.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from warehouse.db import session

from .run import score_step
from .settings import Settings

EXAMPLE = """SELECT town_name, open_cases, overdue_cases
FROM marts.backlog_by_township WHERE county_code = '330421'
ORDER BY open_cases DESC LIMIT 3"""


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
    _sync_status(settings, console)
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


def _sync_status(settings: Settings, console: Console) -> None:
    with session(settings.warehouse_path, read_only=True) as con:
        found = con.execute("SELECT status, summary, error FROM ops.runs WHERE kind = 'sync' "
                            "ORDER BY started_at DESC LIMIT 1").fetchall()
    if not found:
        console.print("county → province sync: not run")
        return
    status, text, error = found[0]
    if status != "ok":
        console.print(f"county → province sync [red]{status}[/]: {error}")
        return
    s = json.loads(text)
    r = s["reconciliation"]
    receipts = ", ".join(f"{k} {v}" for k, v in sorted(s["results"].items())) or "none"
    console.print(f"county → province sync: sent {s['sent']} of {s['county_cases']} county "
                  f"cases (receipts: {receipts}); at the province {r['in_sync']} in sync, "
                  f"{r['missing']} missing, {r['stale']} stale, {r['conflicting']} "
                  f"conflicting, {r['duplicates']} held twice (legacy retries)",
                  highlight=False)


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
