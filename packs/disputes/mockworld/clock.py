"""Local time in Zhejiang: Asia/Shanghai has been UTC+8 without DST since 1991."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def epoch_ms(local: datetime) -> int:
    return int(local.replace(tzinfo=SHANGHAI).timestamp() * 1000)


def fmt(t: datetime | None) -> str:
    """'YYYY-MM-DD HH:MM:SS' (isoformat is several times faster than strftime)."""
    return "" if t is None else t.isoformat(" ", "seconds")


class ManualClock:
    """Epoch seconds that move only when told to: a controlled clock for tests.

    Call it for the time; `sleep` advances it instead of waiting, so code given
    `sleep=clock.sleep` (the province connector's retry waits) moves the clock that
    others read (the gateway's quota window), and nothing depends on the machine's speed.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += max(0.0, seconds)
