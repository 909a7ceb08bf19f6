"""A signed gateway's answers, read defensively: the envelope, its rows, its counts.

An answer is the envelope {"code","msg","datas","requestId","dataCount","totalPage"}
whose `datas` is a JSON array serialised into a string (an array in place is taken
too). The envelope is split into members and `datas` into elements by
`json_records.split`, and each row is read by `json_records.read_record` (as the JSON
Lines drop reads a line), so a row that is too deep, too big, broken or ambiguous becomes
that row's error (an `Element` with `error`) and the rest of the page still loads.

What is wrong with the answer as a whole is raised, in two kinds the caller retries
differently:
- `CutShortAnswer`: the text ends early (a dropped connection, a proxy cutting the
  body): fetching again should help.
- `Violation`: the answer breaks the protocol (not JSON, no code, counts that disagree
  with the rows, `datas` missing while dataCount says there are rows). A gateway can
  glitch, so the caller tries a few times before calling it a protocol error.
Business codes are decided by the caller (`code`, `msg`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .json_records import (
    JSON_WHITESPACE,
    CutShort,
    Malformed,
    Part,
    raw_text,
    read_record,
    split,
    too_deep,
)
from .limits import ReadLimits

_BOM = b"\xef\xbb\xbf"
#: envelope members other than `datas` are scalars; anything nested deeper is refused
_MEMBER_DEPTH = 8


class CutShortAnswer(Exception):
    """The answer's text ends before its JSON does."""


class Violation(Exception):
    """The answer does not follow the gateway's protocol."""


@dataclass(frozen=True)
class Element:
    """One element of `datas`: its text, and either the object or why it is not a row."""

    text: str
    value: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class Envelope:
    code: str
    msg: str
    #: None: the answer has no `datas` (or null)
    elements: list[Element] | None
    data_count: int | None
    total_page: int | None
    request_id: str | None

    @property
    def rows(self) -> list[Element]:
        return self.elements or []


def parse_envelope(body: bytes, limits: ReadLimits) -> Envelope:
    """The envelope of an HTTP 200 answer (raises CutShortAnswer or Violation)."""
    data = body.removeprefix(_BOM)
    try:
        container = split(data)
    except CutShort as e:
        raise CutShortAnswer(f"answer cut short after {len(body):,} bytes ({e})") from None
    except Malformed:
        raise Violation(f"answer is not JSON ({safe_text(_text(data[:240])[:60])!r})") from None
    if container.kind != "object":
        raise Violation("answer is a JSON array, not an envelope object")
    members = _members(data, container.parts)
    code = _scalar(data, members, "code")
    if not isinstance(code, str):
        raise Violation("envelope with no code")
    msg, request_id = (_scalar(data, members, k) for k in ("msg", "requestId"))
    counts = [_scalar(data, members, k) for k in ("dataCount", "totalPage")]
    for name, value in zip(("dataCount", "totalPage"), counts, strict=True):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise Violation(f"envelope {name} is not a count ({safe_text(repr(value))[:40]})")
    return Envelope(code, safe_text(str(msg or ""))[:200], _datas(data, members, limits),
                    counts[0], counts[1],
                    None if request_id is None else safe_text(str(request_id))[:80])


def _members(data: bytes, parts: list[Part]) -> dict[str, Part]:
    members: dict[str, Part] = {}
    for part in parts:
        if part.colon < 0:
            raise Violation("envelope member without a value")
        try:
            key = _json(part.key(data))
        except ValueError:
            raise Violation("envelope member whose name is not a JSON string") from None
        if not isinstance(key, str):
            raise Violation("envelope member whose name is not a JSON string")
        if key in members:
            raise Violation(f"envelope names {safe_text(key)[:40]!r} twice")
        members[key] = part
    return members


