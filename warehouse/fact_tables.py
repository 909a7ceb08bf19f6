"""Fact tables: what a pack declares about one (`FactsDeclaration`, read from
`[facts.<name>]` in a TOML file the caller passes), and the tables derived from it.

The core table's columns are the declaration's (series, start, end, values) with the
staged table's types unless the declaration names others, plus the lineage of each row:
the staged row that brought its value (batch_id and the row columns) and the run that
wrote it. Beside it: quarantine.<name> (the staged rows a merge refused, with the
reason; released_run is set when a later merge takes one, e.g. after the lag was
widened) and ops.facts_<name> (one row per merged batch: the newest start it brought,
from which the source's watermark is read). The merge itself is warehouse.facts.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_NAME = r"^[a-z][a-z0-9_]*$"
_TABLE = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
_TYPE = r"^[A-Za-z][A-Za-z0-9_ ,()]*$"
#: names the derived tables use for their own columns (lineage and quarantine)
RESERVED = ("batch_id", "run_id", "reason", "quarantined_at", "released_run")
#: the reasons the merge itself refuses rows for (warehouse.facts.REASONS)
ENGINE_REASONS = ("missing_key", "off_grain", "end_off_grain", "ends_before_start",
                  "too_late", "superseded")


class FactsError(ValueError):
    """A facts declaration or staged table that cannot be merged: says which and why."""


class FactsDeclaration(BaseModel):
    """One fact table of a pack: where its rows are staged and kept, and their shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    #: the staged table (with batch_id and the row columns) and the core fact table
    staged: str = Field(pattern=_TABLE)
    core: str = Field(pattern=_TABLE)
    #: the columns naming a series (e.g. transformer_id)
    series: tuple[str, ...] = Field(min_length=1)
    #: the interval: its start, optionally its end, and its grain (None: any instant)
    start: str = Field(pattern=_NAME)
    #: where the start comes from: the staged column (`staged`), or, for a source that
    #: sends its whole list each time (a register, a catalogue), when the row's batch
    #: landed (`landed`: ops.batches.landed_at floored to the grain; not staged): a row
    #: per item and day it was received changed, the newest the item as it is now
    start_from: Literal["staged", "landed"] = "staged"
    end: str | None = Field(default=None, pattern=_NAME)
    grain: timedelta | None = None
    values: tuple[str, ...] = Field(min_length=1)
    #: how far behind the source's newest interval data is still accepted
    lag: timedelta
    #: a batch is complete for each such period of a series it carries (None: upserts)
    complete_for: timedelta | None = None
    #: the zone grain and periods are counted in, for zoned timestamps
    timezone: str = "Asia/Shanghai"
    #: with batch_id, name a staged row; the last of a batch wins
    rows: tuple[str, ...] = ("row_no",)
    #: column types, where the staged table's are not the ones to keep
    types: dict[str, str] = Field(default_factory=dict)
    #: the pack's own reasons to refuse a staged row: reason → SQL condition over the
    #: staged row's columns (e.g. a blank or impossible reading). A refused row goes to
    #: quarantine.<name> with that reason; the rest of its record merges (one bad
    #: quarter hour does not cost a transformer its day)
    refuse: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _coherent(self) -> FactsDeclaration:
        named = [*self.series, self.start, *([self.end] if self.end else []), *self.values]
        problems = [f"{c!r} is not a plain lower-case name" for c in (*named, *self.rows)
                    if not re.match(_NAME, c)]
        every = [*named, *self.rows]
        problems += [f"column {c!r} has two roles" for c in sorted(set(every))
                     if every.count(c) > 1]
        problems += [f"column {c!r} is reserved" for c in every if c in RESERVED]
        problems += [f"types names {c!r}, no column of this table" for c in self.types
                     if c not in named]
        problems += [f"type {t!r} of {c!r} is not a type name" for c, t in self.types.items()
                     if not re.match(_TYPE, t)]
        problems += [f"refuse: {r!r} is not a plain lower-case name" for r in self.refuse
                     if not re.match(_NAME, r)]
        problems += [f"refuse: {r!r} is one of the merge's own reasons" for r in self.refuse
                     if r in ENGINE_REASONS]
        for what, span in (("grain", self.grain), ("complete_for", self.complete_for)):
            if span is not None and span <= timedelta(0):
                problems.append(f"{what} must be longer than zero")
        if self.start_from == "landed" and (self.grain is None or self.end):
            problems.append("start_from = \"landed\" needs a grain and no end")
        if self.lag < timedelta(0):
            problems.append("lag must not be negative")
        if self.grain and self.complete_for and self.complete_for % self.grain:
            problems.append("complete_for must be a whole number of grains")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"unknown time zone {self.timezone!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def key(self) -> tuple[str, ...]:
        return (*self.series, self.start)

    @property
    def carried(self) -> tuple[str, ...]:
        """The columns a merge compares and writes besides the key."""
        return (*([self.end] if self.end else []), *self.values)

    @property
    def quarantine(self) -> str:
        return f"quarantine.{self.name}"

    @property
    def ledger(self) -> str:
        """One row per merged batch: the newest start it brought (the watermark's part)."""
        return f"ops.facts_{self.name}"


