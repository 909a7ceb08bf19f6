"""Watermark cursors with a lookback window, for sources filtered by an updated-at time.

Each extraction asks for records updated at or after (watermark − lookback), so rows
committed late with an earlier timestamp are still caught; the cursor remembers the
(key → raw hash) of every record it handed over inside that window, so a record seen
before is dropped unless it changed. That keeps "nothing lost" and "nothing twice" both.

Only readable times move the watermark: a row whose updated-at is missing or not a time
is an error record for the connector, remembered (`remember`) so that a re-read does not
repeat it, but never the start of the next query. A stored cursor whose `high` is not a
time (written before this rule) is read as no cursor: a full extraction, whose rows the
warehouse counts as duplicates, rather than a crash or a guess.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: a time, or a date alone (a column of days, e.g. a filing date: the day's start)
_TIME_SHAPE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2})|$)", re.ASCII)


def parse_time(text: str) -> datetime:
    if len(text) == len("2026-09-01"):
        return datetime.strptime(text, "%Y-%m-%d")
    return datetime.strptime(text[:19], TIME_FORMAT)


def is_time(text: str | None) -> bool:
    """True for text that starts with a time like 2026-09-01 08:00:00 (a real one: not
    30 February), or is a date alone (2026-09-01). Called for every row, so without
    strptime (some 30 times slower)."""
    match = _TIME_SHAPE.match(text) if text else None
    if match is None:
        return False
    try:
        datetime(*(int(g or 0) for g in match.groups()))
    except ValueError:
        return False
    return True


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
        high = cursor.get("high")
        if high is not None and not is_time(high):
            log.warning("cursor high %r is not a time: extracting everything again", high)
            return cls(lookback)
        seen = {str(k): (str(v[0]), str(v[1] or "")) for k, v in cursor.get("seen", {}).items()}
        return cls(lookback, high, seen)

    def since(self) -> str | None:
        """Where the next query starts: the watermark minus the lookback."""
        if self.high is None:
            return None
        try:
            start = parse_time(self.high) - self.lookback
        except OverflowError:  # a watermark in the year 1
            return "0001-01-01 00:00:00"
        return start.isoformat(" ", "seconds")  # strftime does not pad years before 1000

    def admit(self, key: str, raw_hash: str, updated: str | None) -> bool:
        """True if the record is new or changed since it was last handed over."""
        before = self.seen.get(key)
        return before is None or before[0] != raw_hash

    def record(self, key: str, raw_hash: str, updated: str | None) -> None:
        """Note a record as handed over (call once its batch is built). Only a readable
        time moves the watermark."""
        if not updated or not _TIME_SHAPE.match(updated):
            return
        self.seen[key] = (raw_hash, updated)
        # parsed only when it would become the watermark: since() must be able to read it
        if (self.high is None or updated > self.high) and is_time(updated):
            if self.high is None:
                self._date_the_undated(updated)
            self.high = updated

    def remember(self, key: str, raw_hash: str, updated: str | None) -> None:
        """Note an error record as handed over, without moving the watermark. `updated`
        (any text) decides how long it is remembered, as for records; without one, the
        watermark at this point stands in for it (None: the first one to come)."""
        self.seen[key] = (raw_hash, updated or self.high or "")

    def _date_the_undated(self, first: str) -> None:
        # read before the first record, so the source ordered them before it
        for key, (raw_hash, updated) in self.seen.items():
            if not updated:
                self.seen[key] = (raw_hash, first)

    def to_cursor(self) -> dict[str, Any]:
        """The JSON-ready cursor, keeping only what the next lookback window can need."""
        floor = self.since()
        seen = {k: list(v) for k, v in self.seen.items() if floor is None or v[1] >= floor}
        return {"high": self.high, "seen": seen}