def _scalar(data: bytes, members: dict[str, Part], name: str) -> Any:
    part = members.get(name)
    if part is None:
        return None
    value = part.value(data)
    depth = too_deep(value, _MEMBER_DEPTH)
    if depth is not None:
        raise Violation(f"envelope {name} nested {depth} deep")
    try:
        return _json(value)
    except (ValueError, RecursionError):
        raise Violation(f"envelope {name} is not JSON") from None


def _datas(data: bytes, members: dict[str, Part], limits: ReadLimits) -> list[Element] | None:
    part = members.get("datas")
    if part is None:
        return None
    value = part.value(data)
    if value == b"null":
        return None
    if value.startswith(b'"'):  # the protocol: an array serialised into a string
        try:
            inner = _json(value)
        except ValueError:
            raise Violation("datas is a broken JSON string") from None
        if not inner.strip():
            return []
        # back to bytes for the rows' reader; a lone surrogate (an escape in the outer
        # string, or a byte that was not UTF-8) becomes bytes that are not UTF-8, which
        # rejects its row alone
        rows = inner.encode("utf-8", "surrogatepass")
        return _elements(rows, 0, len(rows), limits)
    if value.startswith(b"["):
        return _elements(data, part.colon + 1, part.end, limits)
    raise Violation(f"datas is {_kind(value)}, not a JSON array")


def _elements(data: bytes, start: int, end: int, limits: ReadLimits) -> list[Element]:
    first = data[start:end].lstrip(JSON_WHITESPACE)[:1]
    if first != b"[":
        raise Violation(f"datas is not a JSON array (it starts with "
                        f"{safe_text(_text(first))!r})")
    try:
        parts = split(data, start, end).parts
    except CutShort as e:
        raise Violation(f"datas is cut short ({e})") from None
    except Malformed as e:
        raise Violation(f"datas is not a JSON array ({e})") from None
    elements = []
    for part in parts:
        raw = part.text(data)
        value, error = read_record(raw, limits)
        elements.append(Element(raw_text(raw), value, error))
    return elements


def _kind(value: bytes) -> str:
    first = value[:1]
    return {b"{": "a JSON object", b"t": "a boolean", b"f": "a boolean"}.get(
        first, "a number" if first in b"-0123456789" else "not JSON")


def _json(raw: bytes) -> Any:
    """An envelope member's JSON value; bytes that are not UTF-8 are kept (as lone
    surrogates, see `safe_text`) rather than failing the whole answer."""
    return json.loads(_text(raw))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def safe_text(text: str) -> str:
    """Text that can be written as UTF-8: lone surrogates (undecodable bytes kept by
    `surrogateescape`, or `\\ud800` escapes) become visible backslash escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def check_page(envelope: Envelope, page_no: int, page_size: int) -> None:
    """Raise Violation if a page of the record list contradicts its own counts.

    The counts must agree with each other (each page holds at least one row and at
    most pageSize), and with the rows: a page the counts say exists must hold rows
    (so a missing or empty `datas` is never taken as "no more rows"), a page beyond
    them must not, and no page holds more than pageSize or dataCount rows.
    """
    count, pages = envelope.data_count, envelope.total_page
    if pages is None:
        raise Violation("envelope without totalPage")
    if count is None:
        raise Violation("envelope without dataCount")
    fits = pages <= 1 if count == 0 else math.ceil(count / page_size) <= pages <= count
    if not fits:
        raise Violation(f"totalPage {pages} cannot hold dataCount {count} at {page_size} "
                        "a page")
    rows = len(envelope.rows)
    if rows > page_size or rows > count:
        raise Violation(f"{rows} rows on a page of {page_size} (dataCount {count})")
    if rows == 0 and count > 0 and page_no <= pages:
        what = "no datas" if envelope.elements is None else "no rows"
        raise Violation(f"page {page_no} of {pages} holds {what} though dataCount says "
                        f"{count}")
    if rows > 0 and page_no > pages:
        raise Violation(f"page {page_no} holds rows beyond totalPage {pages}")
