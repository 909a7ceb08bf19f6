"""Watermark cursors with a lookback window, for sources filtered by an updated-at time.

Each extraction asks for records updated at or after (watermark − lookback), so rows
committed late with an earlier timestamp are still caught; the cursor remembers the
(key → raw hash) of every record it handed over inside that window, so a record seen
before is dropped unless it changed. That keeps "nothing lost" and "nothing twice" both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_time(text: str) -> datetime:
    return datetime.strptime(text[:19], TIME_FORMAT)


@dataclass
class Watermark:
    """The cursor of a time-filtered source. Times are the source's own local-time text."""

    lookback: timedelta
    #: newest updated-at handed over so far (None: nothing yet)
    high: str | None = None
    #: key → (raw hash, updated-at) of records handed over inside the lookback window
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: Mapping[str, Any] | None, lookback: timedelta) -> Watermark:
        if not cursor:
            return cls(lookback)
        seen = {k: (v[0], v[1]) for k, v in cursor.get("seen", {}).items()}
        return cls(lookback, cursor.get("high"), seen)

    def since(self) -> str | None:
        """Where the next query starts: the watermark minus the lookback."""
        if self.high is None:
            return None
        return (parse_time(self.high) - self.lookback).strftime(TIME_FORMAT)

    def admit(self, key: str, raw_hash: str, updated: str | None) -> bool:
        """True if the record is new or changed since it was last handed over."""
        before = self.seen.get(key)
        return before is None or before[0] != raw_hash

    def record(self, key: str, raw_hash: str, updated: str | None) -> None:
        """Note a record as handed over (call once its batch is built)."""
        if updated is None:
            return
        self.seen[key] = (raw_hash, updated)
        if self.high is None or updated > self.high:
            self.high = updated

    def to_cursor(self) -> dict[str, Any]:
        """The JSON-ready cursor, keeping only what the next lookback window can need."""
        floor = self.since()
        seen = {k: list(v) for k, v in self.seen.items() if floor is None or v[1] >= floor}
        return {"high": self.high, "seen": seen}
