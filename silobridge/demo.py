"""`silobridge demo`: the main job on embedded defaults, end to end, then a summary.

It generates the default mock world into the home folder (once; later runs reuse it),
serves the province gateway on the port the province connector expects, ingests every
source incrementally (extract, conform, validate, land; bad rows to the quarantine) and
prints the accounting. A second run reads nothing new: every cursor stands at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from connectors.errors import SourceError
from warehouse.db import session

from .ingest import IngestSummary, ingest_source
from .settings import SOURCE_NAMES, Settings


def run_demo(settings: Settings, console: Console) -> int:
    from mockworld.gateway import ProvinceGateway  # noqa: PLC0415
    from mockworld.spec import Manifest, WorldSpec  # noqa: PLC0415
    from mockworld.world import generate  # noqa: PLC0415

    started = time.perf_counter()
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
    results: list[IngestSummary] = []
    failures: list[str] = []
    with ExitStack() as stack:
        if url.hostname in ("127.0.0.1", "localhost"):
            gateway = stack.enter_context(ProvinceGateway(world, port=url.port or 80))
            console.print(f"province gateway serving on {gateway.url}")
        for source in SOURCE_NAMES:
            try:
                results.append(ingest_source(settings, source))
            except SourceError as e:
                failures.append(f"{source}: {e}")
    table = Table("source", "read", "loaded", "quarantined", "duplicates", "seconds",
                  "staged in all", title="ingestion (this run)")
    with session(settings.warehouse_path) as con:
        totals = dict(con.execute("SELECT source, count(*) FROM staging.cases GROUP BY source")
                      .fetchall())
    for r in results:
        table.add_row(r.source, f"{r.read:,}", f"{r.loaded:,}", f"{r.quarantined:,}",
                      f"{r.duplicates:,}", f"{r.seconds:.2f}", f"{totals.get(r.source, 0):,}")
    console.print(table)
    reasons = sum((r.reasons for r in results), Counter())
    if reasons:
        console.print("quarantined for: " + ", ".join(f"{k} {v}" for k, v in
                                                      reasons.most_common()), highlight=False)
    for failure in failures:
        console.print(f"[bold red]failed[/] {failure}", highlight=False)
    console.print(f"warehouse: {settings.warehouse_path}")
    console.print(f"done in {time.perf_counter() - started:.1f} s")
    return 1 if failures else 0
