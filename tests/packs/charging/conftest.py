"""The charging world every charging test shares: 40 stations, two days, defects at 5%
so each kind the world injects occurs (generated once a session, about 3 s)."""

from __future__ import annotations

from collections.abc import Iterator
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

    def settings(self, **until: str) -> dict[str, str]:
        """The settings (environment) that point each operator's sources of each kind at
        its server and stop their window walks at `until[<kind>]` (the world has no later
        data): e.g. `status="2026-09-01 04:00:00"` for the <op>_status sources."""
        env = {}
        for o in PROFILES:
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
