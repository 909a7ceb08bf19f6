"""DisputeCase's own validators (schemas.models) in SQL, for the set-based checks.

conform.set_checks compiles the models' field checks itself; a model's validators it
takes, by name, from the pack's contract (packs/disputes/conforming.py hands it `CASE_CHECKS`).
The quality gate reads the scope checks too (quality.batch). Each function is the SQL
twin of the validator of the same name: a condition over a case's columns, true for
the cases the validator accepts. Beside the case's own columns they read its record's
receipt (RECEIVED_AT), its latest event (LAST_EVENT_AT) and the registry's codes
(REGISTRY_VIEW: code, kind), which the query that runs them provides.
"""

# Identifiers are the models' field names; literals the scope's division codes.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from .models import DIVISION_FIELDS, TIME_ORDER, TIMES
from .reasons import Reason
from .scope import RECEIVED_AT, Scope

#: the latest time of a case's flow events, aggregated beside the case
LAST_EVENT_AT = "_last_event_at"
#: the registry's codes (code, kind: township | village | grid), as validation reads them
REGISTRY_VIEW = "_registry"
_MICROSECOND = timedelta(microseconds=1)


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _covers(scope: Scope, x: str) -> str:
    """Scope.covers on the code `x`."""
    if scope.divisions is None:
        return "true"
    return "(" + " OR ".join(f"starts_with({x}, {_text(p)}) OR starts_with({_text(p)}, {x})"
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


def times_in_order() -> str:
    pairs = [(a, b) for i, a in enumerate(TIME_ORDER) for b in TIME_ORDER[i + 1:]]
    return " AND ".join(f"NOT coalesce({b} < {a}, false)" for a, b in pairs)


def divisions_nest(with_registry: bool, scope: Scope) -> str:
    nest = ("starts_with(town_code, county_code) "
            "AND (village_code IS NULL OR starts_with(village_code, town_code)) "
            "AND (grid_code IS NULL OR village_code IS NULL "
            "OR starts_with(grid_code, village_code))")
    if not with_registry:
        return nest
    # the registry judges the codes inside the scope only
    registry = REGISTRY_VIEW
    return (f"{nest} AND (NOT {_covers(scope, 'town_code')} OR town_code IN "
            f"(SELECT code FROM {registry} WHERE kind = 'township')) "
            f"AND (village_code IS NULL OR NOT {_covers(scope, 'village_code')} "
            f"OR county_code NOT IN (SELECT left(code, 6) FROM {registry} "
            "WHERE kind = 'village') "
            f"OR village_code IN (SELECT code FROM {registry} WHERE kind = 'village')) "
            f"AND (grid_code IS NULL OR NOT {_covers(scope, 'grid_code')} OR grid_code IN "
            f"(SELECT code FROM {registry} WHERE kind = 'grid'))")


#: DisputeCase's model validators → their SQL (scope, with_registry → condition); a
#: flagged scope check lets its records through (the batch gate counts them). WGS84 is
#: made in Python by the validator itself (the contract's `derived`).
CASE_CHECKS: dict[str, Callable[[Scope, bool], str] | None] = {
    "_divisions_in_scope": lambda scope, _: (
        divisions_in_scope(scope) if scope.quarantines(Reason.OUT_OF_SCOPE) else "true"),
    "_times_not_in_future": lambda scope, _: (
        times_not_in_future(scope) if scope.quarantines(Reason.IN_FUTURE) else "true"),
    "_times_in_order": lambda _scope, _registry: times_in_order(),
    "_divisions_nest": lambda scope, with_registry: divisions_nest(with_registry, scope),
    "_wgs84_from_the_source_datum": None,
}
