"""Conversions between datums as SQL, for the `wgs84` step of a mapping (conform.compiler).

A source may give positions in WGS-84 (GPS, OCPI), CGCS2000 (China's geodetic datum,
within centimetres of WGS-84, taken as it is), GCJ-02 (the published obfuscation every
Chinese map app uses) or BD-09 (Baidu's further shift of GCJ-02). The warehouse keeps
WGS-84. schemas.geo is the scalar reference of GCJ-02; this module writes the same
formulas as SQL over DOUBLE columns, so a whole batch converts in one query:

- BD-09 → GCJ-02: the published closed-form inverse (about 0.1 m from exact);
- GCJ-02 → WGS-84: no closed form exists; the forward offset is inverted by fixed-point
  steps w ← g − offset(w), unrolled into ITERATIONS plan columns. The offset changes by
  about a thousandth of the step per step, so each step gains three digits: three steps
  agree with schemas.geo.gcj02_to_wgs84 (iterated to 1e-9°) to well under a millimetre.

Every function returns SQL expressions over the column SQL it is given; arguments are
used several times, so pass column references, not expressions.
"""

from __future__ import annotations

import math
from typing import get_args

from schemas.geo import EE, A

from .expressions import DatumName
from .targets import Target

#: the datums a mapping may name; CGCS2000 and WGS84 are taken as they are
DATUMS: tuple[str, ...] = get_args(DatumName)
AS_IS = ("WGS84", "CGCS2000")
#: the shifted datums: defined inside China only (schemas.geo.CHINA), where the others
#: hold any WORLD position (west, east, south, north)
SHIFTED = ("GCJ02", "BD09")
WORLD = (-180.0, 180.0, -90.0, 90.0)
#: what a per-record datum expression must give
DATUM = Target("text", frozenset(DATUMS), "the datums (" + ", ".join(DATUMS) + ")")
#: fixed-point steps of the GCJ-02 inverse
ITERATIONS = 3
#: BD-09's constant: π·3000/180
_X_PI = math.pi * 3000.0 / 180.0


def num(value: float) -> str:
    """A DOUBLE literal (DuckDB reads 1.5 as a DECIMAL, 1.5e0 as a DOUBLE)."""
    text = repr(float(value))
    return text if "e" in text else text + "e0"


def _pi(x: str) -> str:
    return f"{x} * {num(math.pi)}"


def gcj02_offset(lon: str, lat: str) -> tuple[str, str]:
    """(Δlon, Δlat) in degrees that GCJ-02 adds to the WGS-84 position (lon, lat):
    schemas.geo.wgs84_to_gcj02's formulas, operation for operation."""
    x, y = f"({lon} - {num(105.0)})", f"({lat} - {num(35.0)})"
    two_thirds = f" * {num(2.0)} / {num(3.0)}"
    dlat = (f"({num(-100.0)} + {num(2.0)} * {x} + {num(3.0)} * {y} + {num(0.2)} * {y} * {y} "
            f"+ {num(0.1)} * {x} * {y} + {num(0.2)} * sqrt(abs({x})) "
            f"+ ({num(20.0)} * sin({_pi(f'{num(6.0)} * {x}')}) + {num(20.0)} * "
            f"sin({_pi(f'{num(2.0)} * {x}')})){two_thirds} "
            f"+ ({num(20.0)} * sin({_pi(y)}) + {num(40.0)} * sin({_pi(f'{y} / {num(3.0)}')}))"
            f"{two_thirds} "
            f"+ ({num(160.0)} * sin({_pi(f'{y} / {num(12.0)}')}) + {num(320.0)} * "
            f"sin({y} * {num(math.pi)} / {num(30.0)})){two_thirds})")
    dlon = (f"({num(300.0)} + {x} + {num(2.0)} * {y} + {num(0.1)} * {x} * {x} "
            f"+ {num(0.1)} * {x} * {y} + {num(0.1)} * sqrt(abs({x})) "
            f"+ ({num(20.0)} * sin({_pi(f'{num(6.0)} * {x}')}) + {num(20.0)} * "
            f"sin({_pi(f'{num(2.0)} * {x}')})){two_thirds} "
            f"+ ({num(20.0)} * sin({_pi(x)}) + {num(40.0)} * sin({_pi(f'{x} / {num(3.0)}')}))"
            f"{two_thirds} "
            f"+ ({num(150.0)} * sin({_pi(f'{x} / {num(12.0)}')}) + {num(300.0)} * "
            f"sin({_pi(f'{x} / {num(30.0)}')})){two_thirds})")
    rad = f"({lat} / {num(180.0)} * {num(math.pi)})"
    magic = f"({num(1.0)} - {num(EE)} * pow(sin({rad}), 2))"
    return (f"({dlon} * {num(180.0)}) / ({num(A)} / sqrt({magic}) * cos({rad}) * "
            f"{num(math.pi)})",
            f"({dlat} * {num(180.0)}) / (({num(A * (1 - EE))}) / ({magic} * sqrt({magic})) "
            f"* {num(math.pi)})")


def gcj02_step(gcj_lon: str, gcj_lat: str, lon: str, lat: str) -> tuple[str, str]:
    """One fixed-point step of GCJ-02 → WGS-84: from the estimate (lon, lat) of the point
    whose GCJ-02 position is (gcj_lon, gcj_lat), the next estimate."""
    dlon, dlat = gcj02_offset(lon, lat)
    return f"{gcj_lon} - {dlon}", f"{gcj_lat} - {dlat}"


def bd09_polar(lon: str, lat: str) -> tuple[str, str]:
    """(radius, angle) of the GCJ-02 position of a BD-09 one: the published inverse's
    first half (the GCJ-02 position is radius·(cos angle, sin angle))."""
    x, y = f"({lon} - {num(0.0065)})", f"({lat} - {num(0.006)})"
    return (f"sqrt({x} * {x} + {y} * {y}) - {num(0.00002)} * sin({y} * {num(_X_PI)})",
            f"atan2({y}, {x}) - {num(0.000003)} * cos({x} * {num(_X_PI)})")
