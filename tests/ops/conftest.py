"""What the stack's tests share: the processes alive, read from /proc."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest


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
