"""The charging world every charging test shares: 40 stations, two days, defects at 5%
so each kind the world injects occurs (generated once a session, about 3 s)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from packs.charging.mockworld.server import OperatorServer
from packs.charging.mockworld.spec import WorldSpec
from packs.charging.mockworld.world import generate

SMALL = WorldSpec(seed=5, stations=40, days=2, defect_rate=0.05)


@pytest.fixture(scope="session")
def charging_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = tmp_path_factory.mktemp("charging") / "world"
    generate(world, SMALL)
    return world


@pytest.fixture(scope="session")
def operator_env(charging_world: Path) -> Iterator[dict[str, str]]:
    """The world's operators' 互联互通 servers on free ports, and the settings pointing
    each operator's stations source at its server (the declared ports stay free)."""
    servers = [OperatorServer(charging_world, p.name).start()
               for p in sorted((charging_world / "operators").iterdir())]
    try:
        yield {f"SILOBRIDGE_{s.info['OperatorID']}_STATIONS__BASE_URL": s.url
               for s in servers}
    finally:
        for s in servers:
            s.stop()


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
