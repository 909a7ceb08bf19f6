"""How a declared 互联互通 query is walked: page by page, or time window by time window.

A source declares one query (its method, the key of the reply's Data holding the items)
and how to walk it:
- a listing (no `window_step`): pages 1, 2, … until the reply's page count, the whole list
  each run (a snapshot, as a platform lists what it has); the cursor only remembers the
  next page while a run is under way, so a run stopped at its deadline resumes there;
- a window walk: one query per time window [start, end), the window's start and end
  written into the request under the declared keys, from the cursor's window to the last
  one that has closed (ended `window_delay` before now, not after `window_until`); each
  window paged in turn when `paged`. The cursor is the next window (and page), so a rerun asks
  only for windows not read yet, and a window read again yields the same items.

Each page's Data is taken apart as JSON lines are (`json_records`): every item is read
alone, under the record limits, so an item that is too big, too deep, ambiguous or not
an object becomes that item's error and the rest of the page still loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from .errors import SourceProtocolError
from .interconnect_calls import InterconnectCalls
from .json_records import CutShort, Malformed, Part, raw_text, read_record, split
from .limits import ReadLimits

log = logging.getLogger(__name__)

#: how the cursor writes a window's start (independent of the request's time format)
CURSOR_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Item:
    """One item of a reply: its text, and either the object or why it is no record."""

    text: str
    value: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class Page:
    origin: str
    items: list[Item]
    #: where the next run starts once this page is landed
    cursor: dict[str, Any]
    #: set on the last page a run reads before its deadline
    note: str | None = None


def walk(calls: InterconnectCalls, cursor: Mapping[str, Any] | None, now: datetime,
         clock: Callable[[], float]) -> Iterator[Page]:
    """The pages of the source's declared query, from `cursor` on."""
    cfg = calls.config
    deadline = (None if cfg.extraction_deadline_s is None
                else clock() + cfg.extraction_deadline_s)
    with calls.session() as client:
        for page in (_listing(calls, client, cursor) if cfg.window is None
                     else _windows(calls, client, cursor, now)):
            if deadline is not None and clock() >= deadline and page.cursor:
                note = (f"stopped at the extraction deadline ({cfg.extraction_deadline_s:g}"
                        " s); the next run resumes from here")
                yield Page(page.origin, page.items, page.cursor, note)
                return
            yield page


def _listing(calls: InterconnectCalls, client: httpx.Client,
             cursor: Mapping[str, Any] | None) -> Iterator[Page]:
    cfg = calls.config
    page_no = _page_no(cursor)
    if not cfg.paged:
        origin = cfg.method or ""
        yield Page(origin, _items(calls, client, {}, origin)[0], {})
        return
    for origin, items, last in _pages(calls, client, {}, f"{cfg.method}?", page_no):
        yield Page(origin, items, {} if last else {"page": last_page(origin) + 1})


def _windows(calls: InterconnectCalls, client: httpx.Client,
             cursor: Mapping[str, Any] | None, now: datetime) -> Iterator[Page]:
    cfg = calls.config
    w = cfg.window
    assert w is not None
    start, page_no = _window_start(cursor, w.first), _page_no(cursor)
    stop = now - w.delay
    if w.until is not None:
        stop = min(stop, w.until)
    if cfg.dates is not None:  # a backfill: the windows of those days only
        first_day = datetime.combine(cfg.dates[0], datetime.min.time())
        start = max(start, first_day) if cursor and "next" in cursor else first_day
        stop = min(stop, datetime.combine(cfg.dates[1], datetime.min.time()) + timedelta(1))
    while start + w.step <= stop:
        end = start + w.step
        bounds = {w.start_key: start.strftime(w.time_format),
                  w.end_key: end.strftime(w.time_format)}
        where = f"{cfg.method}?{w.start_key}={bounds[w.start_key]}&{w.end_key}=" \
                f"{bounds[w.end_key]}"
        if not cfg.paged:
            yield Page(where, _items(calls, client, bounds, where)[0],
                       {"next": end.strftime(CURSOR_TIME)})
        else:
            for origin, items, last in _pages(calls, client, bounds, where + "&", page_no):
                yield Page(origin, items, {"next": end.strftime(CURSOR_TIME)} if last else
                           {"next": start.strftime(CURSOR_TIME),
                            "page": last_page(origin) + 1})
        start, page_no = end, 1


