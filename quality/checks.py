"""One check's outcome, and how outcomes are kept in ops.quality_results.

Every suite (Great Expectations or plain SQL) ends as `CheckResult`s, so storing,
reporting and gate decisions never care which engine ran a check. `observed` and
`threshold` are the failing share and the largest share allowed (0..1), or a count and
the largest count allowed where a share means nothing (drift events, orphan rows).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from schemas.pack import SourceDeclaration
from schemas.scope import Scope

CRITICAL = "critical"
WARNING = "warning"


class QualitySettings(Protocol):
    """What quality needs from silobridge's settings (kept as a protocol so this package
    does not import silobridge: dependencies point from silobridge to quality)."""

    @property
    def warehouse_path(self) -> Path: ...

    @property
    def reports_dir(self) -> Path: ...

    @property
    def scope(self) -> Scope: ...

    @property
    def sources(self) -> tuple[SourceDeclaration, ...]: ...


@dataclass
class CheckResult:
    scope: str                 # batch | warehouse | cross_level | freshness | volume
    suite: str
    check: str
    severity: str              # critical | warning
    success: bool
    observed: float | None = None
    threshold: float | None = None
    element_count: int | None = None
    unexpected_count: int | None = None
    detail: str = ""
    source: str | None = None

    @property
    def failed_critical(self) -> bool:
        return not self.success and self.severity == CRITICAL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckLabel:
    """How the report names a check, and whether its observed value is a share (shown as a
    percentage) or a count."""

    zh: str
    en: str
    share: bool


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def store_results(con: duckdb.DuckDBPyConnection, run_id: str,
                  results: list[CheckResult]) -> None:
    """Append the results to ops.quality_results (one insert, from Arrow)."""
    if not results:
        return
    table = pa.table({
        "scope": [r.scope for r in results],
        "source": pa.array([r.source for r in results], pa.string()),
        "suite": [r.suite for r in results],
        "check_name": [r.check for r in results],
        "severity": [r.severity for r in results],
        "success": [r.success for r in results],
        "observed": pa.array([r.observed for r in results], pa.float64()),
        "threshold": pa.array([r.threshold for r in results], pa.float64()),
        "element_count": pa.array([r.element_count for r in results], pa.int64()),
        "unexpected_count": pa.array([r.unexpected_count for r in results], pa.int64()),
        "detail": [r.detail for r in results],
    })
    con.register("_quality_results", table)
    try:
        con.execute("""
            INSERT INTO ops.quality_results BY NAME
            SELECT ? AS run_id, now() AS checked_at, * FROM _quality_results""", [run_id])
    finally:
        con.unregister("_quality_results")


def count_check(con: duckdb.DuckDBPyConnection, *, scope: str, suite: str, check: str,
                severity: str, sql: str, detail: str, params: list[Any] | None = None,
                max_count: int = 0, source: str | None = None) -> CheckResult:
    """A check whose SQL returns (element_count, unexpected_count): passes while at most
    `max_count` elements are unexpected. `detail` is formatted with n, bad and max."""
    n, bad = con.execute(sql, params or []).fetchall()[0]
    n, bad = int(n or 0), int(bad or 0)
    return CheckResult(scope=scope, suite=suite, check=check, severity=severity,
                       success=bad <= max_count, observed=float(bad),
                       threshold=float(max_count), element_count=n, unexpected_count=bad,
                       detail=detail.format(n=n, bad=bad, max=max_count), source=source)
