"""An incremental connector for a relational database reached through a SQLAlchemy URL.

The main table, its key and updated-at columns, and its child tables are settings (the
pack gives them), and every query is built with SQLAlchemy Core, so any dialect
SQLAlchemy speaks will do. Connecting and telling failures apart live in `sql_engine`,
the queries in `sql_reading`.

How it reads
- Main rows with `updated_column >= watermark.since()` (all rows on the first run), in
  (updated_column, key_column) order, one keyset page of `batch_size` rows per query:
  memory stays bounded by `batch_size`, and no read transaction stays open while the
  caller lands a batch. That matters for SQLite, where an open read blocks every writer
  of the source system for as long as it lasts.
- For each page, the rows of every child table whose foreign key is one of the page's
  keys (chunked IN lists), nested as a column named after the child's settings key that
  holds a compact JSON array of the child rows in primary-key order.
- Every main column arrives as raw text (`lineage.to_text`), lineage columns are added
  by `lineage.build_table` (`_origin` = the main table, `_row` = the key, or with
  text keys the row's place in its page).
- The `Watermark` drops records handed over before and unchanged (same key, same raw
  hash), so the lookback window catches late commits without repeating rows.

Rows that cannot take part in the keyset order are error records (connectors.rejects),
never a crash: a NULL key (missing_key), a NULL updated column (missing_key), an updated
value that is not a time (impossible_date), text that is not UTF-8 in a SQLite column
(bad_encoding; the column is named, the value is not). The keyset never compares with
NULL: a full extraction reads in passes, rows with a NULL updated column (by key), then
rows with a NULL key (by updated column and offset: they have nothing stabler), then the
rest by (updated, key); an incremental run reads the last two. Child rows whose
foreign key names no main row are never read; a key and a foreign key of different
types (1 and 1.0) still match, as they do in the database.

Limits, by design
- A row written with an updated-at older than (watermark - lookback) is never seen by an
  incremental run (see the test `test_update_older_than_lookback_is_missed`).
- Rows whose updated column is NULL (or, in SQLite, a number, which sorts before any
  text) are read by a full extraction only.
- Rows without a key are read by offset: a writer adding or removing such rows during a
  read may make one be read twice (the second copy is dropped by its hash) or skipped
  until the next run.
- Deleted rows are not noticed.

Errors: a missing URL, main table setting or database file is a `SourceNotFoundError`;
a missing table or column a `SourceProtocolError`; a locked database or a failed
connection is retried with exponential backoff and becomes a `TransientSourceError` when
the attempts run out. A retry resumes after the last page read, so it repeats no rows.
No message carries row contents (they may hold personal data such as ID and phone
numbers): keys, tables and columns only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from schemas.reasons import Reason

from .base import LINEAGE_COLUMNS, Cursor, RawBatch
from .errors import SourceNotFoundError
from .incremental import Watermark, is_time
from .lineage import build_table, to_text, to_texts
from .rejects import reject
from .sql_engine import DRIVERS, Undecodable, create_engine, is_transient, reason, translate
from .sql_reading import Page, Position, Schema, join_key, read_page, reflect, time_value

__all__ = ["DRIVERS", "ChildTable", "SqlConnector", "SqlSourceConfig"]

log = logging.getLogger(__name__)

#: how much of a rejected row's text its error record keeps
_RAW_TEXT_LIMIT = 64 * 1024
#: the passes of a full extraction and of an incremental one (see the module docstring)
_FULL_PASSES = ("untimed", "keyless", "timed")
_INCREMENTAL_PASSES = ("keyless", "timed")
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 8.0


class ChildTable(BaseModel):
    """A table whose rows belong to a main row through a foreign key."""

    model_config = ConfigDict(extra="forbid")

    table: str
    foreign_key: str


class SqlSourceConfig(BaseModel):
    """Where the database is and which table, columns and child tables to read."""

    model_config = ConfigDict(extra="forbid")

    #: SQLAlchemy URL, e.g. sqlite:////srv/source.sqlite (None: not set up)
    url: str | None = None
    #: the main table: one record per row (None: not set up)
    table: str | None = None
    key_column: str = "id"
    updated_column: str = "updated_at"
    #: output column name → child table; each becomes a JSON array column
    children: dict[str, ChildTable] = Field(default_factory=dict)
    batch_size: Annotated[int, Field(gt=0)] = 5000
    lookback: timedelta = timedelta(days=1)
    max_attempts: Annotated[int, Field(ge=1)] = 4

    @field_validator("children")
    @classmethod
    def _no_lineage_names(cls, value: dict[str, ChildTable]) -> dict[str, ChildTable]:
        clash = sorted(set(value) & set(LINEAGE_COLUMNS))
        if clash:
            raise ValueError(f"child column names {clash} are reserved for lineage")
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback_not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("lookback must not be negative")
        return value


class SqlConnector:
    """Reads new and changed rows of one table (with its child tables) incrementally."""

    def __init__(self, config: SqlSourceConfig, *, source: str,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`sleep` waits between attempts (tests pass one that takes no time)."""
        self.config = config
        self.source = source
        self._sleep = sleep

    # -- the contract -------------------------------------------------------------------
    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        """Yield the rows new or changed since `cursor` (None: every row), a page a batch."""
        cfg = self.config
        watermark = Watermark.from_cursor(cursor, cfg.lookback)
        since = watermark.since()
        engine = create_engine(self.source, cfg.url)
        if cfg.table is None:
            engine.dispose()
            raise SourceNotFoundError(self.source, f"no main table: set `table` in the "
                                      f"{self.source} source settings (SqlSourceConfig.table)")
        position = Position(_FULL_PASSES if since is None else _INCREMENTAL_PASSES)
        retrying = Retrying(
            stop=stop_after_attempt(cfg.max_attempts),
            wait=wait_exponential(multiplier=_BACKOFF_FIRST, max=_BACKOFF_MAX),
            retry=retry_if_exception(is_transient),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    yield from self._pages(engine, watermark, since, position)
        except (sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError) as exc:
            raise translate(self.source, cfg.table, exc, cfg.max_attempts) from exc
        finally:
            engine.dispose()

    # -- reading ------------------------------------------------------------------------
    def _pages(self, engine: Engine, watermark: Watermark, since: str | None,
               position: Position) -> Iterator[RawBatch]:
        cfg = self.config
        with engine.connect() as conn:
            schema = reflect(conn, cfg, self.source)
            since_value = None if since is None else time_value(
                since, schema.updated_type, conn.dialect.name)
            while position.kind is not None:
                page = read_page(conn, cfg, schema, since_value, position)
                # end the read transaction before handing over: the caller may take its
                # time landing the batch, and an open read blocks SQLite's writers
                conn.rollback()
                if not page.rows:
                    position.next_pass()
                    continue
                last = page.rows[-1]
                batch = self._batch(schema, page, watermark)
                position.updated = last[schema.columns.index(cfg.updated_column)]
                position.key = last[schema.columns.index(cfg.key_column)]
                position.started = True
                position.offset += len(page.rows)
                if batch is not None:
                    yield batch
    def _batch(self, schema: Schema, page: Page, watermark: Watermark) -> RawBatch | None:
        cfg = self.config
        child_names = tuple(c.name for c in schema.children)
        columns = schema.columns + child_names
        values: dict[str, list[str | None]] = {c: [] for c in columns}
        if page.rows:  # column by column, so that text values need no call each
            for name, column in zip(schema.columns, zip(*page.rows, strict=True), strict=True):
                values[name] = to_texts(column)
        key_at = schema.columns.index(cfg.key_column)
        raw_keys = [row[key_at] for row in page.rows]
        for name in child_names:
            grouped = page.children[name]
            values[name] = [to_text(grouped.get(join_key(k), [])) for k in raw_keys]
        keys, updated = values[cfg.key_column], values[cfg.updated_column]
        errors = [self._row_error(schema, page, row, k, u)
                  for row, k, u in zip(page.rows, keys, updated, strict=True)]
        raws = None
        if any(errors):
            raws = [None if e is None else _raw_text(columns, values, i)
                    for i, e in enumerate(errors)]
            for c in columns:  # an error record's text is in _raw_text, its columns null
                values[c] = [None if e else v for v, e in zip(values[c], errors, strict=True)]
        numbers = [_row_number(k) for k in raw_keys]
        if any(n is None and k is not None for n, k in zip(numbers, raw_keys, strict=True)):
            # keys that are no whole numbers (text): the page's rows by their place
            numbers = list(range(1, len(raw_keys) + 1))
        table = build_table(self.source, cfg.table, columns, values, numbers,
                            errors if raws else None, raws)
        hashes = table.column("_raw_hash").to_pylist()
        # rows without a key are known by their text
        ids = [f"!{h}" if k is None else k for k, h in zip(keys, hashes, strict=True)]
        keep = [watermark.admit(k, h, u) for k, h, u in zip(ids, hashes, updated, strict=True)]
        if not any(keep):
            return None
        for k, h, u, e, kept in zip(ids, hashes, updated, errors, keep, strict=True):
            if kept:
                (watermark.record if e is None else watermark.remember)(k, h, u)
        _prune(watermark)
        if not all(keep):
            table = table.filter(keep)
        return RawBatch(source=self.source, origin=cfg.table, records=table, columns=columns,
                        cursor=watermark.to_cursor())

    def _row_error(self, schema: Schema, page: Page, row: Sequence[Any], key: str | None,
                   updated: str | None) -> str | None:
        """Why a main row cannot be a record (None: it can)."""
        cfg = self.config
        if key is None:
            return reject(Reason.MISSING_KEY, f"key column {cfg.key_column} is NULL")
        bad = next((f"column {name}" for name, v in zip(schema.columns, row, strict=True)
                    if type(v) is Undecodable), None) or page.undecodable.get(join_key(
                        row[schema.columns.index(cfg.key_column)]))
        if bad is not None:
            return reject(Reason.BAD_ENCODING, f"{bad} holds bytes that are not UTF-8")
        if updated is None:
            return reject(Reason.MISSING_KEY, f"updated column {cfg.updated_column} is NULL: "
                          "the row has no place in the incremental order")
        if not is_time(updated):
            return reject(Reason.IMPOSSIBLE_DATE, f"updated column {cfg.updated_column} is not "
                          "a time like 2026-09-01 08:00:00")
        return None

    # -- failures -----------------------------------------------------------------------
    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s %s: %s; attempt %d of %d failed, retrying in %.2f s", self.source,
                    self.config.table, reason(error), state.attempt_number,
                    self.config.max_attempts, wait)


def _row_number(key: Any) -> int | None:
    """The key as `_row`, when it is a whole number Arrow's int64 can hold."""
    if isinstance(key, bool) or key is None:
        return None
    if not isinstance(key, int):
        try:
            key = int(str(key))
        except ValueError:
            return None
    return key if -(2**63) <= key < 2**63 else None


def _raw_text(columns: Sequence[str], values: dict[str, list[str | None]], i: int) -> str:
    row = {c: values[c][i] for c in columns if values[c][i] is not None}
    return json.dumps(row, ensure_ascii=False)[:_RAW_TEXT_LIMIT]


def _prune(watermark: Watermark) -> None:
    """Forget keys the rest of this run can no longer meet again unchanged.

    Pages go forward in updated-at order, so a key last seen before the lookback floor
    lies behind the page being read. Keeping `seen` to the window keeps `to_cursor`
    cheap on a first, full extraction of a big table.
    """
    floor = watermark.since()
    if floor is not None:
        watermark.seen = {k: v for k, v in watermark.seen.items() if v[1] >= floor}
