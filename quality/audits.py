"""Audits: a domain's warehouse checks as SQL files returning the bad rows (SQLMesh style).

A folder holds one `<check>.sql` per check (the file's name is the check's name). Each
opens with a header, TOML in a comment block, then the query that returns the bad rows:

    /* audit
    scope = "warehouse"       # the check's scope (and, unless `suite` says otherwise, suite)
    severity = "critical"     # critical | warning
    max_count = 0             # the bad rows allowed; or max_share = 0.25, a share of n
    denominator = "SELECT * FROM core.items"    # the rows the check is about: n
    title_zh = "明细都有对应主记录"
    title_en = "items name existing parents"
    detail = "{bad} of {n} items name a parent missing from core.parents"
    */
    SELECT i.* FROM core.items i WHERE NOT EXISTS (…)

`run_audits` runs every audit of the folder after the merge has committed, as DuckDB
SQL over whole tables (nothing is read out), and returns one CheckResult each: observed
is the count of bad rows and threshold `max_count`, or both are shares of n. `detail` is
formatted with n, bad, share and threshold (Python format: `{share:.1%}`). A header or a
query that cannot be used is an AuditFileError naming the file (and the key).
"""

# The queries are the domain's own files: running them is the point here.
# ruff: noqa: S608

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .checks import CheckLabel, CheckResult, share

_HEADER = re.compile(r"\A\s*/\*\s*audit\s*\n(?P<toml>.*?)\*/(?P<sql>.*)\Z", re.S)
_CHECK = re.compile(r"^[a-z][a-z0-9_.]*$")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


class AuditFileError(ValueError):
    """An audit file that cannot be used (or whose query fails): names the file."""


class AuditHeader(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    suite: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    severity: Literal["critical", "warning"]
    max_count: int | None = Field(default=None, ge=0)
    max_share: float | None = Field(default=None, ge=0, le=1)
    denominator: str = Field(min_length=1)
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    detail: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_threshold(self) -> AuditHeader:
        if (self.max_count is None) == (self.max_share is None):
            raise ValueError("give exactly one of max_count and max_share")
        return self


@dataclass(frozen=True)
class Audit:
    path: Path
    header: AuditHeader
    sql: str

    @property
    def check(self) -> str:
        return self.path.stem

    @property
    def shared(self) -> bool:
        return self.header.max_share is not None

    @property
    def label(self) -> CheckLabel:
        return CheckLabel(self.header.title_zh, self.header.title_en, share=self.shared)


def read_audit(file: Path) -> Audit:
    """The audit in `file`; an AuditFileError names the file and the key."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise AuditFileError(f"{file}: {e}") from None
    if not _CHECK.match(file.stem):
        raise AuditFileError(f"{file}: the file's name is the check's name: lowercase "
                             "letters, digits, _ and .")
    found = _HEADER.match(text)
    if not found:
        raise AuditFileError(f"{file}: no header: the file starts with /* audit … */ "
                             "(TOML), then the query returning the bad rows")
    try:
        header = AuditHeader(**tomllib.loads(found["toml"]))
    except tomllib.TOMLDecodeError as e:
        raise AuditFileError(f"{file}: header: {e}") from None
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in x['loc']) or 'max_count, max_share'}: {x['msg']}"
            for x in e.errors(include_url=False, include_input=False))
        raise AuditFileError(f"{file}: header: {problems}") from None
    try:
        header.detail.format(n=0, bad=0, share=0.0, threshold=0.0)
    except (KeyError, IndexError, ValueError) as e:
        raise AuditFileError(f"{file}: header: detail: {e!r} (it may use n, bad, share "
                             "and threshold)") from None
    sql = found["sql"].strip().rstrip(";").strip()
    if not _COMMENTS.sub("", sql).strip():
        raise AuditFileError(f"{file}: no query after the header")
    return Audit(file, header, sql)


def load_audits(folder: Path) -> tuple[Audit, ...]:
    """Every `*.sql` audit in `folder`, in name order."""
    if not folder.is_dir():
        raise AuditFileError(f"{folder}: no such folder of audits")
    return tuple(read_audit(f) for f in sorted(folder.glob("*.sql")))


def run_audit(con: duckdb.DuckDBPyConnection, audit: Audit) -> CheckResult:
    h = audit.header
    try:
        n, bad = con.execute(f"SELECT (SELECT count(*) FROM (\n{h.denominator}\n)), "
                             f"(SELECT count(*) FROM (\n{audit.sql}\n))").fetchall()[0]
    except duckdb.Error as e:
        raise AuditFileError(f"{audit.path}: {type(e).__name__}: {e}") from None
    observed = share(bad, n) if audit.shared else float(bad)
    threshold = h.max_share if h.max_share is not None else float(h.max_count or 0)
    return CheckResult(
        scope=h.scope, suite=h.suite or h.scope, check=audit.check, severity=h.severity,
        success=observed <= threshold, observed=observed, threshold=threshold,
        element_count=n, unexpected_count=bad,
        detail=h.detail.format(n=n, bad=bad, share=share(bad, n), threshold=threshold))


def run_audits(con: duckdb.DuckDBPyConnection, audits: Iterable[Audit]) -> list[CheckResult]:
    return [run_audit(con, a) for a in audits]
