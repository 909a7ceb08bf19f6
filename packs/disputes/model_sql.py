"""DisputeCase's own validators (models.py) in SQL, for the set-based checks.

Each entry is the SQL twin of the validator of the same name, built with the engine's
builders (schemas.model_sql) from the case's columns as models.py declares them: its
division codes (DIVISION_FIELDS, widest first, each within the one before) and its
times (TIME_ORDER, in life-cycle order; TIMES, none past the record's receipt). The
conform engine gets them through the contract (conforming.py); the quality gate runs
the scope checks on the same columns (`SCOPED`, handed over by the app layer).
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.model_sql import Nested, in_order, in_scope, nest, not_in_future, registered
from schemas.reasons import Reason
from schemas.scope import Scope, ScopedColumns

from .models import DIVISION_FIELDS, TIME_ORDER, TIMES, DisputeCase

#: the columns the deployment's scope judges: the division codes and the case's own times
SCOPED = ScopedColumns(codes=DIVISION_FIELDS, times=TIMES)
#: the division codes, widest first, as the nesting and the registry read them
_CHAIN = {name: Nested(name, optional=not DisputeCase.model_fields[name].is_required())
          for name in DIVISION_FIELDS}
#: the registry's kind of code each division field holds; a county's registry may hold
#: no villages at all (then none is judged): a village is judged where the registry has
#: villages of its county
_KINDS = {"town_code": "township", "village_code": "village", "grid_code": "grid"}
_JUDGED_WITHIN = {"village_code": ("county_code", 6)}


def divisions_nest(scope: Scope, with_registry: bool) -> str:
    nested = nest(list(_CHAIN.values()))
    if not with_registry:
        return nested
    # the registry judges the codes inside the scope only
    return " AND ".join([nested, *(registered(scope, _CHAIN[name], kind,
                                              _JUDGED_WITHIN.get(name))
                                   for name, kind in _KINDS.items())])


#: DisputeCase's model validators → their SQL (scope, with_registry → condition); a
#: flagged scope check lets its records through (the batch gate counts them). WGS84 is
#: made in Python by the validator itself (the contract's `derived`).
CASE_CHECKS: dict[str, Callable[[Scope, bool], str] | None] = {
    "_divisions_in_scope": lambda scope, _: (
        in_scope(scope, SCOPED.codes) if scope.quarantines(Reason.OUT_OF_SCOPE) else "true"),
    "_times_not_in_future": lambda scope, _: (
        not_in_future(scope, SCOPED.times) if scope.quarantines(Reason.IN_FUTURE)
        else "true"),
    "_times_in_order": lambda _scope, _registry: in_order(TIME_ORDER),
    "_divisions_nest": divisions_nest,
    "_wgs84_from_the_source_datum": None,
}
