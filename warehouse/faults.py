"""Fault points: named places where the tests kill, stop or fail the pipeline.

A fault point costs one environment lookup and does nothing unless SILOBRIDGE_FAULT_AT
names it; production never sets it. The tests set SILOBRIDGE_FAULT_AT=<point> (or
<point>#<n>: the n-th time the process reaches it) and SILOBRIDGE_FAULT_ACTION to one of:

- `kill`: the process SIGKILLs itself there (a power cut, the OOM killer);
- `hold:<file>`: it writes <file> and waits there until the test deletes the file
  (then it goes on) or kills the process, so a kill lands exactly at the point, however
  fast the machine;
- `enospc`: an OSError "No space left on device" is raised there;
- `raise` (the default): an InjectedFault is raised there.

Points are named by the code that calls `fault_point`: `<transaction>:commit` inside
every warehouse transaction just before its COMMIT (warehouse.db.transaction), and the
steps of publishing a snapshot (warehouse.snapshot.PUBLISH_POINTS).
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

ENV_POINT = "SILOBRIDGE_FAULT_AT"
ENV_ACTION = "SILOBRIDGE_FAULT_ACTION"
_reached: dict[str, int] = {}


class InjectedFault(Exception):
    """Raised at a fault point by a test's request."""


def fault_point(name: str) -> None:
    """Act here if the tests asked for a fault at `name` (see the module's docstring)."""
    wanted = os.environ.get(ENV_POINT)
    if wanted is None or wanted.partition("#")[0] != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] != int(wanted.partition("#")[2] or 1):
        return
    action = os.environ.get(ENV_ACTION, "raise")
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action.startswith("hold:"):
        marker = Path(action.removeprefix("hold:"))
        marker.write_text(str(os.getpid()), encoding="utf-8")
        while marker.exists():  # until the test deletes it, or kills the process
            time.sleep(0.01)
        return
    if action == "enospc":
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected at {name})")
    raise InjectedFault(f"fault injected at {name}")
