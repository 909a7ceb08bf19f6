"""Mapping files: parse, validate and select the declarative description of a source dialect.

A mapping file (TOML, in a pack's mappings/ folder; the language is documented in
packs/disputes/mappings/README.md) says how one source's raw columns become the fields of
`schemas.models`. Files
are checked twice: structurally by the pydantic models below (unknown keys, wrong types,
bad regexes), then against the canonical targets (field names, code tables whose values
must be valid for the field they feed, references between fields, date formats only
where a time is made). Every problem is a `MappingError` naming the file and the key.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from schemas.codes import (
    CATEGORIES,
    CaseStatus,
    Channel,
    Datum,
    FlowAction,
    Gender,
    Level,
    PartyKind,
    Role,
    Satisfaction,
    Scale,
    SourceName,
    Supervision,
)

Kind = Literal["text", "time", "int", "decimal", "float", "bool"]
Scalar = bool | int | float | str


# -- the canonical targets --------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """What a canonical field holds: its kind and, for coded fields, the allowed values."""

    kind: Kind
    values: frozenset[Any] | None = None
    #: the code list's name, for messages
    code_list: str = ""
    #: messages never show the value (ID and phone numbers)
    sensitive: bool = False


def _coded(kind: Kind, name: str, values: Any) -> Target:
    return Target(kind, frozenset(v.value if hasattr(v, "value") else v for v in values), name)


_TEXT, _TIME, _INT = Target("text"), Target("time"), Target("int")
_BOOL, _SECRET = Target("bool"), Target("text", sensitive=True)
_LEVEL = _coded("int", "Level", Level)

#: DisputeCase's scalar fields in model order (lon_wgs84/lat_wgs84 are the model's to make)
CASE_TARGETS: dict[str, Target] = {
    "source": _coded("text", "SourceName", SourceName),
    "source_record_id": _TEXT, "display_no": _TEXT, "grid_report_ref": _TEXT,
    "township_ref": _TEXT, "county_ref": _TEXT, "province_ref": _TEXT, "related_ref": _TEXT,
    "title": _TEXT, "summary": _TEXT,
    "category_code": _coded("text", "the 28 categories", CATEGORIES),
    "scale": _coded("text", "Scale", Scale), "people_count": _INT,
    "amount": Target("decimal"),
    "county_code": _TEXT, "town_code": _TEXT, "village_code": _TEXT, "grid_code": _TEXT,
    "address": _TEXT, "lon": Target("float"), "lat": Target("float"),
    "datum": _coded("text", "Datum", Datum),
    "occurred_at": _TIME, "reported_at": _TIME, "accepted_at": _TIME, "resolved_at": _TIME,
    "closed_at": _TIME, "source_updated_at": _TIME,
    "channel": _coded("text", "Channel", Channel), "source_level": _LEVEL,
    "handling_level": _LEVEL, "status": _coded("text", "CaseStatus", CaseStatus),
    "source_status": _TEXT, "handling_org": _TEXT, "handler": _TEXT, "method": _TEXT,
    "resolved": _BOOL, "satisfaction": _coded("text", "Satisfaction", Satisfaction),
    "supervision": _coded("text", "Supervision", Supervision), "major": _BOOL, "urgent": _BOOL,
}
#: set from the [mapping] header, not from [fields]
HEADER_FIELDS = frozenset({"source", "source_level"})
#: DisputeCase requires these; every mapping must say where they come from
REQUIRED_FIELDS = ("source_record_id", "category_code", "county_code", "town_code",
                   "occurred_at")

PARTY_TARGETS: dict[str, Target] = {
    "seq": _INT, "role": _coded("text", "Role", Role),
    "kind": _coded("text", "PartyKind", PartyKind), "name": _TEXT,
    "gender": _coded("int", "Gender", Gender), "id_number": _SECRET,
    "id_number_masked": _SECRET, "credit_code": _SECRET, "phone": _SECRET, "address": _TEXT,
}
#: a party group's `id`: one column holding resident IDs and organisations' credit codes
PARTY_ID = Target("text", sensitive=True)
PARTY_REQUIRED = ("role", "kind", "name")

EVENT_TARGETS: dict[str, Target] = {
    "seq": _INT, "action": _coded("text", "FlowAction", FlowAction), "at": _TIME,
    "from_level": _LEVEL, "to_level": _LEVEL, "org": _TEXT, "operator": _TEXT, "note": _TEXT,
}
EVENT_REQUIRED = ("action", "at")

#: code tables every mapping may use by name without declaring them
BUILTIN_TABLES: dict[str, dict[str, Scalar]] = {
    "@resolved_status": {s.value: s.is_resolved for s in CaseStatus},
}
DEFAULT_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
NAME_SUFFIXES: dict[str, tuple[str, ...]] = {
    "village": ("村民委员会", "村委会", "社区居委会", "居委会", "社区", "村"),
    "township": ("街道办事处", "街道", "人民政府", "镇", "乡"),
}
ORIGIN = "@origin"


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the key."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


# -- the file's structure ---------------------------------------------------------------
def _shorthand(value: object) -> object:
    """`"col"` is short for `{ from = "col" }`."""
    return {"from": value} if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Expr(_Strict):
    """How one canonical value is made: a source, then optional steps, in this order:
    match → split → map → convert to the target's kind → lookup/check → format."""

    from_: str | None = Field(None, alias="from")
    field: str | None = None
    const: Scalar | None = None
    first: tuple[ExprIn, ...] | None = None
    key: tuple[ExprIn, ...] | None = None
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
    format: str | None = None
    lookup: Literal["village", "township"] | None = None
    within: str | None = None
    strip_suffixes: tuple[str, ...] | None = None
    check: Literal["grid", "village", "township", "county"] | None = None
    reason: Literal["bad_value", "bad_division", "unknown_code", "bad_identifier"] | None = None
    required: bool = False
    align: Literal["all", "persons"] = "all"

    @model_validator(mode="after")
    def _consistent(self) -> Expr:
        sources = [k for k in ("from_", "field", "const", "first", "key")
                   if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of from, field, const, first, key "
                             f"(got {', '.join(s.rstrip('_') for s in sources) or 'none'})")
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
        if self.epoch and self.formats is not None:
            raise ValueError("give `epoch` or `formats`, not both")
        if self.first is not None and any(e.required for e in self.first):
            raise ValueError("`required` belongs on the whole expression, not on an "
                             "alternative of `first`")
        for name in ("match", "year_from"):
            pattern = getattr(self, name)
            if pattern is not None:
                _check_regex(pattern)
        return self


