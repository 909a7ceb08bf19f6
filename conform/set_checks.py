"""A pack's model checks, compiled into set-based SQL.

Validating record by record in pydantic costs about 250 µs a record here (nested child
rows, Python validators), which caps a backfill near 4,000 records/s. Most records are
clean, so this module asks a cheaper question first, in one DuckDB query per table over
the conformed Arrow tables: would pydantic accept this record exactly as it is?

The answer is compiled from the contract's models themselves: field types, enums, length
and range constraints, patterns, and each check function the models attach (their SQL
forms, keyed by the function, are in conform.check_sql; a code list behind a function
comes from the contract). A model's own validators come as SQL from the contract
(`Contract.model_checks`). The normalisations the sources need in bulk (legacy 15-digit
IDs, a lowercase x, +86 before mobile numbers) are done in SQL first. It is deliberately
conservative: a record is `clean` only when every value is then in its normal form and
passes every check. Anything else (failures, but also values pydantic would normalise
in ways the SQL does not: padded text, full-width digits) goes through pydantic, which
decides and writes the exact messages. A check the compiler does not know raises
`UncompiledCheck` instead of being skipped, so a new validator on the models cannot
slip past the fast path.

tests/conform/test_set_checks.py proves both paths agree record for record on the mock
world and on hypothesis-generated records.
"""

# Every identifier below comes from the models' field names and every literal from their
# code lists (through lit), so building SQL from strings is the point here.
# ruff: noqa: S608

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import annotated_types
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, StringConstraints
from pydantic.fields import FieldInfo

from schemas import checks
from schemas.scope import RECEIVED_AT, UNSCOPED, Scope

from .check_sql import AFTER, BEFORE, ascii_digits, division, lit
from .contract import Contract
from .sql import ARROW_TYPES, DECIMAL_DIGITS
from .targets import unwrap

__all__ = ["RECEIVED_AT", "CompiledModel", "UncompiledCheck", "compile_model",
           "garbled_texts"]


class UncompiledCheck(RuntimeError):
    """A model check with no SQL form: add one before the fast path may skip it."""


# Everything pydantic's strip (Rust's White_Space) or Python's str.strip would remove,
# and a few invisible characters besides: text starting or ending with one is not clean.
_EDGE_SPACE = (r"[\t\n\x0b\x0c\r \x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200b}"
               r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}]")


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


def _base(model: type[BaseModel], name: str, info: FieldInfo) -> tuple[Any, list[Any]]:
    base, metadata = unwrap(info.annotation)
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        raise UncompiledCheck(f"{model.__name__}.{name}: union {base} has no SQL form")
    return base, [*metadata, *info.metadata]


def compile_field(model: type[BaseModel], name: str, info: FieldInfo,
                  contract: Contract) -> FieldChecks:
    base, metadata = _base(model, name, info)
    conds: list[str] = []
    text = False
    normal = None
    max_length = model.model_config.get("str_max_length") if base is str else None
    if isinstance(base, type) and issubclass(base, enum.Enum):
        conds.append("{x} IN (" + ", ".join(lit(m.value) for m in base) + ")")
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
        elif isinstance(m, annotated_types.MinLen):
            conds.append(f"length({{x}}) >= {m.min_length}")
        elif isinstance(m, annotated_types.MaxLen):
            conds.append(f"length({{x}}) <= {m.max_length}")
        elif isinstance(m, annotated_types.Ge):
            conds.append(f"{{x}} >= {lit(m.ge)}")
        elif isinstance(m, annotated_types.Le):
            conds.append(f"{{x}} <= {lit(m.le)}")
        elif isinstance(m, annotated_types.Gt):
            conds.append(f"{{x}} > {lit(m.gt)}")
        elif isinstance(m, annotated_types.Lt):
            conds.append(f"{{x}} < {lit(m.lt)}")
        elif isinstance(m, AfterValidator):
            conds.append(_after(model, name, m.func, contract)("{x}"))
            text = text or m.func is checks.check_text
        elif isinstance(m, BeforeValidator):
            if m.func not in BEFORE:
                raise UncompiledCheck(f"{model.__name__}.{name}: normaliser {m.func} has no "
                                      "SQL form")
            form = BEFORE[m.func]
            if form is not None:
                normal = form(f'"{name}"')
        elif type(m).__name__ == "_PydanticGeneralMetadata":
            conds.extend(_general(model, name, vars(m)))
        else:
            raise UncompiledCheck(f"{model.__name__}.{name}: {m!r} has no SQL form")
    if max_length is not None:
        conds.append(f"length({{x}}) <= {max_length}")
    return FieldChecks(name, info.is_required(), tuple(conds), text, normal)


def _after(model: type[BaseModel], name: str, func: Any, contract: Contract) -> Any:
    if func in AFTER:
        return AFTER[func]
    if func in contract.code_lists:  # a check that accepts a code list
        values = ", ".join(lit(v) for v in sorted(contract.code_lists[func].values))
        return lambda x: f"{x} IN ({values})"
    digits = getattr(func, "digits", None)
    if digits is not None:  # schemas.checks.division_checker
        return division(digits)
    raise UncompiledCheck(f"{model.__name__}.{name}: validator {func.__qualname__} has no "
                          "SQL form")


def _general(model: type[BaseModel], name: str, meta: dict[str, Any]) -> list[str]:
    out = []
    for key, value in meta.items():
        if key == "pattern":
            out.append(f"regexp_full_match({{x}}, {lit(ascii_digits(value))})")
        elif key in ("max_digits", "decimal_places"):
            pass  # checked against the column's DECIMAL type in compile_model
        else:
            raise UncompiledCheck(f"{model.__name__}.{name}: {key}={value} has no SQL form")
    return out


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


def compile_model(contract: Contract, model: type[BaseModel], schema: pa.Schema,
                  with_registry: bool, scope: Scope = UNSCOPED) -> CompiledModel:
    """The checks of `model` (the contract's root or a child group's model) on a table of
    `schema` (the conform engine's output for it), with the registry's and the `scope`'s
    where asked for."""
    decorators = model.__pydantic_decorators__
    known = set(decorators.model_validators)
    forms = contract.model_checks.get(model, {})
    if known != set(forms) or decorators.field_validators:
        raise UncompiledCheck(f"{model.__name__}'s validators changed: "
                              f"{sorted(known)} — give the contract their SQL form")
    # the nested groups and the fields the model makes itself are no columns
    skip = set()
    if model is contract.root:
        skip = {*contract.groups, *(contract.derived.outputs if contract.derived else ())}
    columns = set(schema.names) - {"_rid"}
    fields = {n: i for n, i in model.model_fields.items() if n not in skip}
    if columns != set(fields):
        raise UncompiledCheck(f"{model.__name__}: table columns {sorted(columns ^ set(fields))} "
                              "do not match the model's fields")
    for name, info in fields.items():
        if _base(model, name, info)[0] is Decimal:
            # the engine makes every decimal column of one type, whose digits must fit
            kind = schema.field(name).type
            meta = {k: v for m in info.metadata if type(m).__name__ == "_PydanticGeneralMetadata"
                    for k, v in vars(m).items()}
            digits, places = DECIMAL_DIGITS
            if not (kind == ARROW_TYPES["decimal"] and digits <= meta.get("max_digits", 38)
                    and places <= meta.get("decimal_places", 38)):
                raise UncompiledCheck(f"{model.__name__}.{name}: column type {kind} may hold "
                                      "values its digit limits refuse")
    model_checks = tuple(form(scope, with_registry) for form in forms.values() if form)
    return CompiledModel(tuple(compile_field(model, n, i, contract) for n, i in fields.items()),
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