def _pages(calls: InterconnectCalls, client: httpx.Client, body: dict[str, Any],
           where: str, page_no: int) -> Iterator[tuple[str, list[Item], bool]]:
    """(origin, items, is the last page) of each page from `page_no` on, until the
    reply's page count. A page repeating the page before (a platform that ignores the
    page number) is a protocol error, not an endless walk."""
    cfg = calls.config
    before: str | None = None
    while True:
        origin = f"{where}{cfg.page_number_key}={page_no}"
        paging = {cfg.page_number_key: page_no, cfg.page_size_key: cfg.page_size}
        items, count = _items(calls, client, body | paging, origin)
        if count is None:
            raise SourceProtocolError(calls.source, f"reply Data without {cfg.page_count_key} (the "
                                      "page count)", origin=origin)
        digest = hashlib.md5("\x1e".join(i.text for i in items).encode("utf-8", "replace"),
                             usedforsecurity=False).hexdigest()
        if items and digest == before:
            raise SourceProtocolError(calls.source, f"page {page_no} repeats page "
                                      f"{page_no - 1}: the platform ignores {cfg.page_number_key}?",
                                      origin=origin)
        last = page_no >= count
        yield origin, items, last
        if last:
            return
        before, page_no = digest, page_no + 1


def last_page(origin: str) -> int:
    """The page number an origin names (its last `=` value)."""
    return int(origin.rsplit("=", 1)[1])


def _page_no(cursor: Mapping[str, Any] | None) -> int:
    page = (cursor or {}).get("page", 1)
    return page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else 1


def _window_start(cursor: Mapping[str, Any] | None, first: datetime) -> datetime:
    text = (cursor or {}).get("next")
    if text is None:
        return first
    try:
        return datetime.strptime(str(text), CURSOR_TIME)
    except ValueError:
        log.warning("cursor window %r is not a time: walking from %s again", text, first)
        return first


# -- a reply's items ------------------------------------------------------------------------
def _items(calls: InterconnectCalls, client: httpx.Client, body: dict[str, Any],
           origin: str) -> tuple[list[Item], int | None]:
    """The items of one call, and the page count the reply gives (None: none given)."""
    cfg = calls.config
    data = calls.call(client, cfg.method or "", cfg.body | body, origin=origin)
    limits = ReadLimits(max_record_bytes=cfg.max_record_bytes, max_depth=cfg.max_record_depth)
    try:
        return read_items(data, cfg.items or "", cfg.page_count_key, limits)
    except _Unreadable as e:
        raise SourceProtocolError(calls.source, str(e), origin=origin) from None


class _Unreadable(ValueError):
    """Data that holds no items under the declared key."""


def read_items(data: bytes, items_key: str, count_key: str,
               limits: ReadLimits) -> tuple[list[Item], int | None]:
    """The items under `items_key` of Data (a JSON object), each read alone, and the
    integer under `count_key` (None if absent). Keys are matched as written first, then
    in any case (key casing drifts between platforms)."""
    try:
        container = split(data)
    except (CutShort, Malformed) as e:
        raise _Unreadable(f"reply Data is not JSON ({e})") from None
    if container.kind != "object":
        raise _Unreadable("reply Data is a JSON array, not an object")
    members = _members(data, container.parts)
    part = _member(members, items_key)
    if part is None:
        shown = ", ".join(list(members)[:8]) or "none"
        raise _Unreadable(f"no {items_key!r} in the reply Data (its keys: {shown}); check "
                          "`items`")
    value = part.value(data)
    if value == b"null":
        elements: list[Part] = []
    else:
        try:
            array = split(value)
        except (CutShort, Malformed) as e:
            raise _Unreadable(f"{items_key} is not a JSON array ({e})") from None
        if array.kind != "array":
            raise _Unreadable(f"{items_key} is a JSON object, not an array")
        elements = array.parts
    items = []
    for element in elements:
        raw = element.text(value)
        record, error = read_record(raw, limits)
        items.append(Item(raw_text(raw), record, error))
    counted = _member(members, count_key)
    return items, None if counted is None else _count(counted.value(data), count_key)


def _members(data: bytes, parts: list[Part]) -> dict[str, Part]:
    members: dict[str, Part] = {}
    for part in parts:
        try:
            key = json.loads(part.key(data)) if part.colon >= 0 else None
        except ValueError:
            key = None
        if not isinstance(key, str):
            raise _Unreadable("reply Data has a member without a name")
        members.setdefault(key, part)
    return members


def _member(members: dict[str, Part], key: str) -> Part | None:
    if key in members:
        return members[key]
    folded = [p for k, p in members.items() if k.casefold() == key.casefold()]
    return folded[0] if len(folded) == 1 else None


def _count(raw: bytes, key: str) -> int:
    text = raw.decode("utf-8", "replace").strip().strip('"')
    if not text.isdigit():
        raise _Unreadable(f"{key} is not a count ({text[:20]!r})")
    return int(text)
