"""JSON records read from raw bytes one at a time, and JSON containers taken apart.

`json.loads` of a whole array is all or nothing, and it recurses once per level: one
element nested deep enough to exhaust Python's stack (a line of 100,000 `[`), or one
broken element, fails every row with it. So the JSON Lines drop (`jsonl_drop`) and the
signed gateway (`gateway_protocol`) read JSON the same way, through this module:

- `split` takes a container apart into its top-level parts (the elements of an array,
  the `key: value` members of an object) with a scanner that tracks only strings (with
  their escapes) and bracket depth: no recursion, no values built, and C-level regex
  matches over everything between brackets (a run of brackets is one match).
- `read_record` turns the bytes of one record (a JSON line, one element) into an object
  or a `_parse_error` text, never an exception: size and nesting depth (`too_deep`) are
  checked on the bytes before any parsing, then the text is decoded and parsed with a
  hook that rejects a key repeated with a different value, at every level (`json.loads`
  would silently keep the last one).
- `document` recognises a file that is one JSON document (an array of records, or one
  object over several lines), so that each element can be read by `read_record`.

Crash semantics: `split` raises `CutShort` when the text ends inside the container (a
truncated answer: fetching again may help) and `Malformed` when it is not one JSON
array or object; nothing else escapes. `read_record` and `document` never raise.
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
# a string up to (not including) its closing quote; possessive, so a string that never
# closes costs one pass
_STRING_BODY = rb'"(?:[^"\\]++|\\.)*+'
#: a string, closed or not (an unclosed one runs to the end)
_STRING = re.compile(_STRING_BODY + rb'"?', re.DOTALL)
#: what the scanner steps over in one match: closed strings and anything but brackets,
#: plus commas and colons inside an element, where they do not separate parts. It stops
#: at the next character that matters (or a string that never closes).
_SKIP_TOP = re.compile(rb'(?:[^\[\]{}",:]++|' + _STRING_BODY + rb'")*+', re.DOTALL)
_SKIP_INNER = re.compile(rb'(?:[^\[\]{}"]++|' + _STRING_BODY + rb'")*+', re.DOTALL)
_OPENING, _CLOSING = re.compile(rb"[\[{]+"), re.compile(rb"[\]}]+")
_NON_WS = re.compile(rb"[^ \t\r\n]")
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = [1 if c in b"[{" else -1 if c in b"]}" else 0 for c in range(256)]
# a \u escape of a surrogate half: only then can parsed text hold a lone surrogate
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_CLOSER = {ord("["): ord("]"), ord("{"): ord("}")}
_KIND = {ord("["): "array", ord("{"): "object"}
_OPEN, _CLOSE, _COMMA, _QUOTE = b"[{", b"]}", ord(","), ord('"')


# -- containers taken apart ---------------------------------------------------------------
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

    def text(self, data: bytes) -> bytes:
        return data[self.start:self.end].strip(JSON_WHITESPACE)

    def value(self, data: bytes) -> bytes:
        """A member's value (objects), or the whole part (arrays)."""
        return data[self.colon + 1 if self.colon >= 0 else self.start:self.end].strip(
            JSON_WHITESPACE)

    def key(self, data: bytes) -> bytes:
        return data[self.start:self.colon].strip(JSON_WHITESPACE)


@dataclass(frozen=True)
class Container:
    #: "array" or "object"
    kind: str
    parts: list[Part]
    #: just after its closing bracket
    end: int


