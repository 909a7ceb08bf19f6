"""The quality files a domain hands the engine: where they are, and how the report names
the checks they define.

The app layer builds one `QualityFiles` from a pack's folders and passes it to the gate,
the after-merge checks and the report; nothing in quality looks a pack up. Its
`expectations` folder holds one file per suite (today `batch.toml`, quality.expectations);
its `audits` folder holds the warehouse checks, one SQL file each (quality.audits);
`scoped` names the columns the gate's scope checks judge; `pictures`, the pack's
pictures.toml (quality.pictures), drawn after each merge into a page of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.pack import SourceDeclaration
from schemas.scope import NOTHING_SCOPED, ScopedColumns

from .audits import Audit, load_audits
from .checks import CheckLabel
from .expectations import BatchSuite, load_suite
from .freshness import DataClock

if TYPE_CHECKING:
    from .pictures import PictureSet

BATCH_SUITE = "batch.toml"


@dataclass(frozen=True)
class Suite:
    """A batch suite file (in the expectations folder) and the columns its scope checks
    judge."""

    file: str = BATCH_SUITE
    scoped: ScopedColumns = NOTHING_SCOPED


@dataclass(frozen=True)
class QualityFiles:
    expectations: Path
    audits: Path
    #: the columns of the pack's records its scope checks judge (its conform contract's)
    scoped: ScopedColumns = NOTHING_SCOPED
    #: the domain's data clock, which data freshness reads (None: the domain has none)
    clock: DataClock | None = None
    #: the pack's sources, whose freshness and volume are checked after its merge
    sources: tuple[SourceDeclaration, ...] = ()
    #: source → the suite its batches meet, where that is not BATCH_SUITE with `scoped`
    #: (a pack of several contracts has a suite per contract)
    suites: Mapping[str, Suite] = field(default_factory=dict)
    #: the pack's pictures page (None: the pack declares no pictures)
    pictures: PictureSet | None = None

    def batch_suite(self, source: str | None = None) -> BatchSuite:
        """The suite the batches of `source` meet (None: the pack's default suite)."""
        suite = self.suites.get(source or "", Suite(BATCH_SUITE, self.scoped))
        return load_suite(self.expectations / suite.file, suite.scoped)

    def all_suites(self) -> list[BatchSuite]:
        named = {s.file: s for s in self.suites.values()}
        if (self.expectations / BATCH_SUITE).is_file() or not named:
            named.setdefault(BATCH_SUITE, Suite(BATCH_SUITE, self.scoped))
        return [load_suite(self.expectations / s.file, s.scoped) for s in named.values()]

    def audit_files(self) -> tuple[Audit, ...]:
        return load_audits(self.audits)

    def labels(self) -> dict[str, CheckLabel]:
        """check name → its titles and unit, for every check the files define."""
        suites = {k: v for s in self.all_suites() for k, v in s.labels().items()}
        return {**suites, **{a.check: a.label for a in self.audit_files()}}
