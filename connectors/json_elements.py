"""JSON containers taken apart before they are parsed, so one bad element stays one bad row.

`json.loads` of a whole array is all or nothing: one element nested deep enough to
exhaust Python's recursion, or one broken element, fails every row with it. Here a
container's text is first split into its top-level parts by a scanner that only tracks
strings (with their escapes) and bracket depth, without recursion and without building
values. Each part is then checked against the limits (characters, nesting depth) BEFORE
it is parsed, and parsed on its own: what fails becomes that element's error, with a
reason code (connectors.rejects), and the other elements are unaffected.

Crash semantics: `split` raises `CutShort` when the text ends inside the container (a
truncated answer: fetching again may help) and `Malformed` when it is not one JSON
array or object; nothing else escapes. `parse_part` never raises.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from schemas.reasons import Reason

from .rejects import reject

_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
#: what the scanner steps over in one C-level regex match: strings (escapes included)
#: and anything but brackets, plus commas and colons inside an element, where they do
#: not separate parts. It stops at the next character that matters (or a string that
#: never ends).
_SKIP_TOP = re.compile(rf'(?:[^\[\]{{}}",:]+|{_STRING})*', re.DOTALL)
_SKIP_INNER = re.compile(rf'(?:[^\[\]{{}}"]+|{_STRING})*', re.DOTALL)
#: escapes or characters that may leave a lone UTF-16 surrogate in a parsed string
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_OPENERS = {"[": "]", "{": "}"}
_SPACE = " \t\r\n"


class CutShort(ValueError):
    """The text ends before its container closes (a string or bracket left open)."""


class Malformed(ValueError):
    """The text is not one JSON array or object."""


@dataclass(frozen=True)
class Part:
    """One top-level element of an array, or one `key: value` member of an object."""

    start: int
    end: int
    #: position of the member's `:` (objects), else -1
    colon: int
    #: how deeply containers nest inside the part (a scalar: 0, [1]: 1, [[1]]: 2)
    depth: int

    def text(self, source: str) -> str:
        return source[self.start:self.end].strip(_SPACE)

    def value_text(self, source: str) -> str:
        """A member's value (objects), or the whole part (arrays)."""
        return source[self.colon + 1 if self.colon >= 0 else self.start:self.end].strip(_SPACE)

    def key_text(self, source: str) -> str:
        return source[self.start:self.colon].strip(_SPACE)


def split(source: str, start: int = 0, end: int | None = None) -> tuple[str, list[Part]]:
    """The opening bracket and the top-level parts of the container in source[start:end].

    Only whitespace may surround the container. An empty container has no parts; an
    empty part between commas (`[1,,2]`, `[1,]`) is kept, as a part with no text.
    """
    end = len(source) if end is None else end
    i = start
    while i < end and source[i] in _SPACE:
        i += 1
    if i >= end:
        raise CutShort("no JSON value at all")
    opener = source[i]
    if opener not in _OPENERS:
        raise Malformed(f"expected a JSON array or object, found {source[i]!r}")
    parts: list[Part] = []
    depth, deepest, part_start, colon = 1, 0, i + 1, -1
    at = i + 1
    while True:
        at = (_SKIP_TOP if depth == 1 else _SKIP_INNER).match(source, at, end).end()
        if at >= end:
            break
        char = source[at]
        if char == '"':
            raise CutShort("a string never ends")
        if char in _OPENERS:
            depth += 1
            deepest = max(deepest, depth - 1)
        elif char in "]}":
            depth -= 1
            if depth == 0:
                if char != _OPENERS[opener]:
                    raise Malformed(f"{opener} closed by {char}")
                if source[at + 1:end].strip(_SPACE):
                    raise Malformed("text after the end of the JSON value")
                last = Part(part_start, at, colon, deepest)
                if parts or last.text(source):
                    parts.append(last)
                return opener, parts
        elif char == ",":
            parts.append(Part(part_start, at, colon, deepest))
            part_start, colon, deepest = at + 1, -1, 0
        elif colon < 0:  # ":" between a member's key and value
            colon = at
        at += 1
    raise CutShort(f"the JSON {'array' if opener == '[' else 'object'} never closes")


@dataclass(frozen=True)
class Limits:
    """What a record may be before it is parsed (a guard for memory and recursion)."""

    max_chars: int
    max_depth: int


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_conflicting_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook: a key named twice with different values cannot be resolved
    (which one the source meant is unknowable); the same value twice is harmless."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj and _canonical(obj[key]) != _canonical(value):
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _canonical(value: Any) -> str:
    # json text tells 1, 1.0 and true apart, where == would not
    return json.dumps(value, sort_keys=True)


def parse_part(text: str, depth: int, limits: Limits) -> tuple[dict[str, Any] | None,
                                                                str | None]:
    """(object, None), or (None, the `_parse_error` text) for a part that is not a record.

    `depth` is the part's nesting depth as `split` measured it: checked, with the size,
    before anything is parsed.
    """
    if not text:
        return None, reject(Reason.NOT_A_RECORD, "an empty element (two commas in a row, "
                                                 "or one before the closing bracket)")
    if len(text) > limits.max_chars:
        return None, reject(Reason.OVER_LIMIT, f"{len(text):,} characters, more than the "
                                               f"{limits.max_chars:,} a record may have")
    if depth > limits.max_depth:
        return None, reject(Reason.OVER_LIMIT, f"nested {depth} deep, deeper than the "
                                               f"{limits.max_depth} a record may be")
    try:
        value = json.loads(text, object_pairs_hook=_refuse_conflicting_keys)
    except _DuplicateKey as e:
        return None, reject(Reason.DUPLICATE_KEY, f"key {safe_text(e.key)[:60]!r} given "
                                                  "twice with different values")
    except json.JSONDecodeError as e:
        return None, reject(Reason.UNPARSEABLE, f"invalid JSON: {e.msg} at character {e.pos}")
    except (ValueError, RecursionError) as e:  # e.g. an integer of more than 4300 digits
        return None, reject(Reason.OVER_LIMIT if isinstance(e, RecursionError)
                            else Reason.UNPARSEABLE, f"JSON not readable: {type(e).__name__}")
    if not isinstance(value, dict):
        return None, reject(Reason.NOT_A_RECORD, "not a JSON object (found "
                                                 f"{_json_kind(value)})")
    if _SURROGATE.search(text) and not _encodable(value):
        return None, reject(Reason.BAD_ENCODING, "a string holds a lone UTF-16 surrogate "
                                                 "(not valid text)")
    return value, None


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array"}.get(type(value), type(value).__name__)


def safe_text(text: str) -> str:
    """Text that can be written as UTF-8: lone surrogates (undecodable bytes kept by
    `surrogateescape`, or `\\ud800` escapes) become visible backslash escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
