"""What a pack publishes for the departments that share data with it: its `Contract`.

A pack declares one (packs/<name>/contract.py): its models, its code lists and the few
words the data dictionary says about them; schemas.export writes the JSON Schemas, code
lists and data dictionary from it. How the engine's own checks (resident ID, credit code,
phone, text, times) are described is declared here; a pack describes its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel

from . import checks
from .labelled import LabelledIntEnum, LabelledStrEnum


@dataclass(frozen=True)
class CheckDoc:
    """How the dictionary describes one field check: its shape and, for L4 values, the mask."""

    shape: str
    note: str
    mask: str | None = None


@dataclass(frozen=True)
class ListTable:
    """A code list the data dictionary shows in a table of its own, with columns of its
    own (a list that is no labelled enum, or one whose codes say more)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    #: the enum it shows, if one declares it: not shown again among the enums' tables
    shows: type[Enum] | None = None


@dataclass(frozen=True)
class Contract:
    """What a pack publishes for the departments that share data with it."""

    #: the data dictionary's heading (before the schema version)
    title: str
    version: str
    #: the first is what one record another department sends fits; the rest reference data
    models: tuple[type[BaseModel], ...]
    #: what one record of the first model is about: one record per such thing is sent
    record: str
    #: the labelled enums published member by member (name, value, labels), in this order
    enums: tuple[type[LabelledStrEnum] | type[LabelledIntEnum], ...]
    #: which codes the division registry checks as well, if any
    looked_up: str | None = None
    #: code_lists.json: lists in a shape of their own, ahead of the enums
    lists: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: what more to publish of each member of an enum (the group a code rolls up into)
    members: Mapping[type[Enum], Callable[[Any], dict[str, Any]]] = field(default_factory=dict)
    #: the dictionary's tables of their own, ahead of the enums'
    tables: tuple[ListTable, ...] = ()
    #: how the pack's own checks are described (the engine's: CHECKS)
    checks: Mapping[Callable[..., Any], CheckDoc] = field(default_factory=dict)

    def check(self, func: Callable[..., Any]) -> CheckDoc | None:
        return self.checks.get(func) or CHECKS.get(func)


# Keyed by check function, not by field: any field that uses a check gets its description.
CHECKS: dict[Callable[..., Any], CheckDoc] = {
    checks.check_resident_id: CheckDoc(
        "18 chars", "GB 11643: 6-digit area, birth date YYYYMMDD, 3-digit sequence and a check "
        "character (0–9 or X)", mask="first 6 + last 4 characters"),
    checks.check_credit_code: CheckDoc(
        "18 chars", "GB 32100 alphabet (0–9, A–Y without I O S V Z), 6-digit area at positions "
        "3–8, GB 11714 organisation-code check at position 17, GB 32100 check at 18"),
    checks.check_phone: CheckDoc(
        "", "mobile 1[3-9] + 9 digits, or a landline with area code (0573-84123456)",
        mask="first 3 + last 4 digits"),
    checks.check_text: CheckDoc("", "garbled text refused"),
    checks.check_moment: CheckDoc(
        "", f"from {checks.EARLIEST:%Y-%m-%d} up to {checks.LATEST:%Y-%m-%d} (exclusive)"),
}
