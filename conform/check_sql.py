"""schemas.checks' functions in SQL, keyed by the function (engine-level contracts: the
kinds of identifier Chinese government data carries, not any pack's fields).

`SHAPES`: SQL telling, on a column `{x}`, whether a value has the shape a function
recognises, for a child group's kinds (conform.contract.Kinds.shape).
"""

from __future__ import annotations

from collections.abc import Callable

from schemas import checks

# a credit code: 18 characters, a two-digit area start, not a resident ID's 17 digits
_CREDIT_SHAPE = ("(length({x}) = 18 AND regexp_full_match(left({x}, 2), '\\d{{2}}') "
                 "AND NOT regexp_full_match(left(upper({x}), 17), '\\d{{17}}'))")

SHAPES: dict[Callable[[str], bool], str] = {checks.looks_like_credit_code: _CREDIT_SHAPE}
