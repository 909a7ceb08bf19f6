"""Well-formed fake identifiers: VINs with a valid check digit, Shanghai new-energy plates,
and 9-character organisation codes (the protocol's OperatorID) with their GB 11714 check.

python-stdnum (a dependency) has no VIN module, so the ISO 3779 check digit (position 9, the
rule China's GB 16735 uses too) is computed here.
"""

from __future__ import annotations

import string

import numpy as np

_TRANSLIT = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9,
                                                   2, 3, 4, 5, 6, 7, 8, 9], strict=True))
_TRANSLIT |= {d: int(d) for d in string.digits}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
#: VIN characters: no I, O or Q
VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
#: world manufacturer codes of EVs built in China (SAIC VW, BYD, Tesla Shanghai, SAIC MG,
#: NIO, Li Auto)
_WMI = ("LSV", "LGX", "LRW", "LSJ", "LJ1", "LW4")


def vin_check_digit(vin: str) -> str:
    total = sum(_TRANSLIT[c] * w for c, w in zip(vin.upper(), _WEIGHTS, strict=True))
    r = total % 11
    return "X" if r == 10 else str(r)


def vins(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    wmi = rng.integers(0, len(_WMI), n)
    body = rng.integers(0, len(VIN_ALPHABET), (n, 14))
    years = rng.choice(list("NPRS"), n)  # model years 2022–2025
    for i in range(n):
        chars = "".join(VIN_ALPHABET[j] for j in body[i])
        # WMI(3) + VDS(5) + check + year + plant + serial(6 digits)
        serial = "".join(str(int(j) % 10) for j in body[i, 8:14])
        vin = f"{_WMI[wmi[i]]}{chars[:5]}0{years[i]}{chars[6]}{serial}"
        out.append(vin[:8] + vin_check_digit(vin) + vin[9:])
    return out


def plates(rng: np.random.Generator, n: int) -> list[str]:
    """Shanghai new-energy plates: 沪 + issuing letter + D (battery) / F (hybrid) + 5."""
    letters = rng.choice(list("ABCDEFGHJKLMN"), n)
    kind = rng.choice(["D", "F"], n, p=[0.85, 0.15])
    digits = rng.integers(0, 100_000, n)
    return [f"沪{a}{k}{d:05d}" for a, k, d in zip(letters, kind, digits, strict=True)]


def org_code(body: str) -> str:
    """A 9-character organisation code from 8 characters: GB 11714 check character."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c, 36) * w for c, w in zip(body, weights, strict=True))
    c = 11 - total % 11
    return body + ("X" if c == 10 else "0" if c == 11 else str(c))