ExprIn = Annotated[Expr, BeforeValidator(_shorthand)]
Expr.model_rebuild()


def _check_regex(pattern: str) -> None:
    """Python and DuckDB (RE2) must both accept it: RE2 has no lookaround or backrefs."""
    try:
        re.compile(pattern)
        duckdb.execute("SELECT regexp_matches('', ?)", [pattern])
    except (re.error, duckdb.Error) as e:
        raise ValueError(f"bad regular expression {pattern!r}: {e}") from None


class Header(_Strict):
    source: SourceName
    #: globs over the raw records' origin (fnmatch; `*` also matches `/`)
    applies_to: tuple[str, ...] = Field(min_length=1)
    source_level: Level
    description: str = ""
    extends: str | None = None


class Columns(_Strict):
    #: column → other names a drifted feed sends it under
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: columns received and deliberately not used (known, so not drift)
    ignored: tuple[str, ...] = ()
    #: columns whose absence is normal (not drift)
    optional: tuple[str, ...] = ()


class PartyGroup(_Strict):
    """Parties of one layout: `json` (an array column) or `joined` (parallel lists)."""

    style: Literal["json", "joined"]
    from_: str | None = Field(None, alias="from")
    separator: str | None = None
    role: ExprIn | None = None
    kind: ExprIn | None = None
    name: ExprIn | None = None
    gender: ExprIn | None = None
    id: ExprIn | None = None
    id_number: ExprIn | None = None
    id_number_masked: ExprIn | None = None
    credit_code: ExprIn | None = None
    phone: ExprIn | None = None
    address: ExprIn | None = None

    @model_validator(mode="after")
    def _layout(self) -> PartyGroup:
        if self.style == "json" and (self.from_ is None or self.separator is not None):
            raise ValueError("a json party group needs `from` (the array column) and no "
                             "`separator`")
        if self.style == "joined" and (self.separator is None or self.from_ is not None):
            raise ValueError("a joined party group needs `separator` and no `from`")
        for name in ("name", "role"):
            if getattr(self, name) is None:
                raise ValueError(f"a party group needs `{name}`")
        return self

    def exprs(self) -> Iterator[tuple[str, Expr]]:
        for name in (*PARTY_TARGETS, "id"):
            expr = getattr(self, name, None)
            if isinstance(expr, Expr):
                yield name, expr


