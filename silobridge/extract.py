"""The extract step: pull one source incrementally and land its raw batches.

Batches are landed in groups (up to LAND_ROWS rows or LAND_BATCHES batches), each group
in one short transaction together with the source's new cursor (see warehouse.landing):
the warehouse file is held only while a group lands, and a crash loses nothing that
was landed and repeats nothing that was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import pyarrow as pa

from connectors.base import Connector, RawBatch
from connectors.kinds import KINDS
from warehouse.db import session
from warehouse.landing import land, load_cursor
from warehouse.runs import tracked_run

from . import progress
from .settings import SOURCES, Settings, SourceName

log = logging.getLogger(__name__)

LAND_ROWS = 50_000
#: a township file is a batch of a dozen rows, so this bound decides how often township
#: lands. Measured at 100k records: 500 cost ~0.9 s more CPU than 1000, and 5000 saved
#: nothing more but held ~160 MB more (each Arrow table carries ~60 KB of overhead)
LAND_BATCHES = 1_000


@dataclass
class ExtractResult:
    source: str
    run_id: str
    batches: int = 0
    rows: int = 0
    parse_errors: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"rows_per_s": round(self.rows_per_s, 1)}


def build_connector(settings: Settings, source: SourceName) -> Connector:
    """The connector of the source's declared kind, on the source's settings."""
    return KINDS[SOURCES[source].connector].build(settings.source_config(source), source)


def extract_source(settings: Settings, source: SourceName, cursor_key: str | None = None,
                   start_cursor: dict | None = None,
                   row_filter: Callable[[pa.Table], pa.Table] | None = None) -> ExtractResult:
    """Extract what is new in `source` since its stored cursor and land it raw.

    `cursor_key` keeps a separate cursor (one-off ingestion of another path, backfills),
    starting from `start_cursor` when nothing is stored under it yet; `row_filter` drops
    records a backfill should not take before they are landed.
    """
    with tracked_run(settings.warehouse_path, "extract", source, timed=True,
                     describe=lambda e: f"{type(e).__name__}: {e}") as run:
        result = run.summary = ExtractResult(source=source, run_id=run.run_id)
        with session(settings.warehouse_path) as con:
            cursor = load_cursor(con, cursor_key or source) or start_cursor
        connector = build_connector(settings, source)
        group: list[RawBatch] = []
        group_rows = 0

        def flush() -> None:
            nonlocal group_rows
            with session(settings.warehouse_path) as con:
                land(con, group, run.run_id, cursor_key)
            log.info("%s: landed %s batches, %s rows (%s rows so far, %.1f s)", source,
                     f"{len(group):,}", f"{group_rows:,}", f"{result.rows:,}", run.seconds)
            group.clear()
            group_rows = 0

        with progress.step(f"extract {source}") as shown:
            for received in connector.extract(cursor):
                batch = received if row_filter is None else replace(
                    received, records=row_filter(received.records))
                if group:
                    # cursors are cumulative and only a group's last one is landed: drop the
                    # one before, so a group does not hold thousands of copies of a file list
                    group[-1] = replace(group[-1], cursor={})
                group.append(batch)
                group_rows += batch.num_rows
                result.batches += 1
                result.rows += batch.num_rows
                result.parse_errors += (batch.num_rows
                                        - batch.records.column("_parse_error").null_count)
                result.notes.extend(f"{batch.origin}: {n}" for n in batch.notes)
                if len(group) >= LAND_BATCHES or group_rows >= LAND_ROWS:
                    flush()
                shown.update(f"{result.rows:,} rows in {result.batches:,} batches")
        if group:
            flush()
    return result
