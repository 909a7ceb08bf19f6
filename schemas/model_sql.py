"""SQL builders for the checks a model's own validators make, for the set-based checks.

conform.set_checks compiles the models' field checks itself; a model's validators it
takes, by name, from the pack's contract (`Contract.model_checks`), which a pack builds
from these functions with its own column names (the dispute pack: packs/disputes/
model_sql.py). The quality gate runs the scope checks too (quality.batch). Each builder
returns a condition over a record's columns, true for the records the check accepts.
Beside a record's own columns they may read its receipt (RECEIVED_AT), the latest time
of its child rows (LATEST_CHILD_AT) and the reference registry's codes (REGISTRY_VIEW:
code, kind), which the query that runs them provides.
"""

# Identifiers are the models' field names; literals the scope's division codes.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

from .scope import RECEIVED_AT, Scope

#: the latest time of a record's child rows, aggregated beside the record
LATEST_CHILD_AT = "_latest_child_at"
#: the registry's codes (code, kind), as validation reads them
REGISTRY_VIEW = "_registry"
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Nested:
    """A coded column whose code starts with its parent column's code (a division within
    a wider one); `optional` columns may be NULL, and nest nothing then."""

    column: str
    optional: bool = False


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _covers(scope: Scope, x: str) -> str:
    """Scope.covers on the code `x`."""
    if scope.divisions is None:
        return "true"
    return "(" + " OR ".join(f"starts_with({x}, {_text(p)}) OR starts_with({_text(p)}, {x})"
                             for p in scope.divisions) + ")"


def _all(conditions: Sequence[str]) -> str:
    return " AND ".join(conditions) if conditions else "true"


def in_scope(scope: Scope, columns: Sequence[str], prefix: str = "") -> str:
    """Scope.covers on every coded column in `columns` (named with `prefix`) that holds
    a code."""
    return _all([f"({prefix}{c} IS NULL OR {_covers(scope, prefix + c)})" for c in columns])


def not_in_future(scope: Scope, columns: Sequence[str], prefix: str = "",
                  child_time: str | None = LATEST_CHILD_AT) -> str:
    """No time in `columns` (named with `prefix`), nor `child_time`, later than the
    record's receipt plus the tolerance (no receipt known: not checked); reads
    RECEIVED_AT beside the record."""
    if scope.future_tolerance is None:
        return "true"
    micros = scope.future_tolerance // _MICROSECOND
    latest = f"({RECEIVED_AT} + to_microseconds({micros}))"
    times = (*(prefix + t for t in columns), *((child_time,) if child_time else ()))
    return _all([f"NOT coalesce({t} > {latest}, false)" for t in times])


def in_order(columns: Sequence[str]) -> str:
    """No time in `columns` earlier than one before it (NULLs are not compared)."""
    pairs = [(a, b) for i, a in enumerate(columns) for b in columns[i + 1:]]
    return _all([f"NOT coalesce({b} < {a}, false)" for a, b in pairs])


def nest(chain: Sequence[Nested]) -> str:
    """Each coded column of `chain` (widest first) starts with the code of the one
    before it, where both hold a code."""
    conditions = []
    for parent, child in pairwise(chain):
        nulls = "".join(f"{c.column} IS NULL OR " for c in (child, parent) if c.optional)
        held = f"starts_with({child.column}, {parent.column})"
        conditions.append(f"({nulls}{held})" if nulls else held)
    return _all(conditions)


def registered(scope: Scope, column: Nested, kind: str,
               judged_within: tuple[str, int] | None = None) -> str:
    """The code in `column` is one of the registry's codes of `kind`. The registry
    judges codes inside the scope only; with `judged_within` = (column, n) only where
    it holds codes of `kind` whose first n characters are that column's code (a
    registry that speaks for some wider divisions only)."""
    unjudged = [f"{column.column} IS NULL"] if column.optional else []
    unjudged.append(f"NOT {_covers(scope, column.column)}")
    if judged_within is not None:
        wider, width = judged_within
        unjudged.append(f"{wider} NOT IN (SELECT left(code, {width}) FROM {REGISTRY_VIEW} "
                        f"WHERE kind = {_text(kind)})")
    return (f"({' OR '.join(unjudged)} OR {column.column} IN "
            f"(SELECT code FROM {REGISTRY_VIEW} WHERE kind = {_text(kind)}))")
