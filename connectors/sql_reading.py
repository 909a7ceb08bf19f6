"""The SQL connector's queries: the tables' reflected shape, and one page of rows.

Queries use untyped `table()`/`column()` clauses so that values come back exactly as the
driver hands them (no Decimal or datetime conversion by SQLAlchemy). A page is one keyset
query of the main table in the pass the `Position` is in (see connectors.sql_db), and
for each child table the rows whose foreign key is one of the page's keys (chunked IN
lists), grouped by the key they name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.types import NullType

from .errors import SourceProtocolError, TerminalSourceError
from .incremental import parse_time
from .lineage import to_text
from .sql_engine import Undecodable

if TYPE_CHECKING:
    from .sql_db import SqlSourceConfig

#: keys per IN list: well under SQLite's oldest bound-parameter limit (999)
_IN_CHUNK = 500


@dataclass(frozen=True)
class Child:
    name: str
    table: sa.TableClause
    foreign_key: str
    order_by: tuple[str, ...]


@dataclass(frozen=True)
class Schema:
    """The reflected shape of the main and child tables, as lightweight Core clauses."""

    main: sa.TableClause
    columns: tuple[str, ...]
    updated_type: sa.types.TypeEngine[Any]
    children: tuple[Child, ...]


@dataclass
class Position:
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


@dataclass
class Page:
    rows: list[Sequence[Any]] = field(default_factory=list)
    #: child name → (joined key → child rows)
    children: dict[str, dict[Any, list[dict[str, Any]]]] = field(default_factory=dict)
    #: joined key → "table.column" of a child value that is not UTF-8
    undecodable: dict[Any, str] = field(default_factory=dict)


def reflect(conn: Connection, cfg: SqlSourceConfig, source: str) -> Schema:
    """The main and child tables' shape; a missing table or column is a protocol error."""
    assert cfg.table is not None  # checked by the connector
    main = _reflect_table(conn, cfg.table, source)
    for name in (cfg.key_column, cfg.updated_column):
        _require_column(main, name, source)
    columns = tuple(c.name for c in main.columns)
    clash = sorted(set(cfg.children) & set(columns))
    if clash:
        raise TerminalSourceError(source, f"child column names {clash} clash with "
                                  f"columns of table {cfg.table}", origin=cfg.table)
    children = []
    for name, child in cfg.children.items():
        reflected = _reflect_table(conn, child.table, source)
        _require_column(reflected, child.foreign_key, source)
        child_columns = [c.name for c in reflected.columns]
        # without a primary key, all columns give a stable order (and so a stable hash)
        order = [c.name for c in reflected.primary_key.columns] or child_columns
        children.append(Child(name, _light(child.table, child_columns),
                              child.foreign_key, tuple(order)))
    return Schema(_light(cfg.table, columns), columns,
                  main.c[cfg.updated_column].type, tuple(children))


def _reflect_table(conn: Connection, name: str, source: str) -> sa.Table:
    try:
        # resolve_fks=False: the tables a foreign key points to are not needed here
        return sa.Table(name, sa.MetaData(), autoload_with=conn, resolve_fks=False)
    except sa_exc.NoSuchTableError as exc:
        raise SourceProtocolError(source, f"table {name} not found in the database",
                                  origin=name) from exc


def _require_column(table: sa.Table, name: str, source: str) -> None:
    if name not in table.c:
        raise SourceProtocolError(source, f"column {name} not found in table "
                                  f"{table.name}", origin=table.name)


def _light(name: str, columns: Sequence[str]) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


def time_value(text: str, coltype: sa.types.TypeEngine[Any], dialect: str) -> Any:
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


def read_page(conn: Connection, cfg: SqlSourceConfig, schema: Schema, since: Any,
              position: Position) -> Page:
    """The next page of main rows in the position's pass, with their child rows."""
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
    page = Page(rows=list(conn.execute(query).all()))
    if page.rows:
        key_at = schema.columns.index(cfg.key_column)
        keys = [row[key_at] for row in page.rows if row[key_at] is not None]
        for child in schema.children:
            page.children[child.name] = _read_children(conn, child, keys, page)
    return page


def _read_children(conn: Connection, child: Child, keys: list[Any],
                   page: Page) -> dict[Any, list[dict[str, Any]]]:
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
            joined = join_key(row[fk_at])
            if not _JSON_SCALARS.issuperset(map(type, row)):
                values = {n: _json_value(v) for n, v in values.items()}
                bad = next((n for n, v in zip(names, row, strict=True)
                            if type(v) is Undecodable), None)
                if bad is not None:
                    page.undecodable.setdefault(joined, f"{child.table.name}.{bad}")
            # a foreign key may come back typed unlike the key it names
            grouped[joined].append(values)
    return grouped


_JSON_SCALARS = frozenset((str, int, float, bool, type(None)))


def _json_value(value: Any) -> Any:
    """A child value for the JSON array: JSON scalars as they are, the rest as text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return to_text(value)


def join_key(value: Any) -> Any:
    """A key as child rows are matched to it: 1, 1.0 and "1" are one key to the database
    (SQLite compares across storage classes by affinity), so they are one key here."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return to_text(value)