class Events(_Strict):
    """Flow events: one JSON array column, one element per step."""

    from_: str = Field(alias="from")
    action: ExprIn
    at: ExprIn
    from_level: ExprIn | None = None
    to_level: ExprIn | None = None
    org: ExprIn | None = None
    operator: ExprIn | None = None
    note: ExprIn | None = None

    def exprs(self) -> Iterator[tuple[str, Expr]]:
        for name in EVENT_TARGETS:
            expr = getattr(self, name, None)
            if isinstance(expr, Expr):
                yield name, expr


class Mapping(_Strict):
    """One source dialect, ready for the engine."""

    name: str
    file: str
    header: Header = Field(alias="mapping")
    columns: Columns = Field(default_factory=Columns)
    fields: dict[str, ExprIn]
    tables: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    parties: tuple[PartyGroup, ...] = ()
    events: Events | None = None

    @property
    def source(self) -> str:
        return self.header.source.value

    @property
    def applies_to(self) -> tuple[str, ...]:
        return self.header.applies_to

    @property
    def source_level(self) -> int:
        return int(self.header.source_level)

    def table(self, ref: str | dict[str, Scalar]) -> dict[str, Scalar]:
        if isinstance(ref, dict):
            return ref
        return BUILTIN_TABLES[ref] if ref.startswith("@") else self.tables[ref]

    def used_columns(self) -> list[str]:
        """Top-level source columns the mapping reads, in declaration order."""
        seen: dict[str, None] = {}
        for _, expr in self.fields.items():
            for e in walk(expr):
                if e.from_ and e.from_ != ORIGIN:
                    seen[e.from_] = None
        for group in self.parties:
            if group.style == "json":
                seen[group.from_] = None  # type: ignore[index]
            else:
                for _, expr in group.exprs():
                    for e in walk(expr):
                        if e.from_:
                            seen[e.from_] = None
        if self.events:
            seen[self.events.from_] = None
        return list(seen)

    def expected_columns(self) -> list[str]:
        """Columns a batch should have: the used and the deliberately ignored ones."""
        return list(dict.fromkeys([*self.used_columns(), *self.columns.ignored]))


def walk(expr: Expr) -> Iterator[Expr]:
    """The expression and every expression nested in it."""
    yield expr
    for sub in (*(expr.first or ()), *(expr.key or ())):
        yield from walk(sub)


