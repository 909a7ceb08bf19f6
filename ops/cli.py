"""The `silobridge` command: the pipeline's commands (silobridge.cli) with the operations
tooling's added to them: the mock world (`mock generate`, `mock advance`, `mock serve`),
`demo`, `airflow`, `bench`, and, after `run`, the linking scored against the answer key
when the home folder holds a mock world that has one.

The commands read and fail like the pipeline's (silobridge.cli's module docstring): one
line on stderr, the exit code of the error's kind, {"error": ...} under --json.
"""

from __future__ import annotations

import signal
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from silobridge import progress
from silobridge.cli import (
    RUN_ADDENDA,
    _errors_in_one_line,
    _fail,
    _print_json,
    _settings,
    app,
    console,
)
from silobridge.settings import Settings, env_variable

from .scoring import score_home

__all__ = ["app"]

mock_app = typer.Typer(help="The mock source world: generate it, move it forward, serve it.",
                       no_args_is_help=True)
app.add_typer(mock_app, name="mock")


def _linking(settings: Settings) -> tuple[str, Any, str | None]:
    """`run`'s linking figures against the home's answer key (None without one)."""
    with progress.step("score the linking"):
        score = score_home(settings)
    if score is None:
        return "linking", None, None
    return "linking", score.to_dict(), (
        f"linking against the answer key: precision {score.precision:.4f}, "
        f"recall {score.recall:.4f}, F1 {score.f1:.4f} ({score.records:,} records)")


RUN_ADDENDA.append(_linking)


@mock_app.command("generate")
@_errors_in_one_line()
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Write a deterministic mock world: four source systems and their answer key."""
    from packs.disputes.mockworld.spec import WorldSpec  # noqa: PLC0415 - keep `silobridge --help` fast
    from packs.disputes.mockworld.world import generate  # noqa: PLC0415

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
        with progress.step(f"generate the mock world ({cases:,} disputes)"):
            manifest = generate(target, spec)
    except FileExistsError as e:
        raise _fail(str(e)) from None
    if as_json:
        _print_json({"world": str(target), "clock": manifest.now.isoformat(), "seed": seed,
                     "cases": cases, "days": days})
        return
    console.print(f"mock world written to [bold]{target}[/] (clock {manifest.now:%Y-%m-%d %H:%M})")


@mock_app.command("charging")
@_errors_in_one_line()
def mock_charging(
    out: Annotated[Path | None, typer.Option(help="Folder to write (default: charging/ in "
                                             "the home folder's world, where the charging "
                                             "pack's connectors look).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same arguments, same bytes.")] = 16,
    stations: Annotated[int, typer.Option(help="Physical charging stations.")] = 120,
    days: Annotated[int, typer.Option(help="Days of series to generate.")] = 2,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).")] = "2026-09-01",
    defect_rate: Annotated[float, typer.Option(help="Share of records (or stretches of a "
                                               "series) with an injected defect.")] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Write the charging pack's deterministic mock world (Jiading district): operators'
    stores, the city register, traffic, parking and grid files, and the answer key."""
    from packs.charging.mockworld.spec import WorldSpec  # noqa: PLC0415
    from packs.charging.mockworld.world import generate  # noqa: PLC0415

    try:
        spec = WorldSpec(seed=seed, stations=stations, days=days,
                         start=date.fromisoformat(start), defect_rate=defect_rate)
    except ValueError as e:
        raise _fail(str(e)) from None
    target = out or _settings().world_dir / "charging"
    try:
        with progress.step(f"generate the charging world ({stations:,} stations, "
                           f"{days} days)"):
            counts = generate(target, spec)
    except FileExistsError as e:
        raise _fail(str(e)) from None
    if as_json:
        _print_json({"world": str(target), "seed": seed, "stations": stations, "days": days,
                     "rows": counts})
        return
    console.print(f"charging world written to [bold]{target}[/] ({stations:,} stations, "
                  f"{days} days from {start})")


