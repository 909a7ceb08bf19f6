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

Rows that cannot take part in the keyset order are error records (connectors.rejects),
never a crash: a NULL key (missing_key), a NULL updated column (missing_key), an updated
value that is not a time (impossible_date), text that is not UTF-8 in a SQLite column
(bad_encoding; the column is named, the value is not). The keyset never compares with
NULL: a full extraction reads in passes, rows with a NULL updated column (by key), then
rows with a NULL key (by updated column and offset: they have nothing stabler), then the
rest by (updated, key); an incremental run reads the last two. Child rows whose
foreign key names no case are never read; a key and a foreign key of different types
(1 and 1.0) still match, as they do in the database.

Limits, by design
- A row written with an updated-at older than (watermark - lookback) is never seen by an
  incremental run (see the test `test_update_older_than_lookback_is_missed`).
- Rows whose updated column is NULL (or, in SQLite, a number, which sorts before any
  text) are read by a full extraction only.
- Rows without a key are read by offset: a writer adding or removing such rows during a
  read may make one be read twice (the second copy is dropped by its hash) or skipped
  until the next run.
- Deleted rows are not noticed.

Drivers: SQLite's is built in; PostgreSQL (psycopg) and MySQL-compatible databases
(PyMySQL) need their extra installed (`pip install 'silobridge[postgres]'`, `[mysql]`,
see DRIVERS). A URL that names no driver (postgresql://…) uses that one; a missing
driver is a `MissingDriverError` naming what to install.

Errors: a missing URL or database file is a `SourceNotFoundError`; a missing table or
column a `SourceProtocolError`; a locked database or a failed connection is retried with
exponential backoff and becomes a `TransientSourceError` when the attempts run out. A
retry resumes after the last page read, so it repeats no rows. No message carries row
contents (parties' ID and phone numbers): keys, tables and columns only.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
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
from sqlalchemy.types import NullType
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from schemas.reasons import Reason

from .base import LINEAGE_COLUMNS, Cursor, RawBatch
from .errors import (
    MissingDriverError,
    SourceNotFoundError,
    SourceProtocolError,
    TerminalSourceError,
    TransientSourceError,
)
from .incremental import Watermark, is_time, parse_time
from .lineage import build_table, to_text, to_texts
from .rejects import reject

log = logging.getLogger(__name__)

#: keys per IN list: well under SQLite's oldest bound-parameter limit (999)
_IN_CHUNK = 500
#: how much of a rejected row's text its error record keeps
_RAW_TEXT_LIMIT = 64 * 1024
#: the passes of a full extraction and of an incremental one (see the module docstring)
_FULL_PASSES = ("untimed", "keyless", "timed")
_INCREMENTAL_PASSES = ("keyless", "timed")
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


@dataclass(frozen=True)
class Driver:
    #: the DB-API module SQLAlchemy's dialect imports
    module: str
    #: the package extra installing it: pip install 'silobridge[extra]'
    extra: str


#: the driver of each database kind silobridge ships one for (as an extra); a URL that
#: names no driver (postgresql://…, mysql://…) is read with it
DRIVERS = {
    "postgresql": Driver("psycopg", "postgres"),
    "mysql": Driver("pymysql", "mysql"),
    "mariadb": Driver("pymysql", "mysql"),
}


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
    """Where the read is, so a retry resumes after the last page read: the pass, and in
    it the last (updated, key) read (keyset passes) or the rows read so far (keyless)."""

    passes: tuple[str, ...]
    index: int = 0
    updated: Any = None
    key: Any = None
    started: bool = False
    offset: int = 0

    @property
    def kind(self) -> str | None:
        return self.passes[self.index] if self.index < len(self.passes) else None

    def next_pass(self) -> None:
        self.index += 1
        self.updated, self.key, self.started, self.offset = None, None, False, 0


class _Undecodable(str):
    """A SQLite text value that is not UTF-8, kept with its bad bytes escaped."""

    __slots__ = ()


def _decode_text(data: bytes) -> str:
    """sqlite3's text_factory: a bad byte rejects its row (bad_encoding), not the run."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _Undecodable(data.decode("utf-8", "backslashreplace"))


@dataclass
class _Page:
    rows: list[Sequence[Any]] = field(default_factory=list)
    #: child name → (joined key → child rows)
    children: dict[str, dict[Any, list[dict[str, Any]]]] = field(default_factory=dict)
    #: joined key → "table.column" of a child value that is not UTF-8
    undecodable: dict[Any, str] = field(default_factory=dict)


class SqlConnector:
    """Reads new and changed rows of one table (with its child tables) incrementally."""

    def __init__(self, config: SqlSourceConfig, *, source: str = "county",
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
        engine = self._engine()
        position = _Position(_FULL_PASSES if since is None else _INCREMENTAL_PASSES)
        retrying = Retrying(
            stop=stop_after_attempt(cfg.max_attempts),
            wait=wait_exponential(multiplier=_BACKOFF_FIRST, max=_BACKOFF_MAX),
            retry=retry_if_exception(_is_transient),
            sleep=self._sleep,
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
        backend = url.get_backend_name()
        if backend in DRIVERS and url.drivername == backend:
            url = url.set(drivername=f"{backend}+{DRIVERS[backend].module}")
        if backend == "sqlite":
            url = self._sqlite_read_only(url)
            if "timeout" not in url.query:
                connect_args["timeout"] = _SQLITE_BUSY_TIMEOUT
        try:
            # NullPool: every attempt gets a fresh connection, none outlives extract()
            engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
        except ImportError as exc:
            raise self._missing_driver(url, exc) from exc
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError) as exc:
            shown = url.render_as_string(hide_password=True)
            raise TerminalSourceError(self.source, f"cannot use database URL {shown}: "
                                      f"{type(exc).__name__}: {exc}") from exc
        if url.get_backend_name() == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_text_factory)
        return engine

    def _missing_driver(self, url: URL, exc: ImportError) -> MissingDriverError:
        """What to install for a URL whose driver module is missing."""
        backend, module = url.get_backend_name(), exc.name or url.get_driver_name()
        ours = DRIVERS.get(backend)
        if ours is not None and ours.module == module:
            return MissingDriverError(
                self.source, f"reading a {backend} database needs the {module} driver, which "
                f"is not installed: pip install 'silobridge[{ours.extra}]'", extra=ours.extra)
        offer = (f", or use {backend}+{ours.module}:// and pip install "
                 f"'silobridge[{ours.extra}]'") if ours else ""
        return MissingDriverError(
            self.source, f"the driver of {url.drivername}:// is not installed (no module "
            f"{module!r}): install it{offer}", extra=ours.extra if ours else None)

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
            while position.kind is not None:
                page = self._read_page(conn, schema, since_value, position)
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
        timed = upd.is_not(None) if since is None else upd >= since
        if position.kind == "untimed":
            query = query.where(upd.is_(None), key.is_not(None)).order_by(key)
            if position.started:
                query = query.where(key > position.key)
        elif position.kind == "keyless":
            # nothing identifies these rows, so they are read by offset
            where = key.is_(None) if since is None else sa.and_(key.is_(None), timed)
            query = query.where(where).order_by(upd).offset(position.offset)
        else:
            query = query.where(timed, key.is_not(None)).order_by(upd, key)
            if position.started:
                # written so that an index on the updated column can serve the range
                query = query.where(upd >= position.updated,
                                    sa.or_(upd > position.updated, key > position.key))
        page = _Page(rows=list(conn.execute(query).all()))
        if page.rows:
            key_at = schema.columns.index(cfg.key_column)
            keys = [row[key_at] for row in page.rows if row[key_at] is not None]
            for child in schema.children:
                page.children[child.name] = self._read_children(conn, child, keys, page)
        return page

    def _read_children(self, conn: Connection, child: _Child, keys: list[Any],
                       page: _Page) -> dict[Any, list[dict[str, Any]]]:
        fk = child.table.c[child.foreign_key]
        names = [c.name for c in child.table.columns]
        fk_at = names.index(child.foreign_key)
        grouped: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start:start + _IN_CHUNK]
            # untyped: keys of mixed storage classes must reach the driver as they are
            keys_param = sa.bindparam("keys", chunk, expanding=True, type_=NullType())
            query = (sa.select(*child.table.c).where(fk.in_(keys_param))
                     .order_by(*(child.table.c[c] for c in child.order_by)))
            # .all() fetches the chunk in one call; iterating the result fetches row by row
            for row in conn.execute(query).all():
                values = dict(zip(names, row, strict=True))
                joined = _join_key(row[fk_at])
                if not _JSON_SCALARS.issuperset(map(type, row)):
                    values = {n: _json_value(v) for n, v in values.items()}
                    bad = next((n for n, v in zip(names, row, strict=True)
                                if type(v) is _Undecodable), None)
                    if bad is not None:
                        page.undecodable.setdefault(joined, f"{child.table.name}.{bad}")
                # a foreign key may come back typed unlike the key it names
                grouped[joined].append(values)
        return grouped

    def _batch(self, schema: _Schema, page: _Page, watermark: Watermark) -> RawBatch | None:
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
            values[name] = [to_text(grouped.get(_join_key(k), [])) for k in raw_keys]
        keys, updated = values[cfg.key_column], values[cfg.updated_column]
        errors = [self._row_error(schema, page, row, k, u)
                  for row, k, u in zip(page.rows, keys, updated, strict=True)]
        raws = None
        if any(errors):
            raws = [None if e is None else _raw_text(columns, values, i)
                    for i, e in enumerate(errors)]
            for c in columns:  # an error record's text is in _raw_text, its columns null
                values[c] = [None if e else v for v, e in zip(values[c], errors, strict=True)]
        table = build_table(self.source, cfg.table, columns, values,
                            [_row_number(k) for k in raw_keys], errors if raws else None, raws)
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

    def _row_error(self, schema: _Schema, page: _Page, row: Sequence[Any], key: str | None,
                   updated: str | None) -> str | None:
        """Why a main row cannot be a record (None: it can)."""
        cfg = self.config
        if key is None:
            return reject(Reason.MISSING_KEY, f"key column {cfg.key_column} is NULL")
        bad = next((f"column {name}" for name, v in zip(schema.columns, row, strict=True)
                    if type(v) is _Undecodable), None) or page.undecodable.get(_join_key(
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
    """The key as `_row`, when it is a whole number Arrow's int64 can hold."""
    if isinstance(key, bool) or key is None:
        return None
    if not isinstance(key, int):
        try:
            key = int(str(key))
        except ValueError:
            return None
    return key if -(2**63) <= key < 2**63 else None


def _join_key(value: Any) -> Any:
    """A key as child rows are matched to it: 1, 1.0 and "1" are one key to the database
    (SQLite compares across storage classes by affinity), so they are one key here."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return to_text(value)


def _raw_text(columns: Sequence[str], values: dict[str, list[str | None]], i: int) -> str:
    row = {c: values[c][i] for c in columns if values[c][i] is not None}
    return json.dumps(row, ensure_ascii=False)[:_RAW_TEXT_LIMIT]


def _sqlite_text_factory(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.text_factory = _decode_text


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
