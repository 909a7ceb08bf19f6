"""One JSON record from raw bytes, checked before it is parsed; JSON documents taken apart.

`read_record` turns the bytes of one record (a JSON line, an element of a JSON array)
into an object or a `_parse_error` text, never an exception: size and nesting depth
are checked on the bytes before any parsing (Python's parser recurses per level, and a
line of 100,000 `[` would exhaust the stack), then the text is decoded and parsed with
a hook that rejects a key repeated with a different value, at every level (`json.loads`
would silently keep the last one).

`document` recognises a file that is one JSON document (an array of records, or one
object over several lines) by scanning its structure, strings and brackets only, so
each element can then be read by `read_record` with its own limits and errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from schemas.reasons import Reason

from .limits import RAW_TEXT_LIMIT, ReadLimits
from .rejects import reject

#: JSON's own whitespace: nothing else makes a line blank (U+3000 is not blank here)
JSON_WHITESPACE = b" \t\r\n"
#: C0 control characters other than tab, CR and LF: never part of a text record
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# a string (possessive, so an unclosed one costs one pass; group 1 is its closing quote,
# absent when a line break or the end comes first), or a structural character
_TOKEN = re.compile(rb'"(?:[^"\\\n]++|\\.)*+(")?|[\[\]{},]')
_STRING = re.compile(rb'"(?:[^"\\\n]++|\\.)*+"?')
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = [1 if c in b"[{" else -1 if c in b"]}" else 0 for c in range(256)]
_NON_WS = re.compile(rb"[^ \t\r\n]")
# a \u escape of a surrogate half: only then can parsed text hold a lone surrogate
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_CLOSER = {ord("["): ord("]"), ord("{"): ord("}")}
_OPEN, _CLOSE, _COMMA, _QUOTE = b"[{", b"]}", ord(","), ord('"')


def too_deep(raw: bytes, limit: int) -> bool:
    """Whether JSON text nests objects and arrays deeper than `limit` (strings skipped).

    The running depth is summed in C (accumulate over the brackets left once strings are
    cut out): a line of a million brackets costs milliseconds. Where the depth first
    dips below zero the parser stops anyway, so later openers count only for garbage.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:  # cannot be deeper: no scan needed
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    first: dict[str, Any] = {}
    for key, value in pairs:
        if key in first and not _same(first[key], value):
            raise _DuplicateKeyError(key)
        first.setdefault(key, value)
    return first


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 and 1.0 are one number, true is not 1, key order does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (a != a and b != b)  # noqa: PLR0124 - NaN equals NaN here
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def raw_text(raw: bytes) -> str:
    """An unparsed record's text for `_raw_text`: decoded as far as possible, capped."""
    return raw[:RAW_TEXT_LIMIT].decode("utf-8", errors="replace")


def read_record(raw: bytes, limits: ReadLimits) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) for a good record, else (None, `_parse_error` text)."""
    if len(raw) > limits.max_record_bytes:
        return None, reject(Reason.OVER_LIMIT, f"{len(raw):,} bytes, over the limit of "
                                               f"{limits.max_record_bytes:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, reject(Reason.BAD_ENCODING, f"not UTF-8: {e.reason} at byte {e.start}")
    control = CONTROL.search(text)
    if control:
        return None, reject(Reason.BAD_ENCODING, f"control character "
                                                 f"U+{ord(control.group()):04X} at column "
                                                 f"{control.start() + 1}")
    if too_deep(raw, limits.max_depth):
        return None, reject(Reason.OVER_LIMIT, f"nested deeper than {limits.max_depth} levels")
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_not_json)
    except json.JSONDecodeError as e:
        return None, reject(Reason.UNPARSEABLE, f"invalid JSON: {e.msg} at column {e.colno}")
    except _DuplicateKeyError as e:
        return None, reject(Reason.DUPLICATE_KEY, f"key {e.key[:60]!r} given twice with "
                                                  "different values")
    except RecursionError:  # the depth check makes this unreachable; kept as a guard
        return None, reject(Reason.OVER_LIMIT, "nested too deep to parse")
    except ValueError as e:  # NaN or Infinity, or a number of over 4,300 digits
        if "digits" in str(e):
            return None, reject(Reason.OVER_LIMIT, "a number of more than 4,300 digits")
        return None, reject(Reason.UNPARSEABLE, str(e)[:200])
    if not isinstance(value, dict):
        return None, reject(Reason.NOT_A_RECORD, f"not a JSON object (found "
                                                 f"{_json_kind(value)})")
    if _SURROGATE_ESCAPE.search(raw) and _holds_lone_surrogate(value):
        return None, reject(Reason.BAD_ENCODING, "a \\u escape of half a surrogate pair, "
                                                 "which no text can hold")
    return value, None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {list: "array", str: "string"}.get(type(value), "number")


def _holds_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass(frozen=True)
class Element:
    """One record of a JSON document: its bytes' span and the line where it starts."""

    start: int
    end: int
    row: int