@mock_app.command("advance")
@_errors_in_one_line()
def mock_advance(
    world: Annotated[Path | None, typer.Option(help="World folder (default: home's).")] = None,
    days: Annotated[int, typer.Option(help="Days to move forward.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Move the world forward: new disputes and updates at every level."""
    from packs.disputes.mockworld.world import advance  # noqa: PLC0415

    target = world or _settings().world_dir
    try:
        with progress.step(f"advance the mock world by {days} days"):
            manifest = advance(target, days)
    except (FileNotFoundError, ValueError) as e:
        raise _fail(str(e)) from None
    if as_json:
        _print_json({"world": str(target), "clock": manifest.now.isoformat()})
        return
    console.print(f"world at [bold]{target}[/] now stands at {manifest.now:%Y-%m-%d %H:%M}")


@mock_app.command("serve")
@_errors_in_one_line()
def mock_serve(
    world: Annotated[Path | None, typer.Option(help="World folder (default: home's).")] = None,
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default: the port of "
                                             "the province connector's URL; 0: any free "
                                             "port).")] = None,
    fail_rate: Annotated[float | None, typer.Option(help="Share of requests answered with "
                                                    "HTTP 5xx.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print where it serves as one JSON "
                                          "line once it listens.")] = False,
) -> None:
    """Serve the province gateway of a world on 127.0.0.1 until Ctrl-C."""
    from packs.disputes.mockworld.gateway import GatewayConfig, PortInUseError, ProvinceGateway  # noqa: PLC0415
    from packs.disputes.mockworld.spec import Layout, Manifest  # noqa: PLC0415

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
    try:
        gateway.start()
    except PortInUseError as e:
        raise _fail(f"{e}, so the province gateway cannot serve there: stop that process, "
                    "or choose a free port with --port N (0: any) and point "
                    f"{env_variable('province', 'base_url')} at it", "port_in_use",
                    port=e.port) from None
    # Ctrl-C stops: also when started from a background job, which inherits SIGINT
    # ignored (Python then installs no handler of its own)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if as_json:
            _print_json({"url": gateway.url, "world": str(target)})
        else:
            console.print(f"province gateway for {target} on [bold]{gateway.url}[/] "
                          "(Ctrl-C stops)")
        sys.stdout.flush()
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()


def _port_of(url: str) -> int:
    from urllib.parse import urlsplit  # noqa: PLC0415

    return urlsplit(url).port or 80


@app.command("bench")
@_errors_in_one_line()
def bench(
    records: Annotated[list[int] | None, typer.Option(
        "--records", help="Source records per world (repeatable).")] = None,
    ten_million: Annotated[bool, typer.Option(
        "--ten-million", help="Also run 10M source records (hours, tens of GB).")] = False,
    sample: Annotated[int, typer.Option(
        help="Records the naive and dlt baselines validate.")] = 20_000,
    work: Annotated[Path, typer.Option(help="Worlds and homes (cached worlds).")
                    ] = Path("bench/work"),
    out: Annotated[Path, typer.Option(help="Where results.json and results.md go.")
                   ] = Path("bench"),
    mart_cases: Annotated[int, typer.Option(
        help="Cases to run the mart queries on (the largest size's core, copied).")
                          ] = 10_000_000,
    report_only: Annotated[bool, typer.Option(
        "--report-only", help="Measure nothing: evaluate results.json and write the tables "
        "again.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print results.json's content (the "
                                          "run's own lines go to stderr).")] = False,
) -> None:
    """Benchmark the pipeline at scale beside the floor, the naive path and dlt."""
    from .bench.driver import rerender, run_bench  # noqa: PLC0415

    sizes = list(records or [100_000, 1_000_000]) + ([10_000_000] if ten_million else [])
    if report_only:
        results = rerender(out, Path("README.md"))
    else:
        results = run_bench(sizes, work, out, Path("README.md"), sample,
                            Console(stderr=True) if as_json else console, mart_cases)
    if as_json:
        _print_json(results)
        return
    for t in results["targets"]:
        mark = "[green]met[/]" if t["met"] else "[red]missed[/]"
        console.print(f"{mark}  {t['target']}: wanted {t['wanted']}, measured {t['measured']}")
    console.print(f"results: {out / 'results.json'}, {out / 'results.md'}")


@app.command("demo")
@_errors_in_one_line()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary instead of "
                                          "the tables.")] = False,
) -> None:
    """The main job on embedded defaults: mock world, gateway, every source, a summary."""
    from .demo import run_demo  # noqa: PLC0415

    code = run_demo(_settings(), console, as_json=as_json)
    raise typer.Exit(code=code)


@app.command("airflow")
@_errors_in_one_line()
def airflow(
    port: Annotated[int, typer.Option(help="Port of Airflow's API server and UI on "
                                      "127.0.0.1.")] = 8080,
) -> None:
    """Run Airflow (standalone) and the mock province gateway until Ctrl-C."""
    from .stack import PortTaken  # noqa: PLC0415 - keep `silobridge --help` fast
    from .stack_foreground import airflow_command  # noqa: PLC0415

    try:
        code = airflow_command(_settings(), console, port)
    except PortTaken as e:
        raise _fail(str(e), "port_in_use", port=e.port) from None
    raise typer.Exit(code=code)
