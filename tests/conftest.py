"""Shared fixtures: real mock worlds generated under pytest's tmp folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockworld.spec import WorldSpec
from mockworld.world import generate

#: small enough to generate in about a second, big enough to hold every defect kind
SMALL = WorldSpec(seed=11, cases=900, days=20, defect_rate=0.05)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated world shared read-only by tests (copy it before changing it)."""
    root = tmp_path_factory.mktemp("worlds") / "small"
    generate(root, SMALL)
    return root


#: a whole `silobridge run` over it takes seconds: for tests that run the pipeline often
TINY = WorldSpec(seed=5, cases=200, days=6, defect_rate=0.05)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated world shared read-only by tests (copy it before changing it)."""
    root = tmp_path_factory.mktemp("worlds") / "tiny"
    generate(root, TINY)
    return root
