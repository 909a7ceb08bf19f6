"""`silobridge demo`: the main job on embedded defaults, end to end, then a summary.

It generates the default mock world into the home folder (once; later runs reuse it),
serves the province gateway on the port the province connector expects, runs the
pipeline (ingest every source, merge, link; see silobridge.run) and prints the
accounting, the linking figures and one example question with its answer. A second run
reads nothing new: every cursor stands at the end, and the merge changes nothing.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from warehouse.db import session

from .report_console import print_run
from .run import run_pipeline
from .settings import Settings


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
    with ExitStack() as stack:
        if url.hostname in ("127.0.0.1", "localhost"):
            gateway = stack.enter_context(ProvinceGateway(world, port=url.port or 80))
            console.print(f"province gateway serving on {gateway.url}")
        summary = run_pipeline(settings)
    print_run(summary, console)
    console.print(f"warehouse: {settings.warehouse_path}")
    _example_query(settings, console)
    console.print(f"done in {time.perf_counter() - started:.1f} s")
    return 1 if summary.failures else 0


EXAMPLE = """SELECT town_name, open_cases, overdue_cases
FROM marts.backlog_by_township WHERE county_code = '330421'
ORDER BY open_cases DESC LIMIT 3"""


def _example_query(settings: Settings, console: Console) -> None:
    with session(settings.warehouse_path, read_only=True) as con:
        rows = con.execute(EXAMPLE).fetchall()
    console.print("example question: which Jiashan townships carry the largest backlog?")
    console.print(EXAMPLE, highlight=False)
    table = Table("town_name", "open_cases", "overdue_cases")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
