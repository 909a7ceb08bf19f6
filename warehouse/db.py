"""Opening the warehouse: one DuckDB file, migrations applied in order on open.

Crash semantics: every write is a transaction (`transaction()`): a process killed
inside one leaves the file as it was, and so does a transaction that fails (its
sequences too: DuckDB does not roll back nextval, so they are set back by hand, or the
next merge would number its cases differently from one that never failed). A failure
inside a transaction is raised as it happened even when the ROLLBACK after it fails too
(a COMMIT that runs out of disk space has already ended the transaction, and DuckDB
then answers the ROLLBACK with "cannot rollback - no transaction is active": that must
not hide the full disk).

Locks: DuckDB lets one process at a time open the file to write (and none to read
meanwhile). `session()` waits for another process's lock with growing pauses, up to
LockWait.seconds (SILOBRIDGE_WAREHOUSE__LOCK_WAIT), then raises WarehouseLockedError
naming the file and the process holding it. A command that runs several steps holds
the pipeline lock (`pipeline_lock()`, a lock file beside the warehouse) for all of
them, so two `silobridge run`s do not interleave their short sessions.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

import duckdb

from .faults import fault_point
from .manifests import seal_existing

log = logging.getLogger("silobridge.warehouse")

_MIGRATION = re.compile(r"^(\d{4})_(\w+)\.sql$")
#: DuckDB's words for another process holding the file
_LOCKED = re.compile(r"Could not set lock|Conflicting lock")
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
T = TypeVar("T")

#: what a migration's SQL cannot compute, run right after it in the same transaction
_AFTER_SQL: dict[int, Callable[[duckdb.DuckDBPyConnection], object]] = {
    9: seal_existing,   # hash chains over the batches and accounting already there
}


class WarehouseError(Exception):
    """The warehouse cannot be opened or is in a state this code does not understand."""


class WarehouseLockedError(WarehouseError):
    """Another process held the warehouse (or the pipeline lock) for longer than we wait."""

    def __init__(self, path: Path, holder: str | None, waited: float) -> None:
        self.path, self.holder, self.waited = path, holder, waited
        who = f"by {holder}" if holder else "by another process"
        super().__init__(f"the warehouse {path} is locked {who}; gave up after waiting "
                         f"{waited:g} s (SILOBRIDGE_WAREHOUSE__LOCK_WAIT)")


@dataclass(frozen=True)
class LockWait:
    """How long to wait for another process's lock, and with what clock (tests pass
    their own clock and sleep, so no test waits for real)."""

    seconds: float = 60.0
    first_pause: float = 0.05
    longest_pause: float = 2.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def run(self, attempt: Callable[[], T], path: Path,
            holder: Callable[[Exception], str | None]) -> T:
        """attempt() until it stops raising _Busy, or the wait is over."""
        deadline = self.clock() + self.seconds
        pause = self.first_pause
        while True:
            try:
                return attempt()
            except _Busy as busy:
                left = deadline - self.clock()
                if left <= 0:
                    raise WarehouseLockedError(path, holder(busy.cause),
                                               self.seconds) from None
                if pause == self.first_pause:  # say once why nothing seems to happen
                    log.warning("waiting up to %g s for %s, locked by %s", self.seconds,
                                path, holder(busy.cause) or "another process")
                self.sleep(min(pause, left))
                pause = min(pause * 2, self.longest_pause)


class _Busy(Exception):
    def __init__(self, cause: Exception) -> None:
        self.cause = cause


_default_wait = LockWait()


def set_lock_wait(seconds: float) -> None:
    """The wait of every session that is not given one (entry points set it from the
    settings: the CLI and the DAGs' tasks)."""
    global _default_wait  # noqa: PLW0603 - one process-wide setting, set at start-up
    _default_wait = LockWait(seconds=seconds)


def lock_wait() -> LockWait:
    return _default_wait


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with this code, in order."""
    found = []
    for entry in resources.files("warehouse").joinpath("migrations").iterdir():
        m = _MIGRATION.match(entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations the database lacks; returns the versions applied."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute("CREATE TABLE IF NOT EXISTS ops.schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    done = {v for (v,) in con.execute("SELECT version FROM ops.schema_migrations").fetchall()}
    shipped = migrations()
    newest = max((v for v, _, _ in shipped), default=0)
    if done and max(done) > newest:
        raise WarehouseError(f"warehouse is at migration {max(done)}, this code knows "
                             f"up to {newest}: upgrade silobridge")
    applied = []
    for version, name, sql in shipped:
        if version in done:
            continue
        with transaction(con, "migrate"):
            con.execute(sql)
            if version in _AFTER_SQL:
                _AFTER_SQL[version](con)
            con.execute("INSERT INTO ops.schema_migrations (version, name) VALUES (?, ?)",
                        [version, name])
        applied.append(version)
    return applied


def in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a transaction is open: outside one every statement gets a transaction id
    of its own."""
    (first,) = con.execute("SELECT txid_current()").fetchone()
    (second,) = con.execute("SELECT txid_current()").fetchone()
    return first == second


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, name: str) -> Iterator[None]:
    """BEGIN, the block, COMMIT; on any failure ROLLBACK and raise that failure.

    If the ROLLBACK fails too (a failed COMMIT already ended the transaction), the
    original error is still the one raised, with the rollback's failure as a note.
    `name` names the fault point `<name>:commit` just before COMMIT (warehouse.faults)."""
    sequences = _sequences(con)
    con.execute("BEGIN")
    try:
        yield
        fault_point(f"{name}:commit")
        con.execute("COMMIT")
    except BaseException as error:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error as rollback_error:
            error.add_note(f"(the rollback after it failed too: {rollback_error})")
        try:
            _set_back(con, sequences)
        except duckdb.Error as sequence_error:  # ids skip a few numbers; nothing is lost
            error.add_note(f"(sequences not set back: {sequence_error})")
        raise


