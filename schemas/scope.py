"""A deployment's scope: which divisions are its own, and how far past its receipt a
record's times may run.

A record can be well formed and still not be ours (another province's county) or not be
yet (a time years ahead of when we received it). Validation takes a `Scope` as an
argument (silobridge.settings builds it from the validation settings) and each record's
receipt (the landed batch's time, so that replaying an old batch decides as the first run
did). The division registry judges codes inside the scope only: what lies outside is the
scope check's to decide. `UNSCOPED` checks nothing and leaves the registry every code.
Pure values, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .reasons import Reason


@dataclass(frozen=True, slots=True)
class Scope:
    #: division-code prefixes of the deployment (None: every division is its own)
    divisions: tuple[str, ...] | None = None
    #: how far past its receipt a record's time may lie (None: not checked)
    future_tolerance: timedelta | None = None
    #: the scope checks a deployment flags rather than quarantines: their records load,
    #: and the batch gate counts them as warnings
    flagged: frozenset[Reason] = frozenset()

    def covers(self, code: str) -> bool:
        """True when `code` lies inside one of the divisions, or contains one: a
        township-level deployment's records still name their county."""
        return self.divisions is None or any(code.startswith(p) or p.startswith(code)
                                             for p in self.divisions)

    def quarantines(self, reason: Reason) -> bool:
        """Whether validation rejects what fails the check of `reason`."""
        return reason not in self.flagged


@dataclass(frozen=True, slots=True)
class ScopedColumns:
    """The columns of a pack's root records the scope judges: the coded columns its
    divisions must cover (widest first), and the times that may not lie past the
    record's receipt (a child row's times are judged by their latest, aggregated beside
    the record). A pack declares them once; validation and the batch gate read them."""

    codes: tuple[str, ...] = ()
    times: tuple[str, ...] = ()


#: no column judged (a pack whose records the scope does not concern)
NOTHING_SCOPED = ScopedColumns()


#: the scope that checks nothing (validation without a deployment's settings)
UNSCOPED = Scope()
#: where checks run in SQL, the column a record's receipt is read under beside its fields
RECEIVED_AT = "_received_at"
