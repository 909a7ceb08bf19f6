"""A mapping file's expressions: how one canonical value is made from a source record.

Structure only (pydantic, unknown keys refused, regexes both Python and DuckDB accept):
whether the fields, code tables, registries and kinds an expression names exist is the
mapping's check against its contract (conform.mapping_checks).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .contract import Scalar

DEFAULT_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
#: `from = "@origin"`: the record's origin (file path, `file#sheet`, table…)
ORIGIN = "@origin"
#: `align`'s value for a list with a value per element
ALL = "all"
#: in a `columns` block: the picked column's value, its number and its name
VALUE, NUMBER, COLUMN = "@value", "@number", "@column"
PICKED = (VALUE, NUMBER, COLUMN)
#: the datums a `wgs84` step reads (conform.datums: CGCS2000 is taken as WGS-84)
DatumName = Literal["WGS84", "CGCS2000", "GCJ02", "BD09"]


def _shorthand(value: object) -> object:
    """`"col"` is short for `{ from = "col" }`."""
    return {"from": value} if isinstance(value, str) else value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Expr(Strict):
    """How one canonical value is made: a source, then optional steps, in this order:
    match → split → map → convert to the target's kind → plus → lookup/check → format."""

    from_: str | None = Field(None, alias="from")
    field: str | None = None
    const: Scalar | None = None
    first: tuple[ExprIn, ...] | None = None
    key: tuple[ExprIn, ...] | None = None
    #: a position: (longitude, latitude) in `datum`, of which the field is the WGS-84
    #: longitude (`wgs84 = "lon"`) or latitude (`wgs84 = "lat"`)
    of: tuple[ExprIn, ExprIn] | None = None
    wgs84: Literal["lon", "lat"] | None = None
    #: the datum of `of`: a datum's name, or an expression giving one per record
    datum: DatumName | Expr | None = None
    prefix: str = ""
    match: str | None = None
    split: str | None = None
    index: int = Field(0, ge=0)
    map: str | dict[str, Scalar] | None = None
    strict: bool = True
    default: Scalar | None = None
    epoch: Literal["ms", "s"] | None = None
    formats: tuple[str, ...] | None = None
    year_from: str | None = None
    #: the zone the source writes its local times in (`formats`; default Asia/Shanghai),
    #: e.g. "UTC" for a feed that sends UTC without saying so
    timezone: str | None = None
    format: str | None = None
    #: a date/time moved on by a number of equal steps (see `Plus`)
    plus: Plus | None = None
    #: the number of elements of a JSON array (e.g. a nested list the record carries)
    length: bool = False
    #: a number multiplied by this factor after conversion (a unit: W → kW is 0.001)
    multiply: float | None = None
    #: a lookup of the contract's reference (names → codes under the code in `within`)
    lookup: str | None = None
    within: str | None = None
    strip_suffixes: tuple[str, ...] | None = None
    #: a code check of the contract's reference
    check: str | None = None
    reason: Literal["bad_value", "bad_division", "unknown_code", "bad_identifier"] | None = None
    required: bool = False
    #: in a joined block of a group with kinds: `all`, or the kinds' `aligned` name
    align: str = ALL

    @model_validator(mode="after")
    def _consistent(self) -> Expr:
        sources = [k for k in ("from_", "field", "const", "first", "key", "of")
                   if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of from, field, const, first, key, of "
                             f"(got {', '.join(s.rstrip('_') for s in sources) or 'none'})")
        self._position()
        pairs = (("prefix", self.prefix and self.key is None, "key"),
                 ("index", self.index and self.split is None, "split"),
                 ("default", self.default is not None and self.map is None, "map"),
                 ("strip_suffixes", self.strip_suffixes is not None and not self.lookup,
                  "lookup"),
                 ("within", self.within is not None and not self.lookup, "lookup"),
                 ("year_from", self.year_from is not None and self.formats is None, "formats"))
        for name, wrong, needs in pairs:
            if wrong:
                raise ValueError(f"`{name}` only goes with `{needs}`")
        if self.lookup and not self.within:
            raise ValueError("`lookup` needs `within` (the field holding the parent code)")
        if self.plus is not None and (self.first is not None or self.key is not None):
            raise ValueError("`plus` moves one date/time: put it on an alternative of "
                             "`first`, not on `first` or `key`")
        if self.multiply is not None and (self.multiply == 0 or self.first is not None
                                       or self.key is not None):
            raise ValueError("`multiply` is a non-zero factor on one number (put it on an "
                             "alternative of `first`)")
        if self.epoch and self.formats is not None:
            raise ValueError("give `epoch` or `formats`, not both")
        if self.timezone is not None:
            if self.epoch:
                raise ValueError("`timezone` reads local times; epoch numbers are instants")
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {self.timezone!r}") from None
        if self.first is not None and any(e.required for e in self.first):
            raise ValueError("`required` belongs on the whole expression, not on an "
                             "alternative of `first`")
        for name in ("match", "year_from"):
            pattern = getattr(self, name)
            if pattern is not None:
                _check_regex(pattern)
        return self

    def _position(self) -> None:
        """`of` goes with `wgs84` and `datum` and no step: it makes a coordinate."""
        if self.of is None:
            for name in ("wgs84", "datum"):
                if getattr(self, name) is not None:
                    raise ValueError(f"`{name}` only goes with `of`")
            return
        if self.wgs84 is None or self.datum is None:
            raise ValueError("`of` needs `wgs84` (\"lon\" or \"lat\": which coordinate "
                             "the field is) and `datum`")
        steps = [k for k in ("match", "split", "map", "epoch", "formats", "timezone",
                             "lookup", "check", "format", "reason", "multiply")
                 if getattr(self, k) is not None]
        steps += ["length"] if self.length else []
        if steps:
            raise ValueError(f"`of` makes a WGS-84 coordinate; {', '.join(steps)} cannot "
                             "follow it (put steps on the coordinates in `of`)")