_SEQUENCES = ("SELECT schema_name, sequence_name, start_value, last_value FROM "
              "duckdb_sequences() WHERE database_name = current_database()")


def _sequences(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[int, int]]:
    return {(s, n): (start, last) for s, n, start, last in con.execute(_SEQUENCES).fetchall()}


def _set_back(con: duckdb.DuckDBPyConnection,
              before: dict[tuple[str, str], tuple[int, int]]) -> None:
    """Recreate the sequences a rolled-back transaction moved on, where they were."""
    now = _sequences(con)
    moved = [(key, start if last is None else last + 1)
             for key, (start, last) in before.items() if now.get(key) != (start, last)]
    if not moved:
        return
    with transaction(con, "sequences"):
        for (schema, name), start in moved:
            con.execute(f'DROP SEQUENCE "{schema}"."{name}"')
            con.execute(f'CREATE SEQUENCE "{schema}"."{name}" START {int(start)}')


def wait_for_lock(attempt: Callable[[], T], path: Path, wait: LockWait | None = None) -> T:
    """attempt() (which opens or attaches `path` with DuckDB), waiting while another
    process holds the file."""

    def once() -> T:
        try:
            return attempt()
        except duckdb.IOException as e:
            if _LOCKED.search(str(e)):
                raise _Busy(e) from e
            raise

    return (wait or _default_wait).run(once, path, _duckdb_holder)


def _duckdb_holder(error: Exception) -> str | None:
    found = _HOLDER.search(str(error))
    if not found:
        return None
    return f"process {found['pid']} ({Path(found['program']).name})"


@contextmanager
def session(path: Path, *, read_only: bool = False,
            wait: LockWait | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection; the writer's lock is released when the block ends.
    Waits for another process's lock (see the module's docstring)."""
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run the pipeline first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = wait_for_lock(lambda: duckdb.connect(str(path), read_only=read_only), path, wait)
    except duckdb.IOException as e:
        raise WarehouseError(f"cannot open {path}: {e}") from e
    try:
        # times are stored as instants; show them as people here read them
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        if not read_only:
            migrate(con)
        yield con
    finally:
        con.close()


_held: dict[Path, int] = {}


@contextmanager
def pipeline_lock(path: Path, what: str, wait: LockWait | None = None) -> Iterator[None]:
    """Hold the pipeline lock of the warehouse at `path` for the block: a lock file
    beside it (<warehouse>.pipeline.lock) that says who holds it. Re-entrant within a
    process; the operating system releases it when the process ends, however it ends."""
    key = path.absolute()
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    lock_file = key.with_name(key.name + ".pipeline.lock")
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        def attempt() -> None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise _Busy(e) from e

        (wait or _default_wait).run(attempt, key, lambda _: _lock_holder(lock_file))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "what": what}).encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _lock_holder(lock_file: Path) -> str | None:
    try:
        holder = json.loads(lock_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return f"process {holder['pid']} on {holder['host']} ({holder['what']})"