# -- loading ----------------------------------------------------------------------------
def load_mappings(folder: Path | Traversable) -> list[Mapping]:
    """Every mapping file (*.toml) of `folder` (a pack's mappings/), validated."""
    raw: dict[str, tuple[str, dict[str, Any]]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            raw[entry.name.removesuffix(".toml")] = (str(entry), _read(entry))
    return [_build(name, raw[name][0], _resolve(name, raw, ())) for name in raw]


def _read(entry: Traversable) -> dict[str, Any]:
    try:
        return tomllib.loads(entry.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MappingError(str(entry), "", f"not valid TOML: {e}") from None


def _resolve(name: str, raw: dict[str, tuple[str, dict[str, Any]]],
             chain: tuple[str, ...]) -> dict[str, Any]:
    file, data = raw[name]
    parent = (data.get("mapping") or {}).get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str) or parent not in raw:
        raise MappingError(file, "mapping.extends", f"no mapping {parent!r} to extend (known: "
                           f"{', '.join(sorted(raw))})")
    if parent in (*chain, name):
        raise MappingError(file, "mapping.extends", "extends itself through "
                           + " → ".join((*chain, name, parent)))
    return _merge(_resolve(parent, raw, (*chain, name)), data)


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """A child replaces whole entries: a field, a code table, a header key; `parties` and
    `events` are replaced as a whole when the child has them."""
    out = dict(parent)
    for section, value in child.items():
        if section in ("mapping", "columns", "fields", "tables") and isinstance(value, dict):
            out[section] = {**(parent.get(section) or {}), **value}
        else:
            out[section] = value
    return out


def _build(name: str, file: str, data: dict[str, Any]) -> Mapping:
    try:
        mapping = Mapping.model_validate({**data, "name": name, "file": file})
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise MappingError(file, key.replace("from_", "from"),
                           err["msg"].removeprefix("Value error, ") + more) from None
    _Checker(mapping).run()
    return mapping


def load_mapping(path: Path) -> Mapping:
    """One mapping file (its `extends` resolved among the files beside it)."""
    wanted = path.name.removesuffix(".toml")
    for mapping in load_mappings(path.parent):
        if mapping.name == wanted:
            return mapping
    raise MappingError(str(path), "", "no such mapping file")


def select_mapping(mappings: Sequence[Mapping], source: str, origin: str) -> Mapping:
    """The mapping of `source` whose `applies_to` glob matches `origin` most specifically
    (most literal characters); a tie between two mappings is an error."""
    best: list[tuple[int, Mapping]] = []
    for m in mappings:
        if m.source != source:
            continue
        scores = [_specificity(g) for g in m.applies_to if fnmatch.fnmatchcase(origin, g)]
        if scores:
            best.append((max(scores), m))
    if not best:
        raise MappingError("mappings", "", f"no mapping of source {source!r} "
                           f"applies to origin {origin!r}")
    best.sort(key=lambda x: -x[0])
    if len(best) > 1 and best[0][0] == best[1][0]:
        raise MappingError(best[0][1].file, "mapping.applies_to", f"origin {origin!r} is "
                           f"matched equally well by {best[0][1].name} and {best[1][1].name}")
    return best[0][1]


def _specificity(glob: str) -> int:
    return len(re.sub(r"\[[^\]]*\]|[*?]", "", glob))


# -- checks against the canonical targets -----------------------------------------------
class _Checker:
    """Semantic checks of a structurally valid mapping."""

    def __init__(self, mapping: Mapping) -> None:
        self.m = mapping

    def fail(self, key: str, problem: str) -> MappingError:
        return MappingError(self.m.file, key, problem)

    def run(self) -> None:
        m = self.m
        for name in m.fields:
            if name not in CASE_TARGETS or name in HEADER_FIELDS:
                hint = " (set in [mapping])" if name in HEADER_FIELDS else ""
                raise self.fail(f"fields.{name}", f"not a field of DisputeCase{hint}")
        for name in REQUIRED_FIELDS:
            if name not in m.fields:
                raise self.fail("fields", f"DisputeCase requires `{name}`: map it")
        for name, expr in m.fields.items():
            self.expr(expr, CASE_TARGETS[name], f"fields.{name}", fields=True)
        self.field_order()
        for i, group in enumerate(m.parties):
            if group.style == "joined" and (group.name is None or group.name.from_ is None
                                            or group.name.split is not None):
                raise self.fail(f"parties.{i}.name", "a joined group counts its parties in "
                                "the name column: `name` must read a column (`from`)")
            for name, expr in group.exprs():
                target = PARTY_ID if name == "id" else PARTY_TARGETS[name]
                key = f"parties.{i}.{name}"
                if expr.align == "persons" and (group.style != "joined"
                                                or name in ("name", "id", "kind", "role")):
                    raise self.fail(key, "`align = \"persons\"` is for the other columns of "
                                    "a joined group (e.g. phones listed for persons only)")
                self.expr(expr, target, key, fields=False)
        if m.events:
            for name, expr in m.events.exprs():
                self.expr(expr, EVENT_TARGETS[name], f"events.{name}", fields=False)
        for column in m.columns.aliases:
            if column not in m.used_columns():
                raise self.fail(f"columns.aliases.{column}", "aliases a column no field uses")

    def expr(self, e: Expr, target: Target, key: str, *, fields: bool) -> None:
        if e.field is not None:
            if not fields:
                raise self.fail(key, "`field` refers to case fields; parties and events "
                                "cannot use it")
            if e.field not in self.m.fields:
                raise self.fail(key + ".field", f"no field {e.field!r} in this mapping")
        if e.within is not None and e.within not in self.m.fields:
            raise self.fail(key + ".within", f"no field {e.within!r} in this mapping")
        if e.from_ == ORIGIN and not fields:
            raise self.fail(key + ".from", "@origin is only for case fields")
        if e.align != "all" and not key.startswith("parties."):
            raise self.fail(key + ".align", "`align` is for joined party groups")
        produced = self.produced_kind(e, key)
        if e.const is not None and e.format is None and produced == target.kind \
                and not _fits(e.const, target):
            raise self.fail(key + ".const", f"{e.const!r} is not "
                            f"{'one of ' + target.code_list if target.values else 'valid here'}")
        if e.map is not None:
            self.table_fits(e, target if e.format is None else _TEXT, key)
        wants_time = target.kind == "time" and e.format is None
        if (e.formats is not None or e.epoch) and not wants_time:
            raise self.fail(key, "`formats`/`epoch` make a date/time; this field is "
                            f"{target.kind}")
        if e.year_from is not None and all("%Y" in f for f in e.formats or ()):
            raise self.fail(key + ".year_from", "every format has %Y: nothing to complete")
        if e.format is not None and produced != "time":
            raise self.fail(key + ".format", "`format` renders a date/time as text")
        if (e.lookup or e.check) and target.kind != "text":
            raise self.fail(key, "`lookup`/`check` give division codes (text)")
        for i, sub in enumerate(e.first or ()):
            self.expr(sub, target, f"{key}.first.{i}", fields=fields)
        for i, sub in enumerate(e.key or ()):
            self.expr(sub, _TEXT, f"{key}.key.{i}", fields=fields)
        if e.key is not None and target.kind != "text":
            raise self.fail(key, "`key` makes text")

    def produced_kind(self, e: Expr, key: str) -> str:
        """The kind of value the source steps hand to the conversion."""
        if e.map is not None:
            return _table_kind(self.table_or_fail(e, key), self.fail(key + ".map", "mixes "
                                                                     "value types"))
        if e.field is not None and not (e.match or e.split):
            return CASE_TARGETS[e.field].kind
        if e.const is not None:
            return _scalar_kind(e.const)
        return "text"

    def table_or_fail(self, e: Expr, key: str) -> dict[str, Scalar]:
        ref = e.map
        assert ref is not None
        if isinstance(ref, str) and ref not in self.m.tables and ref not in BUILTIN_TABLES:
            raise self.fail(key + ".map", f"no code table {ref!r} (declared: "
                            f"{', '.join(sorted(self.m.tables)) or 'none'})")
        table = self.m.table(ref)
        if not table:
            raise self.fail(key + ".map", "the code table is empty")
        return table

    def table_fits(self, e: Expr, target: Target, key: str) -> None:
        table = self.table_or_fail(e, key)
        where = e.map if isinstance(e.map, str) else "inline"
        values = [*table.values(), *([e.default] if e.default is not None else [])]
        for value in values:
            if not _fits(value, target):
                allowed = (f"one of {target.code_list}" if target.values is not None
                           else f"a {target.kind} value")
                raise self.fail(key + ".map", f"code table {where} gives {value!r}, which is "
                                f"not {allowed}")

    def field_order(self) -> None:
        """Fields may refer to fields, but not in a circle."""
        deps = {name: {e.field or "" for e in walk(x) if e.field} | {e.within or "" for e in
                                                                     walk(x) if e.within}
                for name, x in self.m.fields.items()}
        done: set[str] = set()

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in done:
                return
            if name in path:
                raise self.fail(f"fields.{name}", "refers to itself through "
                                + " → ".join((*path[path.index(name):], name)))
            for dep in deps[name]:
                visit(dep, (*path, name))
            done.add(name)

        for name in deps:
            visit(name, ())


def _scalar_kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return "float" if isinstance(value, float) else "text"


def _table_kind(table: dict[str, Scalar], error: MappingError) -> str:
    kinds = {_scalar_kind(v) for v in table.values()}
    if len(kinds) != 1:
        raise error
    return kinds.pop()


def _fits(value: Scalar, target: Target) -> bool:
    kind = _scalar_kind(value)
    if target.values is not None:
        return kind == target.kind and value in target.values
    if target.kind in ("decimal", "float"):
        return kind in ("int", "float", "text")
    if target.kind == "time":
        return kind == "text"
    return kind == target.kind
