"""Keyset paging through a gateway's record list, in (updated, id) order.

Pages are read in (updated field, id) order, and after each page the query restarts at
the page's last updated time (keyset paging, with pageNo only to step through a run of
equal times), so records the platform updates while we read move behind us instead of
shifting unread records onto pages already read.

- Paging that cannot end is a SourceProtocolError naming what the server did: a page
  repeating another of the same query (a server ignoring pageNo), or more pages than
  the first page's counts allow (see `PageGuard`).
- `extraction_deadline_s` bounds one extraction: past it, the extraction stops after
  the page in hand, which carries the note "stopped at the extraction deadline", and
  ends normally (`stop_at_deadline`; else it is a TransientSourceError).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import SourceProtocolError, TerminalSourceError, TransientSourceError
from .gateway_calls import GatewayCalls
from .gateway_protocol import Element, Envelope, check_page
from .incremental import is_time
from .lineage import to_text


@dataclass(frozen=True)
class Page:
    origin: str
    envelope: Envelope
    #: set on the last page an extraction reads before its deadline
    note: str | None = None


def pages(calls: GatewayCalls, since: str | None, scope: str | None, *,
          stop_at_deadline: bool) -> Iterator[Page]:
    """The pages of records updated since `since` (of `scope`, if given), in (updated, id)
    order.

    The next page's query follows from this page's rows, so it is sent (from one helper
    thread) before this page is handed over: the gateway prepares the next page while the
    caller works on this one. Closing the iterator waits for that request.
    """
    cfg = calls.config
    assert cfg.updated_field is not None  # checked by the connector
    if scope and not cfg.scope_param:
        # reading everything instead would hand over records outside the scope asked for
        raise TerminalSourceError(calls.source, f"records of scope {scope!r} asked for, but "
                                  "no scope_param (the gateway's filter parameter) is set")
    deadline = (None if cfg.extraction_deadline_s is None
                else calls.clock() + cfg.extraction_deadline_s)
    guard = PageGuard(calls.source)
    page_no = 1
    with calls.session() as client, ThreadPoolExecutor(max_workers=1) as ahead:
        pending = ahead.submit(_page, calls, client, since, scope, page_no)
        while True:
            origin, envelope = pending.result()
            guard.read(origin, envelope, since)
            assert envelope.total_page is not None  # checked by check_page
            if not envelope.rows or page_no >= envelope.total_page:
                yield Page(origin, envelope)
                return
            last = last_time(envelope.rows, cfg.updated_field)
            if last is not None and (since is None or last > since):
                since, page_no = last, 1
            else:  # a page full of one timestamp: step on within it
                page_no += 1
            if deadline is not None and calls.clock() >= deadline:
                note = (f"stopped at the extraction deadline ({cfg.extraction_deadline_s:g}"
                        f" s) after {guard.pages} pages; the next run resumes from here")
                if not stop_at_deadline:
                    raise TransientSourceError(calls.source, note, origin=origin)
                yield Page(origin, envelope, note)
                return
            pending = ahead.submit(_page, calls, client, since, scope, page_no)
            yield Page(origin, envelope)


def _page(calls: GatewayCalls, client: httpx.Client, since: str | None, scope: str | None,
          page_no: int) -> tuple[str, Envelope]:
    """One page of the record list, as (origin, envelope)."""
    cfg = calls.config
    assert cfg.resource_path is not None  # checked by calls.session()
    params: dict[str, Any] = {"pageNo": page_no, "pageSize": cfg.page_size}
    if since is not None:
        params["updatedSince"] = since
    if scope and cfg.scope_param:  # (a scope without one is refused by pages())
        params[cfg.scope_param] = scope
    # the origin names the query (not the page size, not the signature)
    shown = ("updatedSince", cfg.scope_param, "pageNo")
    origin = cfg.resource_name + "?" + "&".join(f"{k}={params[k]}" for k in shown
                                                if k in params)
    envelope = calls.call(client, "GET", cfg.resource_path, params, origin=origin,
                          check=lambda e: check_page(e, page_no, cfg.page_size))
    return origin, envelope


def last_time(elements: list[Element], updated_field: str) -> str | None:
    """The latest readable updated time on a page: where the next keyset query starts."""
    texts = {to_text(e.value.get(updated_field)) for e in elements if e.value is not None}
    return max((t for t in texts if is_time(t)), default=None)


class PageGuard:
    """Ends paging that would not end by itself, with an error naming what happened.

    - A page with the same rows as another page of the same query (same updatedSince,
      another pageNo): a server ignoring pageNo. Across queries pages may repeat: a
      keyset restart at time T re-reads the rows at T, which can fill whole pages.
    - More pages than the first page's counts allow. A restart re-reads only rows at
      the time it restarts at, which strictly grows, so a run reads about twice the
      first totalPage at most; the cap is three times that, plus ten, leaving room for
      rows the platform writes while we read.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.pages = 0
        self._cap: int | None = None
        self._since: str | None = None
        #: fingerprint of each page of the current query → its origin
        self._seen: dict[str, str] = {}

    def read(self, origin: str, envelope: Envelope, since: str | None) -> None:
        self.pages += 1
        if self._cap is None:
            self._cap = 3 * (envelope.total_page or 0) + 10
        if self.pages > self._cap:
            raise SourceProtocolError(self.source, f"the server keeps serving pages: "
                                      f"{self.pages} read, more than the {self._cap} its first "
                                      "answer's totalPage allows", origin=origin)
        if since != self._since:
            self._since, self._seen = since, {}
        if not envelope.rows:
            return
        digest = hashlib.md5("\x1e".join(e.text for e in envelope.rows).encode("utf-8"),
                             usedforsecurity=False).hexdigest()
        if digest in self._seen:
            raise SourceProtocolError(self.source, "the server answered with the same rows "
                                      f"as {self._seen[digest]}: it repeats pages (does it "
                                      "ignore pageNo?)", origin=origin)
        self._seen[digest] = origin
