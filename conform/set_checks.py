"""The shared models' checks, compiled into set-based SQL.

Validating record by record in pydantic costs about 250 µs a record here (nested parties
and events, Python validators), which caps a backfill near 4,000 records/s. Most records
are clean, so this module asks a cheaper question first, in one DuckDB query per table
over the conformed Arrow tables: would pydantic accept this record exactly as it is?

The answer is compiled from the models themselves (`DisputeCase`, `Party`, `FlowEvent`):
field types, enums, length and range constraints, patterns, and each custom check the
models attach (schemas.checks). The normalisations the sources need in bulk (legacy
15-digit IDs, a lowercase x, +86 phone prefixes) are done in SQL first. It is
deliberately conservative: a record is `clean` only when every value is then in its normal
form and passes every check. Anything else (failures, but also values pydantic would
normalise in ways the SQL does not: padded text, full-width digits) goes through
pydantic, which decides and writes the exact messages. A check the compiler does not know
raises `UncompiledCheck` instead of being skipped, so a new validator on the models
cannot slip past the fast path.

tests/conform/test_set_checks.py proves both paths agree record for record on the mock
world and on hypothesis-generated records.
"""

# Every identifier below comes from the models' field names and every literal from their
# code lists (through _lit), so building SQL from strings is the point here.
# ruff: noqa: S608

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

import annotated_types as at
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, StringConstraints
from pydantic.fields import FieldInfo

from schemas import checks
from schemas.codes import CATEGORIES
from schemas.identifiers import ORG_ALPHABET, ORG_WEIGHTS
from schemas.models import DIVISION_FIELDS, TIME_ORDER, TIMES, DisputeCase, FlowEvent, Party
from schemas.reasons import Reason
from schemas.scope import UNSCOPED, Scope


class UncompiledCheck(RuntimeError):
    """A model check with no SQL form: add one here before the fast path may skip it."""


# Everything pydantic's strip (Rust's White_Space) or Python's str.strip would remove,
# and a few invisible characters besides: text starting or ending with one is not clean.
_EDGE_SPACE = (r"[\t\n\x0b\x0c\r \x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200b}"
               r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}]")


# GB 11643 and GB 32100 weights (python-stdnum keeps its own private; schemas.identifiers
# has the GB 11714 ones)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


_MICROSECOND = timedelta(microseconds=1)


