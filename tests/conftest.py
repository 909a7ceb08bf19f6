"""Shared fixtures: real mock worlds generated under pytest's tmp folders."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import generate
from silobridge.ingest import ingest_source
from silobridge.settings import SOURCE_NAMES, Settings

#: small enough to generate in about a second, big enough to hold every defect kind
SMALL = WorldSpec(seed=11, cases=900, days=20, defect_rate=0.05)


def _world(tmp_path_factory: pytest.TempPathFactory, name: str, spec: WorldSpec) -> Path:
    root = tmp_path_factory.mktemp("worlds") / name
    generate(root, spec)
    return root


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated world shared read-only by tests (copy it before changing it)."""
    return _world(tmp_path_factory, "small", SMALL)


#: a whole `silobridge run` over it takes seconds: for tests that run the pipeline often
TINY = WorldSpec(seed=5, cases=200, days=6, defect_rate=0.05)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated world shared read-only by tests (copy it before changing it)."""
    return _world(tmp_path_factory, "tiny", TINY)


#: the world that the province gateway's tests and the signed API connector's serve
GATEWAY = WorldSpec(cases=400, days=15)


@pytest.fixture(scope="session")
def gateway_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated world shared read-only by tests (copy it before changing it)."""
    return _world(tmp_path_factory, "gateway", GATEWAY)


@pytest.fixture
def own_world(world: Path, tmp_path: Path) -> Path:
    """A copy of the test module's `world`, for a test that changes it."""
    return Path(shutil.copytree(world, tmp_path / "world"))


@pytest.fixture
def gateway(world: Path) -> Iterator[ProvinceGateway]:
    """The test module's `world` served on 127.0.0.1, failing only where a test says."""
    with ProvinceGateway(world, port=0, fail_rate=0.0) as gw:
        yield gw


def _ingest_all(home: Path) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = Settings(home=home, province={"base_url": gateway.url})
        for source in SOURCE_NAMES:
            ingest_source(settings, source)


@pytest.fixture(scope="session")
def ingest_all() -> Callable[[Path], None]:
    """Ingest every source of `home/world` into `home`, the province served by a real
    gateway on 127.0.0.1 that never fails."""
    return _ingest_all


class Terminal:
    """Runs a command with a pseudo-terminal as its stdin, stdout and stderr (a person's
    terminal, 200 columns wide), and returns its exit code and everything it wrote."""

    CONTROLS = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")

    @classmethod
    def plain(cls, text: str) -> str:
        """Output without its control sequences and carriage returns."""
        return cls.CONTROLS.sub("", text)

    def __call__(self, argv: list[str], env: dict[str, str],
                 timeout: float = 600) -> tuple[int, str]:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                close_fds=True, start_new_session=True)
        os.close(slave)
        out = bytearray()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 1.0)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the command closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            else:
                proc.kill()
                raise AssertionError(f"{argv} still running after {timeout} s")
            return proc.wait(timeout=60), out.decode("utf-8", "replace")
        finally:
            os.close(master)


@pytest.fixture(scope="session")
def terminal() -> Terminal:
    return Terminal()


