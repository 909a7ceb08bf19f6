"""The charging world every charging test shares: 40 stations, two days, defects at 5%
so each kind the world injects occurs (generated once a session, about 3 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from packs.charging.mockworld.spec import WorldSpec
from packs.charging.mockworld.world import generate

SMALL = WorldSpec(seed=5, stations=40, days=2, defect_rate=0.05)


@pytest.fixture(scope="session")
def charging_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = tmp_path_factory.mktemp("charging") / "world"
    generate(world, SMALL)
    return world
