"""Labelled code lists: the machinery every pack's code lists are declared with.

Every code of every list is declared once, with its Chinese and English labels: a pack's
enums take them as member values (`MANUAL = "人工录入", "人工录入", "manual entry"`: the
code, then 中文, then English), and everything else is derived from them: the published
code lists, the warehouse's ref.codes, the snapshot's label columns. A pack hands its
lists to the engine as `CodeList`s (see packs/disputes/codes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum
from types import ModuleType
from typing import Any


def _labelled(base: type) -> Callable[..., Any]:
    """The `__new__` of a code list over `base` (str or int) whose members carry labels."""

    def __new__(cls: type, value: Any, zh: str, en: str) -> Any:
        member = base.__new__(cls, value)
        member._value_ = value
        member.zh, member.en = zh, en
        return member

    return __new__


class LabelledStrEnum(StrEnum):
    """A text code list whose members carry `zh` and `en` labels."""

    zh: str
    en: str
    __new__ = _labelled(str)


class LabelledIntEnum(IntEnum):
    """An integer code list whose members carry `zh` and `en` labels."""

    zh: str
    en: str
    __new__ = _labelled(int)


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    zh: str
    en: str
    group: str | None = None  # the code of the group it rolls up into


@dataclass(frozen=True, slots=True)
class CodeList:
    name: str       # snake case, as in code_lists.json and ref.codes
    zh: str
    en: str
    codes: tuple[Code, ...]
    group: str | None = None  # the list its codes' groups come from
    enum: type[Enum] | None = None  # the enum that declares it, if one does

    @classmethod
    def of(cls, enum: type[LabelledStrEnum] | type[LabelledIntEnum], zh: str,
           en: str) -> CodeList:
        """The list an enum declares, named after it in snake case."""
        name = "".join(f"_{c.lower()}" if c.isupper() else c for c in enum.__name__)
        return cls(name.lstrip("_"), zh, en,
                   tuple(Code(str(m.value), m.zh, m.en) for m in enum), enum=enum)


def labelled_enums(module: ModuleType
                   ) -> Iterator[type[LabelledStrEnum] | type[LabelledIntEnum]]:
    """The labelled enums `module` declares, in the order it declares them."""
    for value in vars(module).values():
        # the labelled bases hold no codes
        if isinstance(value, type) and issubclass(value, LabelledStrEnum | LabelledIntEnum) \
                and value.__module__ == module.__name__ and len(value):
            yield value
