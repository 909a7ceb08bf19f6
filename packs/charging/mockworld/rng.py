"""Named random streams: every decision draws from a numpy generator keyed by what it is
about (part of the world, day), so adding a column to one feed shifts no other feed's
numbers. Keys are hashed with blake2b: independent of PYTHONHASHSEED and of call order."""

from __future__ import annotations

import hashlib

import numpy as np


def stream(seed: int, *key: object) -> np.random.Generator:
    digest = hashlib.blake2b("/".join([str(seed), *map(str, key)]).encode(), digest_size=16)
    return np.random.default_rng(int.from_bytes(digest.digest(), "big"))
