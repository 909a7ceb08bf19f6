"""The charging world every charging test shares: 40 stations, two days, defects at 5%
so each kind the world injects occurs (generated once a session, about 3 s)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from packs.charging.mockworld.operators import PROFILES
from packs.charging.mockworld.server import OperatorServer
from packs.charging.mockworld.spec import WorldSpec
from packs.charging.mockworld.world import generate

SMALL = WorldSpec(seed=5, stations=40, days=2, defect_rate=0.05)


@pytest.fixture(scope="session")
def charging_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = tmp_path_factory.mktemp("charging") / "world"
    generate(world, SMALL)
    return world


class Platforms:
    """Every operator of a world serving 互联互通 on a free port of 127.0.0.1."""

    def __init__(self, world: Path) -> None:
        self.servers = {o.operator_id: OperatorServer(world, o.operator_id) for o in PROFILES}

    def settings(self, *paged: str, **until: str) -> dict[str, str]:
        """The settings (environment) that point each operator's sources of each kind at
        its server: those of the `paged` kinds (read whole, e.g. "stations"), and those
        whose window walks stop at `until[<kind>]` (the world has no later data): e.g.
        `status="2026-09-01 04:00:00"` for the <op>_status sources."""
        env = {}
        for o in PROFILES:
            for kind in paged:
                url = self.servers[o.operator_id].url
                env[f"SILOBRIDGE_{o.prefix}_{kind}__BASE_URL".upper()] = url
            for kind, last in until.items():
                source = f"{o.prefix}_{kind}".upper()
                env[f"SILOBRIDGE_{source}__BASE_URL"] = self.servers[o.operator_id].url
                env[f"SILOBRIDGE_{source}__WINDOW_UNTIL"] = last
        return env


@pytest.fixture(scope="session")
def operator_platforms(charging_world: Path) -> Iterator[Platforms]:
    """The shared world's operators, serving for the whole session."""
    platforms = Platforms(charging_world)
    for server in platforms.servers.values():
        server.start()
    yield platforms
    with ThreadPoolExecutor() as pool:  # each waits up to half a second for its loop
        list(pool.map(OperatorServer.stop, platforms.servers.values()))


@pytest.fixture(scope="session")
def operator_env(operator_platforms: Platforms) -> dict[str, str]:
    """The settings pointing each operator's sources at its server (the declared ports
    stay free): its station list, and its statuses and orders walked up to the world's
    first moment only (none: a test of the stations)."""
    first = f"{SMALL.start:%Y-%m-%d} 00:00:00"
    return operator_platforms.settings("stations", status=first, orders=first)


@pytest.fixture(scope="session")
def deliver_lists(charging_world: Path) -> Callable[[Path], None]:
    """Deliver into a home's world what the stations' sources read besides the operators:
    the register's SQLite file, the segment list, the transformer list and the hand-kept
    table."""
    return lambda home: _deliver_lists(charging_world, home)


def _deliver_lists(world: Path, home: Path) -> None:
    target = home / "world" / "charging"
    for part in ("register/register.sqlite", "traffic/segments.csv", "grid/transformers.csv",
                 "grid/station_transformer.csv"):
        (target / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(world / part, target / part)
