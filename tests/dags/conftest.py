"""One Airflow home for the whole test session, set up before Airflow is first imported.

Airflow reads its configuration once per process, at import: the environment must point
at the session's home before any test imports it. Tests here import Airflow lazily.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from packs.disputes.mockworld.gateway import ProvinceGateway
from silobridge.airflow_local import airflow_env
from silobridge.settings import Settings

HOME = Path(tempfile.mkdtemp(prefix="silobridge-airflow-tests-"))
# test modules import Airflow (through silobridge.airflow_support) while being collected
os.environ.update(airflow_env(Settings(home=HOME)))


@pytest.fixture(scope="session")
def airflow_home(small_world: Path) -> Iterator[tuple[Settings, str]]:
    """(settings, gateway URL): a home with the small world, Airflow prepared, gateway up."""
    from silobridge.airflow_local import prepare

    shutil.copytree(small_world, HOME / "world", dirs_exist_ok=True)
    with ProvinceGateway(HOME / "world", port=0, fail_rate=0.0) as gateway:
        mp = pytest.MonkeyPatch()
        mp.setenv("SILOBRIDGE_HOME", str(HOME))
        mp.setenv("SILOBRIDGE_PROVINCE__BASE_URL", gateway.url)
        settings = Settings()
        prepare(settings)
        yield settings, gateway.url
        mp.undo()
    shutil.rmtree(HOME, ignore_errors=True)


# Reading /proc directly: the stack tests check for orphans without trusting the code
# under test to find them.
def _alive(pid: int) -> bool:
    """Running (not a zombie) according to /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _in_groups(groups: set[int]) -> list[int]:
    """Live processes whose process group or session is one of `groups`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp, session = fields[0], int(fields[2]), int(fields[3])
        if state != "Z" and (pgrp in groups or session in groups):
            found.append(int(entry.name))
    return found


@pytest.fixture
def procs() -> SimpleNamespace:
    """`procs.alive(pid)` and `procs.in_groups(groups)`, read from /proc."""
    return SimpleNamespace(alive=_alive, in_groups=_in_groups)