@dataclass(frozen=True)
class Document:
    #: "array" or "object"
    kind: str
    elements: tuple[Element, ...]


def document(data: bytes) -> Document | None:
    """The records of `data` if it is exactly one JSON document, else None.

    A document is an array (its elements are the records; elements that are not
    objects are for `read_record` to reject) or an object spanning several lines (the
    one record). One object on one line is left to JSON Lines, which reads it the same.
    Only strings and brackets are scanned, so an element that is not valid JSON is still
    found and rejected alone; mismatched brackets, an unclosed string, or anything but
    whitespace after the document mean it is not a document (None).
    """
    first = _NON_WS.search(data)
    if first is None or data[first.start()] not in _OPEN:
        return None
    pos = first.start()
    spans = _top_level(data, pos)
    if spans is None:
        return None
    end, elements = spans
    if _NON_WS.search(data, end):
        return None
    if data[pos] == ord("{"):
        if b"\n" not in data[pos:end]:
            return None
        elements = [(pos, end)]
    rows = _rows(data, [s for s, _ in elements])
    return Document("array" if data[pos] == ord("[") else "object",
                    tuple(Element(s, e, r) for (s, e), r in zip(elements, rows, strict=True)))


def _top_level(data: bytes, pos: int) -> tuple[int, list[tuple[int, int]]] | None:
    """(end, element spans) of the array or object at `pos`, or None if it never closes."""
    stack: list[int] = []
    elements: list[tuple[int, int]] = []
    begin = pos + 1  # where the current top-level element's text begins
    for m in _TOKEN.finditer(data, pos):
        at = m.start()
        c = data[at]
        if c == _QUOTE:
            if m.group(1) is None:
                return None  # a string left open at a line break or the end
        elif c in _OPEN:
            stack.append(_CLOSER[c])
        elif c in _CLOSE:
            if not stack or stack.pop() != c:
                return None
            if not stack:
                _add_span(data, begin, at, elements)
                return m.end(), elements
        elif len(stack) == 1:  # a comma between the document's elements
            _add_span(data, begin, at, elements)
            begin = m.end()
    return None


def _add_span(data: bytes, begin: int, end: int, out: list[tuple[int, int]]) -> None:
    """The element between `begin` and `end`, whitespace trimmed; nothing if blank."""
    first = _NON_WS.search(data, begin, end)
    if first is None:  # `[]`, or a trailing comma: no element, nothing to count
        return
    last = end
    while data[last - 1] in JSON_WHITESPACE:
        last -= 1
    out.append((first.start(), last))


def _rows(data: bytes, starts: list[int]) -> list[int]:
    """The line (1-based) of each position, counted incrementally."""
    rows, row, at = [], 1, 0
    for s in starts:
        row += data.count(b"\n", at, s)
        at = s
        rows.append(row)
    return rows