ExprIn = Annotated[Expr, BeforeValidator(_shorthand)]


class Plus(Strict):
    """`plus = { steps = "@number", every = "PT15M", start = 1 }`: the date/time plus
    (steps − start) × every, in elapsed time (a 15-minute step is 15 minutes also across
    a clock change). `steps` is an expression read as a whole number; `start` is the
    number whose step adds nothing (1 when intervals are numbered from 1), required so
    that an off-by-one is never a default."""

    steps: ExprIn
    #: an ISO 8601 duration ("PT15M", "PT1H", "P1D") or a number of seconds
    every: timedelta
    start: int

    @model_validator(mode="after")
    def _positive(self) -> Plus:
        if self.every <= timedelta(0):
            raise ValueError("`every` must be a positive duration, e.g. \"PT15M\"")
        return self


Expr.model_rebuild()


def _check_regex(pattern: str) -> None:
    """Python and DuckDB (RE2) must both accept it: RE2 has no lookaround or backrefs."""
    try:
        re.compile(pattern)
        duckdb.execute("SELECT regexp_matches('', ?)", [pattern])
    except (re.error, duckdb.Error) as e:
        raise ValueError(f"bad regular expression {pattern!r}: {e}") from None


def scalar_kind(value: object) -> str:
    """The kind of a constant or a code table's value (a TOML scalar)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return "float" if isinstance(value, float) else "text"


def walk(expr: Expr) -> Iterator[Expr]:
    """The expression and every expression nested in it."""
    yield expr
    datum = (expr.datum,) if isinstance(expr.datum, Expr) else ()
    for sub in (*(expr.first or ()), *(expr.key or ()), *(expr.of or ()), *datum,
                *((expr.plus.steps,) if expr.plus else ())):
        yield from walk(sub)


def froms(expr: Expr) -> list[str]:
    """The source columns (or array keys) an expression reads, nested ones included."""
    return [e.from_ for e in walk(expr) if e.from_]