def _lit(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _weighted(x: str, weights: tuple[int, ...], value: str) -> str:
    """Σ value(char i) × weight i over the first len(weights) characters of x."""
    return " + ".join(f"{w} * ({value.format(c=f'substr({x}, {i + 1}, 1)')})"
                      for i, w in enumerate(weights))


def _check_char(first17: str) -> str:
    digit = "ascii({c}) - 48"
    return f"substr('10X98765432', (({_weighted(first17, _ID_WEIGHTS, digit)}) % 11) + 1, 1)"


def _shape(x: str, pattern: re.Pattern[str]) -> str:
    # the checks' own shape regexes; they are re.ASCII, so \d is exactly [0-9]
    return f"regexp_full_match({x}, {_lit(_ascii_digits(pattern.pattern))})"


def _resident_id(x: str) -> str:
    check = _check_char(x)
    birth = f"try_strptime(substr({x}, 7, 8), '%Y%m%d')"
    return (f"({_shape(x, checks.ID18)} "
            f"AND year({birth}) BETWEEN 1870 AND 2100 "
            f"AND strftime({birth}, '%Y%m%d') = substr({x}, 7, 8) "
            f"AND substr({x}, 18, 1) = {check})")


def _credit_code(x: str) -> str:
    alphabet = checks.USCC_ALPHABET
    uscc_value = f"strpos('{alphabet}', {{c}}) - 1"
    uscc_check = (f"substr('{alphabet}', ((31 - ({_weighted(x, _USCC_WEIGHTS, uscc_value)}) "
                  "% 31) % 31) + 1, 1)")
    org = f"substr({x}, 9, 8)"
    org_value = f"strpos('{ORG_ALPHABET}', {{c}}) - 1"
    org_check = (f"substr('123456789X0', 11 - (({_weighted(org, ORG_WEIGHTS, org_value)}) "
                 "% 11), 1)")
    return (f"(regexp_full_match({x}, '[{alphabet}]{{2}}[0-9]{{6}}[{alphabet}]{{10}}') "
            f"AND substr({x}, 17, 1) = {org_check} AND substr({x}, 18, 1) = {uscc_check})")


def _normal_resident_id(x: str) -> str:
    # the two shapes normalize_resident_id changes that the sources send in bulk: legacy
    # 15-digit IDs (upgraded: '19' inserted, check character added) and a lowercase x
    first17 = f"(left({x}, 6) || '19' || substr({x}, 7))"
    return (f"CASE WHEN regexp_full_match({x}, '[0-9]{{15}}') "
            f"THEN {first17} || {_check_char(first17)} "
            f"WHEN regexp_full_match({x}, '[0-9]{{17}}x') THEN upper({x}) ELSE {x} END")


def _normal_phone(x: str) -> str:
    # normalize_phone drops a +86 / 0086 prefix and the space or dash after it
    return (f"CASE WHEN regexp_full_match({x}, '(\\+86|0086)[ -]?1[3-9][0-9]{{9}}') "
            f"THEN right({x}, 11) ELSE {x} END")


def _phone(x: str) -> str:
    return f"({_shape(x, checks.MOBILE)} OR {_shape(x, checks.LANDLINE)})"


def _division(digits: int) -> Any:
    return lambda x: f"regexp_full_match({x}, '[0-9]{{{digits}}}')"


def _moment(x: str) -> str:
    return (f"({x} >= TIMESTAMPTZ '{checks.EARLIEST.isoformat()}' "
            f"AND {x} < TIMESTAMPTZ '{checks.LATEST.isoformat()}')")


def _text(x: str) -> str:
    # the mojibake check runs in Python (no SQL engine decodes GB18030): its verdicts
    # arrive as the table _mojibake (value), see garbled_texts
    return f"{x} NOT IN (SELECT value FROM _mojibake)"


# custom validators → their SQL form, by the function the model attaches
_AFTER = {
    checks.check_text: _text,
    checks.check_resident_id: _resident_id,
    checks.check_credit_code: _credit_code,
    checks.check_phone: _phone,
    checks.check_category: lambda x: f"{x} IN ({', '.join(_lit(c) for c in CATEGORIES)})",
    checks.check_moment: _moment,
}


# the normalisers (BeforeValidators) the models use → the SQL of the shapes they change
# that the SQL path normalises too; any other value they would change is not clean
_BEFORE = {
    checks.normalize_resident_id: _normal_resident_id,
    checks.normalize_credit_code: None,
    checks.normalize_phone: _normal_phone,
}


@dataclass(frozen=True)
class FieldChecks:
    """One model field's conditions on a column `x`, all of which a clean value meets."""

    name: str
    required: bool
    conditions: tuple[str, ...]
    text: bool  # checked for mojibake
    #: SQL turning the column into its normal form (checks apply to the result)
    normal: str | None = None

    def sql(self) -> str:
        q = f'"{self.name}"'
        cond = " AND ".join(c.replace("{x}", q) for c in self.conditions) or "true"
        if self.required:
            return f"coalesce({q} IS NOT NULL AND ({cond}), false)"
        return f"coalesce({q} IS NULL OR ({cond}), false)"


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """(base type, Annotated metadata) of a field annotation, `| None` taken off."""
    metadata: list[Any] = []
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise UncompiledCheck(f"union {annotation} has no SQL form")
        annotation = args[0]
    if typing.get_origin(annotation) is Annotated:
        annotation, *metadata = typing.get_args(annotation)
    return annotation, metadata


def compile_field(model: type[BaseModel], name: str, info: FieldInfo) -> FieldChecks:
    base, metadata = _unwrap(info.annotation)
    metadata = [*metadata, *info.metadata]
    conds: list[str] = []
    text = False
    normal = None
    max_length = model.model_config.get("str_max_length") if base is str else None
    if isinstance(base, type) and issubclass(base, enum.Enum):
        conds.append("{x} IN (" + ", ".join(_lit(m.value) for m in base) + ")")
    elif base not in (str, int, float, bool, Decimal, AwareDatetime):
        raise UncompiledCheck(f"{model.__name__}.{name}: type {base} has no SQL form")
    for m in metadata:
        if isinstance(m, StringConstraints):
            if m.to_upper or m.to_lower or m.pattern or m.ascii_only or m.strict:
                raise UncompiledCheck(f"{model.__name__}.{name}: {m} has no SQL form")
            if m.strip_whitespace:
                conds.append(f"NOT regexp_matches({{x}}, '^{_EDGE_SPACE}|{_EDGE_SPACE}$')")
            if m.min_length is not None:
                conds.append(f"length({{x}}) >= {m.min_length}")
            if m.max_length is not None:
                conds.append(f"length({{x}}) <= {m.max_length}")
        elif isinstance(m, at.MinLen):
            conds.append(f"length({{x}}) >= {m.min_length}")
        elif isinstance(m, at.MaxLen):
            conds.append(f"length({{x}}) <= {m.max_length}")
        elif isinstance(m, at.Ge):
            conds.append(f"{{x}} >= {_lit(m.ge)}")
        elif isinstance(m, at.Le):
            conds.append(f"{{x}} <= {_lit(m.le)}")
        elif isinstance(m, AfterValidator):
            conds.append(_after(model, name, m.func)("{x}"))
            text = text or m.func is checks.check_text
        elif isinstance(m, BeforeValidator):
            if m.func not in _BEFORE:
                raise UncompiledCheck(f"{model.__name__}.{name}: normaliser {m.func} has no "
                                      "SQL form")
            if _BEFORE[m.func] is not None:
                normal = _BEFORE[m.func](f'"{name}"')
        elif type(m).__name__ == "_PydanticGeneralMetadata":
            conds.extend(_general(model, name, vars(m)))
        else:
            raise UncompiledCheck(f"{model.__name__}.{name}: {m!r} has no SQL form")
    if max_length is not None:
        conds.append(f"length({{x}}) <= {max_length}")
    return FieldChecks(name, info.is_required(), tuple(conds), text, normal)


def _after(model: type[BaseModel], name: str, func: Any) -> Any:
    if func in _AFTER:
        return _AFTER[func]
    digits = getattr(func, "digits", None)
    if digits is not None:  # schemas.checks.division_checker
        return _division(digits)
    raise UncompiledCheck(f"{model.__name__}.{name}: validator {func.__qualname__} has no "
                          "SQL form")


def _general(model: type[BaseModel], name: str, meta: dict[str, Any]) -> list[str]:
    out = []
    for key, value in meta.items():
        if key == "pattern":
            out.append(f"regexp_full_match({{x}}, {_lit(_ascii_digits(value))})")
        elif key in ("max_digits", "decimal_places"):
            pass  # checked against the column's DECIMAL type in compile_model
        else:
            raise UncompiledCheck(f"{model.__name__}.{name}: {key}={value} has no SQL form")
    return out


def _ascii_digits(pattern: str) -> str:
    """The pattern with \\d as ASCII digits (pydantic's \\d is Unicode: full-width digits
    are then not clean, and pydantic decides them)."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        if pattern.startswith("\\d", i):
            out.append("0-9" if in_class else "[0-9]")
            i += 2
            continue
        if pattern[i] == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        in_class = (in_class or pattern[i] == "[") and pattern[i] != "]"
        out.append(pattern[i])
        i += 1
    return "".join(out)


# -- the model-level validators, by name ------------------------------------------------
#: the columns the scope checks read beside a case's own: its record's receipt and its
#: latest event (the query that runs them provides both)
RECEIVED_AT, LAST_EVENT_AT = "_received_at", "_last_event_at"


def _times_in_order() -> str:
    pairs = [(a, b) for i, a in enumerate(TIME_ORDER) for b in TIME_ORDER[i + 1:]]
    return " AND ".join(f"NOT coalesce({b} < {a}, false)" for a, b in pairs)


def _covers(scope: Scope, x: str) -> str:
    """Scope.covers on the code `x`."""
    if scope.divisions is None:
        return "true"
    return "(" + " OR ".join(f"starts_with({x}, {_lit(p)}) OR starts_with({_lit(p)}, {x})"
                             for p in scope.divisions) + ")"


def divisions_in_scope(scope: Scope, prefix: str = "") -> str:
    """Scope.covers on every division code of a case (columns named with `prefix`)."""
    return " AND ".join(f"({prefix}{f} IS NULL OR {_covers(scope, prefix + f)})"
                        for f in DIVISION_FIELDS)


def times_not_in_future(scope: Scope, prefix: str = "") -> str:
    """No time of a case or of its events later than its receipt plus the tolerance (no
    receipt known: not checked); reads RECEIVED_AT and LAST_EVENT_AT beside the case."""
    if scope.future_tolerance is None:
        return "true"
    micros = scope.future_tolerance // _MICROSECOND
    latest = f"({RECEIVED_AT} + to_microseconds({micros}))"
    return " AND ".join(f"NOT coalesce({t} > {latest}, false)"
                        for t in (*(prefix + t for t in TIMES), LAST_EVENT_AT))


def _divisions_nest(with_registry: bool, scope: Scope) -> str:
    nest = ("starts_with(town_code, county_code) "
            "AND (village_code IS NULL OR starts_with(village_code, town_code)) "
            "AND (grid_code IS NULL OR village_code IS NULL "
            "OR starts_with(grid_code, village_code))")
    if not with_registry:
        return nest
    # the registry judges the codes inside the scope only
    return (f"{nest} AND (NOT {_covers(scope, 'town_code')} OR town_code IN "
            "(SELECT code FROM _registry WHERE kind = 'township')) "
            f"AND (village_code IS NULL OR NOT {_covers(scope, 'village_code')} "
            "OR county_code NOT IN (SELECT left(code, 6) FROM _registry WHERE kind = 'village') "
            "OR village_code IN (SELECT code FROM _registry WHERE kind = 'village')) "
            f"AND (grid_code IS NULL OR NOT {_covers(scope, 'grid_code')} OR grid_code IN "
            "(SELECT code FROM _registry WHERE kind = 'grid'))")


# model validators the SQL covers; WGS84 is added in Python (conform.validate._wgs84)
_MODEL_VALIDATORS = {
    DisputeCase: {"_divisions_in_scope", "_times_not_in_future", "_times_in_order",
                  "_divisions_nest", "_wgs84_from_the_source_datum"},
    Party: set(), FlowEvent: set(),
}
# fields the conformed tables do not carry: the nested models, and WGS84 made in Python
_NOT_COLUMNS = {"parties", "events", "lon_wgs84", "lat_wgs84"}


@dataclass(frozen=True)
class CompiledModel:
    fields: tuple[FieldChecks, ...]
    model_checks: tuple[str, ...]

    def text_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.text]

    def normalising(self, relation: str) -> str | None:
        """SQL giving `relation` with its normalised fields in normal form (None: none)."""
        changed = [f'{f.normal} AS "{f.name}"' for f in self.fields if f.normal]
        return f"SELECT * REPLACE ({', '.join(changed)}) FROM {relation}" if changed else None

    def predicate(self) -> str:
        return " AND ".join([*(f.sql() for f in self.fields),
                             *(f"coalesce({c}, false)" for c in self.model_checks)])


def compile_model(model: type[BaseModel], schema: pa.Schema, with_registry: bool,
                  scope: Scope = UNSCOPED) -> CompiledModel:
    """The model's checks on a table of `schema` (the conform engine's output for it),
    with the registry's and the `scope`'s where asked for."""
    decorators = model.__pydantic_decorators__
    known = set(decorators.model_validators)
    if known != _MODEL_VALIDATORS.get(model, set()) or decorators.field_validators:
        raise UncompiledCheck(f"{model.__name__}'s validators changed: "
                              f"{sorted(known)} — teach conform.set_checks their SQL form")
    columns = set(schema.names) - {"_rid"}
    fields = {n: i for n, i in model.model_fields.items() if n not in _NOT_COLUMNS}
    if columns != set(fields):
        raise UncompiledCheck(f"{model.__name__}: table columns {sorted(columns ^ set(fields))} "
                              "do not match the model's fields")
    for name, info in fields.items():
        if _unwrap(info.annotation)[0] is Decimal:
            kind = schema.field(name).type
            meta = {k: v for m in info.metadata if type(m).__name__ == "_PydanticGeneralMetadata"
                    for k, v in vars(m).items()}
            if not (pa.types.is_decimal(kind) and kind.precision <= meta.get("max_digits", 38)
                    and kind.scale <= meta.get("decimal_places", 38)):
                raise UncompiledCheck(f"{model.__name__}.{name}: column type {kind} may hold "
                                      "values its digit limits refuse")
    model_checks: tuple[str, ...] = ()
    if model is DisputeCase:
        # a flagged scope check lets its records through (the batch gate counts them)
        model_checks = (
            divisions_in_scope(scope) if scope.quarantines(Reason.OUT_OF_SCOPE) else "true",
            times_not_in_future(scope) if scope.quarantines(Reason.IN_FUTURE) else "true",
            _times_in_order(), _divisions_nest(with_registry, scope))
    return CompiledModel(tuple(compile_field(model, n, i) for n, i in fields.items()),
                         model_checks)


def garbled_texts(tables: Iterable[tuple[pa.Table, list[str]]]) -> pa.Table:
    """The distinct non-ASCII values of the given text columns that are mojibake."""
    values: set[str] = set()
    for table, names in tables:
        for name in names:
            column = table.column(name)
            column = column.filter(pc.invert(pc.fill_null(pc.string_is_ascii(column), True)))
            values.update(pc.unique(column).to_pylist())  # nulls were filtered out
    return pa.table({"value": pa.array(sorted(v for v in values if checks.is_mojibake(v)),
                                       pa.string())})
