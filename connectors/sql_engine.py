"""Connecting to a source database, and telling its failures apart.

Drivers: SQLite's is built in; PostgreSQL (psycopg) and MySQL-compatible databases
(PyMySQL) need their extra installed (`pip install 'silobridge[postgres]'`, `[mysql]`,
see DRIVERS). A URL that names no driver (postgresql://…) uses that one; a missing
driver is a `MissingDriverError` naming what to install.

A SQLite file is opened read-only, after checking it exists (a missing one is a
`SourceNotFoundError`): opened read-write, SQLite would create an empty database for a
mistyped path and the run would "succeed" with no rows. Its text values that are not
UTF-8 come back as `Undecodable`, so that the row holding one is rejected, not the run.

Failures: a locked database or a lost or refused connection is transient (`is_transient`,
retried by the connector); `translate` turns what is left into the source's typed error.
No message carries a value (`reason` drops the value sqlite3 quotes): values may be
personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from .errors import (
    MissingDriverError,
    SourceNotFoundError,
    SourceProtocolError,
    TerminalSourceError,
    TransientSourceError,
)

#: SQLite's own busy wait; kept short so that waiting on a lock follows the connector's
#: retry policy (logged, bounded by max_attempts) instead of hiding inside the driver
_SQLITE_BUSY_TIMEOUT = 0.25
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


class Undecodable(str):
    """A SQLite text value that is not UTF-8, kept with its bad bytes escaped."""

    __slots__ = ()


def _decode_text(data: bytes) -> str:
    """sqlite3's text_factory: a bad byte rejects its row (bad_encoding), not the run."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return Undecodable(data.decode("utf-8", "backslashreplace"))


def _sqlite_text_factory(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.text_factory = _decode_text


def create_engine(source: str, url_text: str | None) -> Engine:
    """An engine for the source's database URL, with a fresh connection per use."""
    if url_text is None:
        raise SourceNotFoundError(
            source, f"no database URL: set `url` in the {source} source settings "
            "(SqlSourceConfig.url), e.g. sqlite:////path/to/source.sqlite")
    try:
        url = make_url(url_text)
    except sa_exc.ArgumentError as exc:
        raise TerminalSourceError(source, "the database URL setting is not a valid "
                                  "SQLAlchemy URL") from exc
    connect_args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend in DRIVERS and url.drivername == backend:
        url = url.set(drivername=f"{backend}+{DRIVERS[backend].module}")
    if backend == "sqlite":
        url = _sqlite_read_only(source, url)
        if "timeout" not in url.query:
            connect_args["timeout"] = _SQLITE_BUSY_TIMEOUT
    try:
        # NullPool: every attempt gets a fresh connection, none outlives extract()
        engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except ImportError as exc:
        raise _missing_driver(source, url, exc) from exc
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError) as exc:
        shown = url.render_as_string(hide_password=True)
        raise TerminalSourceError(source, f"cannot use database URL {shown}: "
                                  f"{type(exc).__name__}: {exc}") from exc
    if url.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_text_factory)
    return engine


def _missing_driver(source: str, url: URL, exc: ImportError) -> MissingDriverError:
    """What to install for a URL whose driver module is missing."""
    backend, module = url.get_backend_name(), exc.name or url.get_driver_name()
    ours = DRIVERS.get(backend)
    if ours is not None and ours.module == module:
        return MissingDriverError(
            source, f"reading a {backend} database needs the {module} driver, which "
            f"is not installed: pip install 'silobridge[{ours.extra}]'", extra=ours.extra)
    offer = (f", or use {backend}+{ours.module}:// and pip install "
             f"'silobridge[{ours.extra}]'") if ours else ""
    return MissingDriverError(
        source, f"the driver of {url.drivername}:// is not installed (no module "
        f"{module!r}): install it{offer}", extra=ours.extra if ours else None)


def _sqlite_read_only(source: str, url: URL) -> URL:
    """The URL opening the same SQLite file read-only, after checking it exists.

    Opened read-write, SQLite would create an empty database for a mistyped path and the
    run would "succeed" with no rows; read-only it also cannot harm the source.
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
        raise SourceNotFoundError(source, f"database file {path} does not exist "
                                  "(check `url` in the source settings)")
    query.update({"mode": "ro", "uri": "true"})
    return url.set(database="file:" + quote(str(path), safe="/"), query=query)


def reason(exc: BaseException | None) -> str:
    """A driver error's first line, without any quoted value it may carry."""
    if exc is None:
        return "unknown error"
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    text = lines[0] if lines else type(orig).__name__
    # sqlite3 quotes the undecodable value itself, and values may be personal data
    return text.split(" with text ", 1)[0][:200]


def is_transient(exc: BaseException) -> bool:
    """Whether trying again may help: a lock, a lost or refused connection."""
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


def translate(source: str, origin: str, exc: sa_exc.SQLAlchemyError,
              attempts: int) -> Exception:
    """The source's typed error for a driver's error that `attempts` tries did not pass."""
    text = reason(exc)
    if is_transient(exc):
        return TransientSourceError(source, f"{text} (gave up after {attempts} attempts)",
                                    origin=origin)
    if "unable to open database file" in text:
        return SourceNotFoundError(source, text, origin=origin)
    return SourceProtocolError(source, text, origin=origin)