def split(data: bytes, start: int = 0, end: int | None = None) -> Container:
    """The top-level parts of the container in data[start:end].

    Only whitespace may surround the container. An empty container has no parts; an
    empty part between commas (`[1,,2]`, `[1,]`) is kept, as a part with no text. Only
    depth is counted, so a bracket mismatched inside a part is left for the part's own
    parse to reject; the container's own brackets must match.
    """
    end = len(data) if end is None else end
    first = _NON_WS.search(data, start, end)
    if first is None:
        raise CutShort("no JSON value at all")
    i = first.start()
    if data[i] not in _OPEN:
        raise Malformed(f"expected a JSON array or object, found {data[i:i + 1]!r}")
    kind = _KIND[data[i]]
    parts: list[Part] = []
    depth, part_start, colon, at = 1, i + 1, -1, i + 1
    while True:
        at = (_SKIP_TOP if depth == 1 else _SKIP_INNER).match(data, at, end).end()
        if at >= end:
            break
        char = data[at]
        if char == _QUOTE:
            raise CutShort("a string never ends")
        if char in _OPEN:  # a run of openers is one step, however deep it nests
            run = _OPENING.match(data, at, end).end()
            depth += run - at
            at = run
            continue
        if char in _CLOSE:
            run = _CLOSING.match(data, at, end).end()
            if run - at < depth:
                depth -= run - at
                at = run
                continue
            at += depth - 1  # the closer that closes the container
            if data[at] != _CLOSER[data[i]]:
                raise Malformed(f"{chr(data[i])} closed by {chr(data[at])}")
            if _NON_WS.search(data, at + 1, end):
                raise Malformed("text after the end of the JSON value")
            if parts or _NON_WS.search(data, part_start, at):
                parts.append(Part(part_start, at, colon))
            return Container(kind, parts, at + 1)
        if char == _COMMA:
            parts.append(Part(part_start, at, colon))
            part_start, colon = at + 1, -1
        elif colon < 0:  # ":" between a member's key and value
            colon = at
        at += 1
    raise CutShort(f"the JSON {kind} never closes")


def too_deep(raw: bytes, limit: int) -> int | None:
    """How deep JSON text nests objects and arrays, if deeper than `limit` (else None).

    Strings are skipped. The running depth is summed in C (accumulate over the brackets
    left once strings are cut out): a line of a million brackets costs milliseconds.
    Where the depth first dips below zero the parser stops anyway, so later openers
    count only for garbage.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:  # cannot be deeper: no scan needed
        return None
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    depth = max(accumulate(map(_STEP.__getitem__, brackets)), default=0)
    return depth if depth > limit else None


# -- one record -----------------------------------------------------------------------------
class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook: a key named twice with different values cannot be resolved
    (which one the source meant is unknowable); the same value twice is harmless."""
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
    if not raw:
        return None, reject(Reason.NOT_A_RECORD, "an empty element (two commas in a row, "
                                                 "or one before the closing bracket)")
    if len(raw) > limits.max_record_bytes:
        return None, reject(Reason.OVER_LIMIT, f"{len(raw):,} bytes, more than the "
                                               f"{limits.max_record_bytes:,} a record may "
                                               "have")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, reject(Reason.BAD_ENCODING, f"not UTF-8: {e.reason} at byte {e.start}")
    control = CONTROL.search(text)
    if control:
        return None, reject(Reason.BAD_ENCODING, f"control character "
                                                 f"U+{ord(control.group()):04X} at column "
                                                 f"{control.start() + 1}")
    depth = too_deep(raw, limits.max_depth)
    if depth is not None:
        return None, reject(Reason.OVER_LIMIT, f"nested {depth:,} deep, deeper than the "
                                               f"{limits.max_depth} a record may be")
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


# -- a file that is one JSON document ------------------------------------------------------
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
    objects, empty ones included, are for `read_record` to reject) or an object spanning
    several lines (the one record). One object on one line is left to JSON Lines, which
    reads it the same. The container is taken apart by `split`, so an element that is
    not valid JSON is still found and rejected alone; a container that does not close,
    or anything but whitespace after it, means it is not a document (None).
    """
    first = _NON_WS.search(data)
    if first is None or data[first.start()] not in _OPEN:
        return None
    pos = first.start()
    try:
        container = split(data, pos)
    except (CutShort, Malformed):
        return None
    if container.kind == "object":
        if data.find(b"\n", pos, container.end) < 0:
            return None
        spans = [(pos, container.end)]
    else:
        spans = [_span(data, part) for part in container.parts]
    rows = _rows(data, [s for s, _ in spans])
    return Document(container.kind, tuple(Element(s, e, r) for (s, e), r
                                          in zip(spans, rows, strict=True)))


def _span(data: bytes, part: Part) -> tuple[int, int]:
    """Where a part's text is, whitespace around it left out. An empty part is placed
    at the comma or bracket that ends it: its row is the line holding the stray comma
    (`,` alone on a line) or the closing bracket after a trailing comma."""
    first = _NON_WS.search(data, part.start, part.end)
    start = part.end if first is None else first.start()
    return start, start + len(part.text(data))


def _rows(data: bytes, starts: list[int]) -> list[int]:
    """The line (1-based) of each position, counted incrementally."""
    rows, row, at = [], 1, 0
    for s in starts:
        row += data.count(b"\n", at, s)
        at = s
        rows.append(row)
    return rows
