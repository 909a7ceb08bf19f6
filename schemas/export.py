"""Publish a pack's contract for other departments: JSON Schemas, code lists, reasons, a
dictionary.

`export(folder, contract)` writes one JSON Schema per model of the pack's `Contract`,
`code_lists.json`, `reasons.json` and `data_dictionary.md`. Everything is derived from the
models, their field metadata (`contract_field`), their validators and the pack's code
lists, so a change to the contract shows up in the published copy on the next export and
the test comparing the two fails until someone re-exports.

Output is deterministic (fixed key order, UTF-8, two-space indent, trailing newline) so the
committed copies diff cleanly.
"""

from __future__ import annotations

import inspect
import json
import re
import types
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum, IntEnum
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from .contract import Contract
from .grades import Grade, grade_of, labels_of, mask_of
from .reasons import DESCRIPTIONS, Reason

# What each grade means. Kept per grade, not per field: which fields hold which grade
# comes from the models.
_GRADE_MEANING: dict[Grade, tuple[str, str]] = {
    Grade.L1: ("not sensitive", "codes, categories, counts, flags"),
    Grade.L2: ("low sensitivity", "times, amounts, organisation names"),
    Grade.L3: ("fairly sensitive", "personal names, addresses, free text that may name people"),
    Grade.L4: ("sensitive", "resident ID and phone numbers"),
}


_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


# -- files --------------------------------------------------------------------------------
def export(folder: Path, contract: Contract) -> list[Path]:
    """Write the published contract into `folder`; return the files written, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [_write_json(folder / f"{snake_name(model.__name__)}.schema.json",
                           {"x-schema-version": contract.version, **model.model_json_schema()})
               for model in contract.models]
    written.append(_write_json(folder / "code_lists.json", code_lists(contract)))
    written.append(_write_json(folder / "reasons.json",
                               {reason.value: DESCRIPTIONS[reason] for reason in Reason}))
    written.append(_write_text(folder / "data_dictionary.md", data_dictionary(contract)))
    return written


def snake_name(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _write_json(path: Path, data: object) -> Path:
    return _write_text(path, json.dumps(data, ensure_ascii=False, indent=2))


def _write_text(path: Path, text: str) -> Path:
    # newline="\n" so a Windows checkout exports the same bytes as the committed copy
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8", newline="\n")
    return path


# -- code lists ---------------------------------------------------------------------------
def code_lists(contract: Contract) -> dict[str, Any]:
    """Every code list of the contract as plain JSON, keyed by snake-case list name."""
    lists: dict[str, Any] = {"schema_version": contract.version, **contract.lists}
    for enum in contract.enums:
        more = contract.members.get(enum)
        lists[snake_name(enum.__name__)] = [
            {"name": m.name, "value": m.value, "zh": m.zh, "en": m.en}
            | (more(m) if more else {}) for m in enum]
    return lists


# -- field descriptions -------------------------------------------------------------------
class FieldDoc:
    """One row of a model's table in the data dictionary."""

    def __init__(self, name: str, info: FieldInfo, contract: Contract) -> None:
        self.name = name
        self.grade = grade_of(info)
        self.zh, self.en = labels_of(info)
        self.required = info.is_required()
        tp, metadata = _unwrap(info.annotation, list(info.metadata))
        self.validators = [m.func for m in metadata if isinstance(m, AfterValidator)]
        self.normalisers = [m.func for m in metadata if isinstance(m, BeforeValidator)]
        self.type, self.notes = _describe(tp, metadata, self.validators, contract)
        self.notes[:0] = [_first_line(f) for f in self.normalisers if f.__doc__]
        if not self.required and info.default not in (None, ...):
            self.notes.append(f"default {_literal(info.default)}")
        if self.grade is Grade.L4:
            masks = [c.mask for f in self.validators if (c := contract.check(f)) and c.mask]
            self.notes.append("stored encrypted; analysts see it masked"
                              + (f" ({', '.join(masks)})" if masks else ""))
        elif (mask := mask_of(info)) in _SHOWN_AS:
            self.notes.append(f"analysts see {_SHOWN_AS[mask]}")


# how the analyst snapshot shows a field, by its mask (schemas.pii, warehouse.snapshot)
_SHOWN_AS = {
    "name": "the first character only (张**)",
    "address": "the part before the first number (明旗社区…)",
    "coordinate": "it rounded to 0.01° (about 1 km)",
    "text": "it with the case's names, addresses, house numbers and any ID or phone "
            "numbers masked",
}


