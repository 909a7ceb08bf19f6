"""The `silobridge` command: a thin layer over the step functions.

Each command parses its arguments, calls one library function and prints the result
(a table for people, one JSON document with --json for scripts).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectors.errors import SourceError

from .settings import Settings

app = typer.Typer(help="silobridge: one view per dispute across province, county, township "
                       "and grid.", no_args_is_help=True, add_completion=False)
mock_app = typer.Typer(help="The mock source world: generate it, move it forward, serve it.",
                       no_args_is_help=True)
app.add_typer(mock_app, name="mock")
console = Console()


class Source(StrEnum):
    province = "province"
    county = "county"
    township = "township"
    grid = "grid"


def _settings() -> Settings:
    return Settings()


@app.callback()
def _main() -> None:
    level = os.environ.get("SILOBRIDGE_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO, and ours carry the gateway's request signature
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


@mock_app.command("generate")
def mock_generate(
    out: Annotated[Path | None, typer.Option(help="Folder to write (default: the home "
                                             "folder's world, where connectors look).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same arguments, same bytes.")] = 7,
    cases: Annotated[int, typer.Option(help="Disputes in the first DAYS days.")] = 4000,
    days: Annotated[int, typer.Option(help="Days of history to generate.")] = 60,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).")] = "2026-09-01",
    defect_rate: Annotated[float, typer.Option(help="Share of records with an injected "
                                               "defect.")] = 0.03,
    source_defect_rate: Annotated[list[str] | None, typer.Option(
        help="Per-source override, e.g. --source-defect-rate grid=0.3 (repeatable).")] = None,
) -> None:
    """Write a deterministic mock world: four source systems and their answer key."""
    from mockworld.spec import WorldSpec  # noqa: PLC0415 - keep `silobridge --help` fast
    from mockworld.world import generate  # noqa: PLC0415

    overrides = []
    for item in source_defect_rate or []:
        name, _, rate = item.partition("=")
        try:
            overrides.append((name, float(rate)))
        except ValueError:
            raise _fail(f"--source-defect-rate wants SOURCE=RATE, got {item!r}") from None
    try:
        spec = WorldSpec(seed=seed, cases=cases, days=days, start=date.fromisoformat(start),
                         defect_rate=defect_rate, defect_overrides=tuple(overrides))
    except ValueError as e:
        raise _fail(str(e)) from None
    target = out or _settings().world_dir
    try:
        manifest = generate(target, spec)
    except FileExistsError as e:
        raise _fail(str(e)) from None
    console.print(f"mock world written to [bold]{target}[/] (clock {manifest.now:%Y-%m-%d %H:%M})")


@mock_app.command("advance")
def mock_advance(
    world: Annotated[Path | None, typer.Option(help="World folder (default: home's).")] = None,
    days: Annotated[int, typer.Option(help="Days to move forward.")] = 1,
) -> None:
    """Move the world forward: new disputes and updates at every level."""
    from mockworld.world import advance  # noqa: PLC0415

    target = world or _settings().world_dir
    try:
        manifest = advance(target, days)
    except (FileNotFoundError, ValueError) as e:
        raise _fail(str(e)) from None
    console.print(f"world at [bold]{target}[/] now stands at {manifest.now:%Y-%m-%d %H:%M}")


@mock_app.command("serve")
def mock_serve(
    world: Annotated[Path | None, typer.Option(help="World folder (default: home's).")] = None,
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default: the port of "
                                             "the province connector's URL).")] = None,
    fail_rate: Annotated[float | None, typer.Option(help="Share of requests answered with "
                                                    "HTTP 5xx.")] = None,
) -> None:
    """Serve the province gateway of a world on 127.0.0.1 until Ctrl-C."""
    from mockworld.gateway import GatewayConfig, ProvinceGateway  # noqa: PLC0415
    from mockworld.spec import Layout, Manifest  # noqa: PLC0415

    settings = _settings()
    target = world or settings.world_dir
    try:
        Manifest.read(target)
    except (FileNotFoundError, ValueError) as e:
        raise _fail(str(e)) from None
    config = GatewayConfig.read(Layout(target).gateway_config)
    if fail_rate is not None:
        config.fail_rate = fail_rate
    port = port if port is not None else _port_of(settings.province.base_url)
    gateway = ProvinceGateway(target, port=port, config=config)
    console.print(f"province gateway for {target} on [bold]http://127.0.0.1:{port}[/] "
                  "(Ctrl-C stops)")
    try:
        gateway.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()


def _port_of(url: str) -> int:
    from urllib.parse import urlsplit  # noqa: PLC0415

    return urlsplit(url).port or 80


@app.command("extract")
def extract(
    source: Annotated[Source, typer.Argument(help="Which source to pull.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Pull what is new in one source since its cursor and land it raw in the warehouse."""
    from .extract import extract_source  # noqa: PLC0415

    try:
        result = extract_source(_settings(), source.value)
    except SourceError as e:
        raise _fail(str(e)) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return
    table = Table("source", "batches", "rows", "parse errors", "seconds", "rows/s")
    table.add_row(result.source, str(result.batches), str(result.rows), str(result.parse_errors),
                  f"{result.seconds:.2f}", f"{result.rows_per_s:,.0f}")
    console.print(table)
    for note in result.notes[:20]:
        console.print(f"  note: {note}", highlight=False)


@app.command("demo")
def demo() -> None:
    """The main job on embedded defaults: mock world, gateway, every source, a summary."""
    from .demo import run_demo  # noqa: PLC0415

    code = run_demo(_settings(), console)
    raise typer.Exit(code=code)


@app.command("settings")
def show_settings() -> None:
    """Print the effective settings (secrets masked)."""
    sys.stdout.write(_settings().model_dump_json(indent=2) + "\n")
