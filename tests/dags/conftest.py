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

import pytest

from ops.airflow_home import airflow_env
from packs.charging.mockworld.operators import PROFILES
from packs.charging.mockworld.server import OperatorServer
from packs.charging.mockworld.spec import WorldSpec
from packs.charging.mockworld.world import generate as generate_charging
from packs.disputes.mockworld.gateway import ProvinceGateway
from silobridge.settings import Settings

HOME = Path(tempfile.mkdtemp(prefix="silobridge-airflow-tests-"))
# test modules import Airflow (through silobridge.airflow_support) while being collected
os.environ.update(airflow_env(Settings(home=HOME)))


@pytest.fixture(scope="session")
def airflow_home(small_world: Path) -> Iterator[tuple[Settings, str]]:
    """(settings, gateway URL): a home with the small world (and a small charging world
    beside it, for the charging pack's DAGs), Airflow prepared, gateway up."""
    from ops.airflow_home import prepare

    shutil.copytree(small_world, HOME / "world", dirs_exist_ok=True)
    charging = HOME / "world" / "charging"
    generate_charging(charging, WorldSpec(seed=3, stations=10, days=1))
    # the charging operators' 互联互通 servers, each on a free port; statuses walked over
    # the world's first hour, orders over its day (the world holds nothing later)
    operators = {o.prefix: OperatorServer(charging, o.operator_id).start() for o in PROFILES}
    until = {"status": "2026-09-01 01:00:00", "orders": "2026-09-02 00:00:00"}
    with ProvinceGateway(HOME / "world", port=0, fail_rate=0.0) as gateway:
        mp = pytest.MonkeyPatch()
        mp.setenv("SILOBRIDGE_HOME", str(HOME))
        mp.setenv("SILOBRIDGE_PROVINCE__BASE_URL", gateway.url)
        for prefix, server in operators.items():
            for kind in ("stations", "status", "orders"):
                mp.setenv(f"SILOBRIDGE_{prefix}_{kind}__BASE_URL".upper(), server.url)
            for kind, last in until.items():
                mp.setenv(f"SILOBRIDGE_{prefix}_{kind}__WINDOW_UNTIL".upper(), last)
        settings = Settings()
        prepare(settings)
        yield settings, gateway.url
        mp.undo()
    for server in operators.values():
        server.stop()
    shutil.rmtree(HOME, ignore_errors=True)