def _unwrap(tp: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """Peel Optional and Annotated off a type, collecting the metadata found on the way."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp, *extra = get_args(tp)
            metadata = [*metadata, *extra]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp, metadata
            tp = args[0]
        else:
            return tp, metadata


def _describe(tp: Any, metadata: list[Any], validators: list[Callable[..., Any]],
              contract: Contract) -> tuple[str, list[str]]:
    notes: list[str] = []
    bounds = [f"{sign} {_number(v)}" for attr, sign in _BOUNDS
              for m in metadata if (v := getattr(m, attr, None)) is not None]
    if get_origin(tp) is tuple:
        inner, inner_meta = _unwrap(get_args(tp)[0], [])
        name, inner_notes = _describe(inner, inner_meta, [], contract)
        return f"list of {name}", inner_notes
    if isinstance(tp, type) and issubclass(tp, Enum):
        values = ", ".join(f"{m.value} {m.name}" if isinstance(m, IntEnum) else str(m.value)
                           for m in tp)
        kind = "integer code" if issubclass(tp, IntEnum) else "code"
        return f"{kind} ({tp.__name__})", [f"one of: {values}"]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.__name__, notes
    if tp is bool:
        name = "boolean"
    elif tp is int or tp is float or tp is Decimal:
        name = {int: "integer", float: "number", Decimal: "decimal"}[tp]
        name = " ".join([name, ", ".join(bounds)]) if bounds else name
        digits = [getattr(m, "max_digits", None) for m in metadata]
        places = [getattr(m, "decimal_places", None) for m in metadata]
        if any(digits):
            notes.append(f"at most {max(d for d in digits if d)} digits")
        if any(p is not None for p in places):
            notes.append(f"{max(p for p in places if p is not None)} decimal places")
    elif tp is AwareDatetime:
        name = "datetime with time zone"
    elif tp is datetime:
        name = "datetime"
    elif tp is str:
        shapes = [shape for f in validators if (shape := _shape(f, contract))]
        name = ", ".join(["string", *shapes])
        notes.extend(_string_notes(metadata))
    else:
        name = getattr(tp, "__name__", str(tp))
    for func in validators:
        notes.extend(_check_notes(func, contract))
    return name, notes


def _string_notes(metadata: list[Any]) -> list[str]:
    notes = []
    if any(getattr(m, "strip_whitespace", False) for m in metadata):
        notes.append("surrounding spaces trimmed")
    minimum = max((v for m in metadata if (v := getattr(m, "min_length", None))), default=None)
    if minimum == 1:
        notes.append("not empty")
    elif minimum:
        notes.append(f"at least {minimum} chars")
    maximum = min((v for m in metadata if (v := getattr(m, "max_length", None))), default=None)
    if maximum:
        notes.append(f"at most {maximum} chars")
    notes.extend(f"pattern `{p}`" for m in metadata if (p := getattr(m, "pattern", None)))
    return notes


def _shape(func: Callable[..., Any], contract: Contract) -> str:
    if (check := contract.check(func)) is not None:
        return check.shape
    digits = inspect.getclosurevars(func).nonlocals.get("digits")
    return f"{digits} digits" if digits else ""


def _check_notes(func: Callable[..., Any], contract: Contract) -> list[str]:
    if (check := contract.check(func)) is not None:
        text = check.note
    else:
        # division_checker's closures carry what they check in their free variables
        free = inspect.getclosurevars(func).nonlocals
        text = (f"{free['what']} code of {free['digits']} digits" if "what" in free
                else _humanise(func.__name__))
    return [text + _fails_as(reasons_raised(func))]


def _fails_as(reasons: list[str]) -> str:
    return f" (fails as {', '.join(f'`{r}`' for r in reasons)})" if reasons else ""


def reasons_raised(func: Callable[..., Any]) -> list[str]:
    """The reason codes a check names in its body: what a failing value is quarantined as."""
    names = getattr(func, "__func__", func).__code__.co_names
    return [reason.value for reason in Reason if reason.name in names]


def _first_line(func: Callable[..., Any]) -> str:
    return "normalised: " + (inspect.getdoc(func) or "").splitlines()[0].rstrip(".")


def _humanise(name: str) -> str:
    return name.strip("_").replace("_", " ")


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _literal(value: object) -> str:
    if isinstance(value, tuple | list) and not value:
        return "empty list"
    return f"`{value!r}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- the dictionary -----------------------------------------------------------------------
def data_dictionary(contract: Contract) -> str:
    lines = [
        f"# {contract.title} (schema {contract.version})",
        "",
        f"Schema version **{contract.version}**. Generated from the contract in `schemas/` by "
        "`silobridge schemas export`; do not edit by hand.",
        "",
        *_sharing_intro(contract),
        *_grades_section(contract),
        "## Models",
        "",
    ]
    for model in contract.models:
        lines += _model_section(model, contract)
    lines += _code_list_section(contract)
    lines += _reasons_section()
    return "\n".join(lines)


def _sharing_intro(contract: Contract) -> list[str]:
    top, record = contract.models[0], contract.record
    nested = [(name, _unwrap(info.annotation, [])[0]) for name, info in top.model_fields.items()]
    parts = [f"`{name}` as a list of **{get_args(tp)[0].__name__}**" for name, tp in nested
             if get_origin(tp) is tuple and isinstance(get_args(tp)[0], type)
             and issubclass(get_args(tp)[0], BaseModel)]
    schemas_list = ", ".join(f"`{snake_name(m.__name__)}.schema.json`" for m in contract.models)
    looked_up = (f"; {contract.looked_up} are also looked up in our division registry"
                 if contract.looked_up else "")
    lines = [
        "## How to share data with us",
        "",
        f"Every {record} record you send must fit one **{top.__name__}**"
        + (f", with {' and '.join(parts)}" if parts else "") + ". "
        f"Reference data fits the other models below. Send one record per {record} as your "
        f"system holds it: we link the records of the same {record} across levels ourselves.",
        "",
        "- The machine-readable contract sits next to this file: one JSON Schema per model "
        f"({schemas_list}), the code lists (`code_lists.json`) and the reason codes "
        "(`reasons.json`).",
        "- Every field is labelled in Chinese and English and graded L1–L4 (JSON Schema "
        "extras `x-label-zh`, `x-label-en`, `x-grade`); the grade decides who may see it.",
        "- Times must carry their time zone (`2024-03-05T09:30:00+08:00`); codes must come "
        f"from the code lists{looked_up}; unknown fields are refused.",
        "- Records that fail a check are not loaded: they come back to you in a quarantine "
        "list, one row per problem, with the field, a reason code from the list at the end "
        "and a message that describes the problem without repeating personal numbers.",
        "",
    ]
    return lines


def _grades_section(contract: Contract) -> list[str]:
    docs = [(model, FieldDoc(name, info, contract)) for model in contract.models
            for name, info in model.model_fields.items()]
    lines = ["## Grades (DB33/T 2350-2021)", "",
             "Every field carries one of four grades; the grade decides who may see the value.",
             "", "| grade | meaning | typical content | fields |", "|---|---|---|---|"]
    for grade in Grade:
        meaning, examples = _GRADE_MEANING[grade]
        count = sum(doc.grade is grade for _, doc in docs)
        fields = ", ".join(f"`{m.__name__}.{d.name}`" for m, d in docs if d.grade is grade)
        lines.append(f"| {grade.value} | {meaning} | {examples} | "
                     f"{fields if grade is Grade.L4 else f'{count} fields'} |")
    masks = [f"`{m.__name__}.{d.name}`: {c.mask}" for m, d in docs if d.grade is Grade.L4
             for f in d.validators if (c := contract.check(f)) and c.mask]
    lines += ["", "L4 fields are stored encrypted and linked across sources by a keyed hash "
              "(HMAC) of the normalised value, never in clear; analysts see them masked ("
              + "; ".join(masks) + ").", ""]
    return lines


def _model_section(model: type[BaseModel], contract: Contract) -> list[str]:
    lines = [f"### {model.__name__}", "", inspect.getdoc(model) or "", ""]
    config = model.model_config
    rules = []
    if config.get("extra") == "forbid":
        rules.append("fields not listed here are refused")
    if config.get("str_max_length"):
        rules.append(f"any text at most {config['str_max_length']} chars unless stated")
    for name, decorator in model.__pydantic_decorators__.model_validators.items():
        when = " (derived before the field checks)" if decorator.info.mode == "before" else ""
        rules.append(_humanise(name) + when + _fails_as(reasons_raised(decorator.func)))
    if rules:
        lines += ["Record rules: " + "; ".join(rules) + ".", ""]
    lines += ["| field | 中文名 | English label | type | required | grade | constraints / notes |",
              "|---|---|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        doc = FieldDoc(name, info, contract)
        cells = [f"`{name}`", doc.zh, doc.en, doc.type, "yes" if doc.required else "no",
                 doc.grade.value, "; ".join(doc.notes)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines.append("")
    return lines


def _code_list_section(contract: Contract) -> list[str]:
    lines = ["## Code lists", "", "All lists are also in `code_lists.json`."]
    shown = {t.shows for t in contract.tables}
    for table in contract.tables:
        lines += ["", f"### {table.title}", "", _row(table.header),
                  "|" + "---|" * len(table.header)]
        lines += [_row(tuple(_cell(str(v)) for v in row)) for row in table.rows]
    for enum in contract.enums:
        if enum in shown:
            continue
        own_doc = enum.__dict__.get("__doc__")  # Enum fills in a generic one otherwise
        lines += ["", f"### {enum.__name__}", ""]
        if own_doc and not own_doc.startswith("An enumeration"):
            lines += [inspect.cleandoc(own_doc).splitlines()[0], ""]
        lines += ["| code | name | 中文 | English |", "|---|---|---|---|"]
        lines += [f"| {_cell(str(m.value))} | {m.name} | {_cell(m.zh)} | {_cell(m.en)} |"
                  for m in enum]
    lines.append("")
    return lines


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cells) + " |"


def _reasons_section() -> list[str]:
    lines = ["## Reason codes", "",
             "Each quarantined row names one of these (also in `reasons.json`).", "",
             "| reason | description |", "|---|---|"]
    lines += [f"| `{r.value}` | {_cell(DESCRIPTIONS[r])} |" for r in Reason]
    return lines