def load_facts(file: Path) -> dict[str, FactsDeclaration]:
    """The `[facts.<name>]` tables of a TOML file; a FactsError names the file and key."""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FactsError(f"{file}: {e}") from None
    found = {}
    for name, body in data.get("facts", {}).items():
        if not isinstance(body, dict) or "name" in body:
            raise FactsError(f"{file}: [facts.{name}] must be a table of settings, without "
                             "`name` (its key is its name)")
        try:
            found[name] = FactsDeclaration.model_validate({"name": name, **body})
        except ValidationError as e:
            detail = "; ".join(f"{'.'.join(str(p) for p in x['loc']) or name}: {x['msg']}"
                               for x in e.errors(include_url=False, include_input=False))
            raise FactsError(f"{file}: [facts.{name}] {detail}") from None
    return found


def quoted(name: str) -> str:
    """A table or column name, quoted for SQL (names are checked against _NAME/_TABLE)."""
    return ".".join(f'"{part}"' for part in name.split("."))


def columns(names: Sequence[str], alias: str = "") -> str:
    return ", ".join(f'{alias}"{c}"' for c in names)


def _types(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration) -> dict[str, str]:
    """Each column's type: declared, else the staged table's."""
    schema, table = decl.staged.split(".")
    staged = dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?", [schema, table]).fetchall())
    if not staged:
        raise FactsError(f"facts {decl.name}: no staged table {decl.staged}")
    if decl.start_from == "landed":  # not staged: when the batch landed
        staged[decl.start] = "TIMESTAMP WITH TIME ZONE"
    wanted = ("batch_id", *decl.rows, *decl.key, *decl.carried)
    missing = [c for c in wanted if c not in staged]
    if missing:
        raise FactsError(f"facts {decl.name}: {decl.staged} lacks {', '.join(missing)}")
    return {c: decl.types.get(c, staged[c]) for c in wanted}


def staged_rows(decl: FactsDeclaration) -> str:
    """The staged rows as the merge reads them: a table, or with `start_from = "landed"`
    a query adding the start (the batch's landing, floored to the grain in the zone)."""
    if decl.start_from == "staged":
        return quoted(decl.staged)
    assert decl.grain is not None  # the declaration's own check
    micros = decl.grain.seconds * 1_000_000 + decl.grain.microseconds
    zone = decl.timezone.replace("'", "''")
    grain = f"to_days({decl.grain.days}) + to_microseconds({micros})"
    landed = "(SELECT b.landed_at FROM ops.batches b WHERE b.batch_id = x.batch_id)"
    return (f"(SELECT x.*, time_bucket({grain}, {landed}, '{zone}') "  # noqa: S608 - declared names
            f'AS "{decl.start}" FROM {quoted(decl.staged)} x)')


def core_ddl(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration) -> list[str]:
    """CREATE statements of the core fact table, its quarantine and its ledger."""
    t = _types(con, decl)

    def typed(names: Sequence[str], extra: str = "") -> str:
        return ", ".join(f'"{c}" {t[c]}{extra}' for c in names)

    key, carried, rows = typed(decl.key, " NOT NULL"), typed(decl.carried), typed(decl.rows)
    fact = f"{key}, {carried}" if carried else key
    return [
        f"CREATE TABLE IF NOT EXISTS {quoted(decl.core)} ({fact}, batch_id BIGINT NOT NULL, "
        f"{rows}, run_id VARCHAR NOT NULL, PRIMARY KEY ({columns(decl.key)}))",
        f"CREATE TABLE IF NOT EXISTS {quoted(decl.quarantine)} (batch_id BIGINT NOT NULL, "
        f"{rows}, {typed((*decl.key, *decl.carried))}, reason VARCHAR NOT NULL, "
        "run_id VARCHAR NOT NULL, quarantined_at TIMESTAMPTZ NOT NULL, "
        "released_run VARCHAR)",
        f"CREATE TABLE IF NOT EXISTS {quoted(decl.ledger)} (batch_id BIGINT PRIMARY KEY, "
        f'newest {t[decl.start]}, "rows" BIGINT NOT NULL, run_id VARCHAR NOT NULL)',
    ]


def ensure_tables(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration) -> str:
    """Create what is missing; refuse a core table the declaration no longer describes.
    Returns the start column's type."""
    for table in (decl.core, decl.quarantine, decl.ledger):
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.split(".")[0]}"')
    schema, table = decl.core.split(".")
    have = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND "
        "table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()]
    want = [*decl.key, *decl.carried, "batch_id", *decl.rows, "run_id"]
    if have and have != want:
        raise FactsError(f"facts {decl.name}: {decl.core} has columns {have}, the "
                         f"declaration derives {want}: migrate the table first")
    for statement in core_ddl(con, decl):
        con.execute(statement)
    return _types(con, decl)[decl.start]


def pending_batches(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration) -> list[int]:
    """The staged batches no merge has taken yet (not in the fact table's ledger), but
    those a quality gate holds back: they wait until released."""
    return [b for (b,) in con.execute(f"""
        SELECT DISTINCT batch_id FROM {quoted(decl.staged)}
        WHERE batch_id NOT IN (SELECT batch_id FROM {quoted(decl.ledger)})
          AND batch_id NOT IN (SELECT batch_id FROM ops.batches WHERE gate = 'blocked')
        ORDER BY batch_id""").fetchall()]  # noqa: S608 - declared names
