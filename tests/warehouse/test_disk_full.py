"""A merge that runs out of disk space, on a real small filesystem (tmpfs): the user is
told "No space left on device" in one line, ops.runs stores that, the warehouse is as
it was, and after space is freed the merge gives what it would have given."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from silobridge.run import merge_step
from silobridge.settings import Settings

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
Checksums = Callable[..., dict[str, str]]
#: room left on the small disk: enough to open the warehouse and note a run, not to merge
ROOM = 256 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """A file that takes all of the disk's free space but `leave` bytes."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free - leave
    with filler.open("wb") as out:
        while free > 0:
            free -= out.write(b"\0" * min(free, 1 << 20))
    return filler


def _runs(home: Path) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("SELECT kind, status, error FROM ops.runs WHERE kind = 'merge' "
                           "ORDER BY started_at").fetchall()
    finally:
        con.close()


def test_a_full_disk_is_named_and_the_rerun_converges(tiny_world: Path, tmp_path: Path,
                                                     ingest_all: Callable[[Path], None],
                                                     small_disk: Path,
                                                     checksums: Checksums) -> None:
    ingested = tmp_path / "ingested"
    shutil.copytree(tiny_world, ingested / "world")
    ingest_all(ingested)
    home = small_disk / "home"
    home.mkdir()
    shutil.copy(ingested / "warehouse.duckdb", home / "warehouse.duckdb")
    before = checksums(home)
    assert before["cases"] == "empty"
    filler = _fill(small_disk, ROOM)

    env = {**os.environ, "SILOBRIDGE_HOME": str(home)}
    full = subprocess.run([SILOBRIDGE, "merge", "--json"], env=env, capture_output=True,
                          text=True, check=False)
    assert full.returncode == 4, full.stderr
    assert "Traceback" not in full.stderr
    (line,) = full.stderr.splitlines()
    assert "No space left on device" in line and "cannot rollback" not in line
    error = json.loads(full.stdout)["error"]
    assert error["kind"] == "disk_full" and "No space left on device" in error["message"]
    ((_, status, stored),) = _runs(home)
    assert status == "failed" and "No space left on device" in stored
    assert checksums(home) == before

    filler.unlink()  # space freed: the next merge does the whole job
    again = subprocess.run([SILOBRIDGE, "merge"], env=env, capture_output=True, text=True,
                           check=False)
    assert again.returncode == 0, again.stderr
    assert [status for _, status, _ in _runs(home)] == ["failed", "ok"]
    merge_step(Settings(home=ingested))  # the merge that never ran out of space
    assert checksums(home, with_runs=False) == checksums(ingested, with_runs=False)
