"""An incremental connector for a relational database reached through a SQLAlchemy URL.

Made for the county's case database (SQLite by default) but generic: the main table, its
key and updated-at columns, and its child tables are settings, and every query is built
with SQLAlchemy Core, so any dialect SQLAlchemy speaks will do.

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
  by `lineage.build_table` (`_origin` = the main table, `_row` = the key).
- The `Watermark` drops records handed over before and unchanged (same key, same raw
  hash), so the lookback window catches late commits without repeating rows.

Limits, by design
- A row written with an updated-at older than (watermark - lookback) is never seen by an
  incremental run (see the test `test_update_older_than_lookback_is_missed`).
- Rows whose updated column is NULL are read by a full extraction only.
- Deleted rows are not noticed.

Errors: a missing URL or database file is a `SourceNotFoundError`; a missing table or
column a `SourceProtocolError`; a locked database or a failed connection is retried with
exponential backoff and becomes a `TransientSourceError` when the attempts run out. A
retry resumes after the last page read, so it repeats no rows. No message carries row
contents (parties' ID and phone numbers): keys, tables and columns only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from .base import LINEAGE_COLUMNS, Cursor, RawBatch
from .errors import (
    SourceNotFoundError,
    SourceProtocolError,
    TerminalSourceError,
    TransientSourceError,
)
from .incremental import Watermark, parse_time
from .lineage import build_table, to_text, to_texts

log = logging.getLogger(__name__)

#: keys per IN list: well under SQLite's oldest bound-parameter limit (999)
_IN_CHUNK = 500
#: SQLite's own busy wait; kept short so that waiting on a lock follows the retry policy
#: below (logged, bounded by max_attempts) instead of hiding inside the driver
_SQLITE_BUSY_TIMEOUT = 0.25
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 8.0
#: driver messages of failures that may pass: locks and lost or refused connections
_TRANSIENT_MARKERS = (
    "database is locked", "database table is locked", "busy",
    "could not connect", "connection refused", "connection reset", "connection timed out",
    "server closed the connection", "lost connection", "server has gone away",
    "too many connections", "timeout expired", "terminating connection",
)


class ChildTable(BaseModel):
    """A table whose rows belong to a main row through a foreign key."""

    model_config = ConfigDict(extra="forbid")

    table: str
    foreign_key: str


def _county_children() -> dict[str, ChildTable]:
    return {
        "parties": ChildTable(table="t_dispute_party", foreign_key="case_id"),
        "flows": ChildTable(table="t_case_flow_log", foreign_key="case_id"),
    }


class SqlSourceConfig(BaseModel):
    """Where the database is and which table, columns and child tables to read."""

    model_config = ConfigDict(extra="forbid")

    #: SQLAlchemy URL, e.g. sqlite:///var/world/county/county.sqlite (None: not set up)
    url: str | None = None
    table: str = "t_dispute_case"
    key_column: str = "id"
    updated_column: str = "updated_at"
    #: output column name → child table; each becomes a JSON array column
    children: dict[str, ChildTable] = Field(default_factory=_county_children)
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


@dataclass(frozen=True)
class _Child:
    name: str
    table: sa.TableClause
    foreign_key: str
    order_by: tuple[str, ...]


@dataclass(frozen=True)
class _Schema:
    """The reflected shape of the main and child tables, as lightweight Core clauses.

    Queries use untyped `table()`/`column()` clauses so that values come back exactly
    as the driver hands them (no Decimal or datetime conversion by SQLAlchemy).
    """

    main: sa.TableClause
    columns: tuple[str, ...]
    updated_type: sa.types.TypeEngine[Any]
    children: tuple[_Child, ...]


@dataclass
class _Position:
    """The last main row read, so a retry resumes after it.

    `nulls` is True while the rows with a NULL updated column are being read (full
    extractions read those first, in key order).
    """

    nulls: bool
    updated: Any = None
    key: Any = None
    started: bool = False


@dataclass
class _Page:
    rows: list[Sequence[Any]] = field(default_factory=list)
    children: dict[str, dict[str | None, list[dict[str, Any]]]] = field(default_factory=dict)


class SqlConnector:
    """Reads new and changed rows of one table (with its child tables) incrementally."""

    def __init__(self, config: SqlSourceConfig, *, source: str = "county") -> None:
        self.config = config
        self.source = source

    # -- the contract -------------------------------------------------------------------
    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        """Yield the rows new or changed since `cursor` (None: every row), a page a batch."""
        cfg = self.config
        watermark = Watermark.from_cursor(cursor, cfg.lookback)
        since = watermark.since()
        engine = self._engine()
        position = _Position(nulls=since is None)
        retrying = Retrying(
            stop=stop_after_attempt(cfg.max_attempts),
            wait=wait_exponential(multiplier=_BACKOFF_FIRST, max=_BACKOFF_MAX),
            retry=retry_if_exception(_is_transient),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    yield from self._pages(engine, watermark, since, position)
        except (sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError) as exc:
            raise self._translate(exc) from exc
        finally:
            engine.dispose()

    # -- connecting ---------------------------------------------------------------------
    def _engine(self) -> Engine:
        cfg = self.config
        if cfg.url is None:
            raise SourceNotFoundError(
                self.source,
                f"no database URL: set `url` in the {self.source} source settings "
                "(SqlSourceConfig.url), e.g. sqlite:////path/to/county/county.sqlite",
            )
        try:
            url = make_url(cfg.url)
        except sa_exc.ArgumentError as exc:
            raise TerminalSourceError(self.source, "the database URL setting is not a valid "
                                      "SQLAlchemy URL") from exc
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            url = self._sqlite_read_only(url)
            if "timeout" not in url.query:
                connect_args["timeout"] = _SQLITE_BUSY_TIMEOUT
        try:
            # NullPool: every attempt gets a fresh connection, none outlives extract()
            return sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
            shown = url.render_as_string(hide_password=True)
            raise TerminalSourceError(self.source, f"cannot use database URL {shown}: "
                                      f"{type(exc).__name__}") from exc

    def _sqlite_read_only(self, url: URL) -> URL:
        """The URL opening the same SQLite file read-only, after checking it exists.

        Opened read-write, SQLite would create an empty database for a mistyped path and
        the run would "succeed" with no rows; read-only it also cannot harm the source.
        """
        query = dict(url.query)
        database = url.database or ""
        uri = str(query.get("uri", "")).lower() in ("true", "1", "yes", "on")
        if uri and database.startswith("file:"):
            path_part = database[len("file:"):]
            if path_part.startswith("//"):  # file://host/path: the host is always empty
                path_part = "/" + path_part[2:].partition("/")[2]
            path_text = unquote(path_part)
        else:
            path_text = database
        if path_text in ("", ":memory:") or query.get("mode") == "memory":
            return url
        path = Path(path_text).expanduser().resolve()
        if not path.is_file():
            raise SourceNotFoundError(self.source, f"database file {path} does not exist "
                                      "(check `url` in the source settings)")
        query.update({"mode": "ro", "uri": "true"})
        return url.set(database="file:" + quote(str(path), safe="/"), query=query)

    # -- reading ------------------------------------------------------------------------
    def _pages(self, engine: Engine, watermark: Watermark, since: str | None,
               position: _Position) -> Iterator[RawBatch]:
        cfg = self.config
        with engine.connect() as conn:
            schema = self._reflect(conn)
            since_value = None if since is None else self._time_value(
                since, schema.updated_type, conn.dialect.name)
            while True:
                page = self._read_page(conn, schema, since_value, position)
                # end the read transaction before handing over: the caller may take its
                # time landing the batch, and an open read blocks SQLite's writers
                conn.rollback()
                if not page.rows:
                    if position.nulls:
                        position.nulls, position.started = False, False
                        continue
                    return
                last = page.rows[-1]
                batch = self._batch(schema, page, watermark)
                position.updated = last[schema.columns.index(cfg.updated_column)]
                position.key = last[schema.columns.index(cfg.key_column)]
                position.started = True
                if batch is not None:
                    yield batch

    def _reflect(self, conn: Connection) -> _Schema:
        cfg = self.config
        main = self._reflect_table(conn, cfg.table)
        for name in (cfg.key_column, cfg.updated_column):
            self._require_column(main, name)
        columns = tuple(c.name for c in main.columns)
        clash = sorted(set(cfg.children) & set(columns))
        if clash:
            raise TerminalSourceError(self.source, f"child column names {clash} clash with "
                                      f"columns of table {cfg.table}", origin=cfg.table)
        children = []
        for name, child in cfg.children.items():
            reflected = self._reflect_table(conn, child.table)
            self._require_column(reflected, child.foreign_key)
            child_columns = [c.name for c in reflected.columns]
            # without a primary key, all columns give a stable order (and so a stable hash)
            order = [c.name for c in reflected.primary_key.columns] or child_columns
            children.append(_Child(name, _light(child.table, child_columns),
                                   child.foreign_key, tuple(order)))
        return _Schema(_light(cfg.table, columns), columns,
                       main.c[cfg.updated_column].type, tuple(children))

    def _reflect_table(self, conn: Connection, name: str) -> sa.Table:
        try:
            # resolve_fks=False: the tables a foreign key points to are not needed here
            return sa.Table(name, sa.MetaData(), autoload_with=conn, resolve_fks=False)
        except sa_exc.NoSuchTableError as exc:
            raise SourceProtocolError(self.source, f"table {name} not found in the database",
                                      origin=name) from exc

    def _require_column(self, table: sa.Table, name: str) -> None:
        if name not in table.c:
            raise SourceProtocolError(self.source, f"column {name} not found in table "
                                      f"{table.name}", origin=table.name)

    def _time_value(self, text: str, coltype: sa.types.TypeEngine[Any], dialect: str) -> Any:
        """The lower time bound in the column's own kind of value.

        SQLite keeps times as text, so text compares; a real timestamp column wants a
        datetime, as a text parameter would not compare with it on every dialect.
        """
        if dialect == "sqlite":
            return text
        try:
            python_type = coltype.python_type
        except NotImplementedError:
            return text
        if issubclass(python_type, datetime):
            return parse_time(text)
        if issubclass(python_type, date):
            return parse_time(text).date()
        return text

    def _read_page(self, conn: Connection, schema: _Schema, since: Any,
                   position: _Position) -> _Page:
        cfg = self.config
        main = schema.main
        upd, key = main.c[cfg.updated_column], main.c[cfg.key_column]
        query = sa.select(*main.c).limit(cfg.batch_size)
        if position.nulls:
            query = query.where(upd.is_(None)).order_by(key)
            if position.started:
                query = query.where(key > position.key)
        else:
            query = query.where(upd.is_not(None) if since is None else upd >= since)
            query = query.order_by(upd, key)
            if position.started:
                # written so that an index on the updated column can serve the range
                query = query.where(upd >= position.updated,
                                    sa.or_(upd > position.updated, key > position.key))
        page = _Page(rows=list(conn.execute(query).all()))
        if page.rows:
            key_at = schema.columns.index(cfg.key_column)
            keys = [row[key_at] for row in page.rows]
            for child in schema.children:
                page.children[child.name] = self._read_children(conn, child, keys)
        return page

    def _read_children(self, conn: Connection, child: _Child,
                       keys: list[Any]) -> dict[str | None, list[dict[str, Any]]]:
        fk = child.table.c[child.foreign_key]
        names = [c.name for c in child.table.columns]
        grouped: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start:start + _IN_CHUNK]
            query = (sa.select(*child.table.c).where(fk.in_(chunk))
                     .order_by(*(child.table.c[c] for c in child.order_by)))
            # .all() fetches the chunk in one call; iterating the result fetches row by row
            for row in conn.execute(query).all():
                values = dict(zip(names, row, strict=True))
                if not _JSON_SCALARS.issuperset(map(type, row)):
                    values = {n: _json_value(v) for n, v in values.items()}
                # match on text: a foreign key may come back typed unlike the key it names
                grouped[to_text(values[child.foreign_key])].append(values)
        return grouped

    def _batch(self, schema: _Schema, page: _Page, watermark: Watermark) -> RawBatch | None:
        cfg = self.config
        child_names = tuple(c.name for c in schema.children)
        columns = schema.columns + child_names
        values: dict[str, list[str | None]] = {c: [] for c in columns}
        if page.rows:  # column by column, so that text values need no call each
            for name, column in zip(schema.columns, zip(*page.rows, strict=True), strict=True):
                values[name] = to_texts(column)
        keys = values[cfg.key_column]
        for name in child_names:
            grouped = page.children[name]
            values[name] = [to_text(grouped.get(k, [])) for k in keys]
        key_at = schema.columns.index(cfg.key_column)
        rows = [_row_number(row[key_at]) for row in page.rows]
        table = build_table(self.source, cfg.table, columns, values, rows)
        updated = values[cfg.updated_column]
        hashes = table.column("_raw_hash").to_pylist()
        keep = [watermark.admit(str(k), h, u)
                for k, h, u in zip(keys, hashes, updated, strict=True)]
        if not any(keep):
            return None
        for k, h, u, kept in zip(keys, hashes, updated, keep, strict=True):
            if kept:
                watermark.record(str(k), h, u)
        self._check_time(watermark, keys, updated)
        _prune(watermark)
        if not all(keep):
            table = table.filter(keep)
        return RawBatch(source=self.source, origin=cfg.table, records=table, columns=columns,
                        cursor=watermark.to_cursor())

    def _check_time(self, watermark: Watermark, keys: list[str | None],
                    updated: list[str | None]) -> None:
        """Fail clearly if the updated column holds something that is not a time."""
        if watermark.high is None:
            return
        try:
            parse_time(watermark.high)
        except ValueError as exc:
            key = next((k for k, u in zip(keys, updated, strict=True)
                        if u == watermark.high), None)
            raise SourceProtocolError(
                self.source, f"column {self.config.updated_column} is not a time like "
                "2026-09-01 08:00:00", origin=self.config.table,
                row=_row_number(key)) from exc

    # -- failures -----------------------------------------------------------------------
    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s %s: %s; attempt %d of %d failed, retrying in %.2f s", self.source,
                    self.config.table, _reason(error), state.attempt_number,
                    self.config.max_attempts, wait)

    def _translate(self, exc: sa_exc.SQLAlchemyError) -> Exception:
        cfg = self.config
        reason = _reason(exc)
        if _is_transient(exc):
            return TransientSourceError(
                self.source, f"{reason} (gave up after {cfg.max_attempts} attempts)",
                origin=cfg.table)
        if "unable to open database file" in reason:
            return SourceNotFoundError(self.source, reason, origin=cfg.table)
        return SourceProtocolError(self.source, reason, origin=cfg.table)


def _light(name: str, columns: Sequence[str]) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


_JSON_SCALARS = frozenset((str, int, float, bool, type(None)))


def _json_value(value: Any) -> Any:
    """A child value for the JSON array: JSON scalars as they are, the rest as text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return to_text(value)


def _row_number(key: Any) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    try:
        return int(str(key))
    except ValueError:
        return None


def _prune(watermark: Watermark) -> None:
    """Forget keys the rest of this run can no longer meet again unchanged.

    Pages go forward in updated-at order, so a key last seen before the lookback floor
    lies behind the page being read. Keeping `seen` to the window keeps `to_cursor`
    cheap on a first, full extraction of a big table.
    """
    floor = watermark.since()
    if floor is not None:
        watermark.seen = {k: v for k, v in watermark.seen.items() if v[1] >= floor}


def _reason(exc: BaseException | None) -> str:
    """A driver error's first line, without any quoted value it may carry."""
    if exc is None:
        return "unknown error"
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    text = lines[0] if lines else type(orig).__name__
    # sqlite3 quotes the undecodable value itself, and values here are personal data
    return text.split(" with text ", 1)[0][:200]


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    message = str(exc.orig).lower()
    return any(marker in message for marker in _TRANSIENT_MARKERS)
