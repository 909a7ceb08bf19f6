"""Named random streams: every decision draws from a stream keyed by what it is about.

Keying by name (not by call order) keeps the world stable: adding a field to one source
does not shift the random numbers of any other, and any day or dispute can be rebuilt
on its own. `random.Random` seeds from a str through SHA-512, independent of
PYTHONHASHSEED.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from functools import cache
from itertools import accumulate
from typing import TypeVar

T = TypeVar("T")


def stream(seed: int, *key: object) -> random.Random:
    return random.Random("/".join([str(seed), *map(str, key)]))


def unit(seed: int, *key: object) -> float:
    """One uniform draw in [0, 1) for a key: for yes/no decisions, far cheaper than a stream."""
    digest = hashlib.blake2b("/".join([str(seed), *map(str, key)]).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


@cache
def _table(table: tuple[tuple[object, float], ...]) -> tuple[list[object], list[float]]:
    return [v for v, _ in table], list(accumulate(w for _, w in table))


def weighted(r: random.Random, table: Sequence[tuple[T, float]]) -> T:
    values, cum = _table(tuple(table))
    return r.choices(values, cum_weights=cum)[0]  # type: ignore[return-value]
