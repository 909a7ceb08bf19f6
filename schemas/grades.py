"""Data grades (DB33/T 2350-2021) and the field metadata every contract field carries.

Each field of the canonical models is declared with `contract_field`, which records its
grade and its Chinese and English labels in the JSON Schema (`x-grade`, `x-label-zh`,
`x-label-en`). Masking, the data dictionary and the analyst snapshot's column comments
are all derived from that metadata, never from hand-kept lists.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo


class Grade(StrEnum):
    """DB33/T 2350-2021: public data sensitivity grades."""

    L1 = "L1"  # not sensitive: codes, categories, counts
    L2 = "L2"  # low: times, amounts, organisation names
    L3 = "L3"  # fairly sensitive: personal names, addresses, free text naming people
    L4 = "L4"  # sensitive: resident ID and phone numbers


def contract_field(grade: Grade, zh: str, en: str, default: Any = ..., *,
                   mask: str | None = None, **kwargs: Any) -> Any:
    """A model field with its grade and labels recorded as JSON Schema extras.

    Grade L3 and L4 fields name their `mask` (schemas.pii.MASKS): how they are shown to
    anyone not entitled to the clear value (analysts, reports, logs). L4 ("id", "phone")
    are moreover stored only encrypted, as a keyed link hash and in that masked form. A
    collection of nested models says "nested": its items carry their own masks. Lower
    grades may name a mask too, where free text may hold what its grade does not admit.
    """
    if grade in (Grade.L3, Grade.L4) and mask is None:
        raise ValueError(f"{grade} field {en!r} needs a mask")
    if grade is Grade.L4 and mask not in ("id", "phone"):
        raise ValueError(f"L4 field {en!r} must be masked as an id or a phone number")
    extra = {"x-grade": grade.value, "x-label-zh": zh, "x-label-en": en}
    if mask is not None:
        extra["x-mask"] = mask
    return Field(default, description=f"{zh} / {en}", json_schema_extra=extra, **kwargs)


def grade_of(info: FieldInfo) -> Grade:
    extra = info.json_schema_extra
    if not isinstance(extra, dict) or "x-grade" not in extra:
        raise ValueError("field declared without contract_field: no grade")
    return Grade(str(extra["x-grade"]))


def mask_of(info: FieldInfo) -> str | None:
    extra = info.json_schema_extra
    return str(extra["x-mask"]) if isinstance(extra, dict) and "x-mask" in extra else None


def protected_fields(model: type) -> dict[str, str]:
    """The model's grade-L4 fields and their display masks: what must never be stored or
    shown in clear (derived from the metadata, never kept by hand)."""
    return {name: mask_of(info) or "" for name, info in model.model_fields.items()
            if grade_of(info) is Grade.L4}


def labels_of(info: FieldInfo) -> tuple[str, str]:
    extra = info.json_schema_extra
    assert isinstance(extra, dict)
    return str(extra["x-label-zh"]), str(extra["x-label-en"])
