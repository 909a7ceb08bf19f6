"""The provincial dispute platform, through its signed HTTP gateway.

Every call is signed (md5 of appKey + secret + requestTime in epoch ms, in the query) and
answered with an envelope whose `datas` is a JSON array serialised into a string
(read by `gateway_protocol`, one row at a time).

Extraction is incremental on `zjgxsj` (last updated) through `incremental.Watermark`:
each run asks for rows updated since (watermark − lookback) and drops those already
handed over unchanged. Pages are read in (zjgxsj, id) order, and after each page the
query restarts at the page's last `zjgxsj` (keyset paging, with pageNo only to step
through a run of equal times), so rows the platform updates while we read move behind
us instead of shifting unread rows onto pages already read.

Crash semantics (what happens to what)
- A row that cannot be a record becomes an error record with a reason code (see
  connectors.rejects) and the page's other rows load: nested deeper or longer than
  `max_record_depth` / `max_record_bytes` (checked before parsing: over_limit), broken
  JSON (unparseable), not an object (not_a_record), a key given twice with different
  values (duplicate_key), no `id` or no `zjgxsj` (missing_key), a `zjgxsj` that is not
  a time (impossible_date), bytes that are not UTF-8, a control character or an escaped
  lone surrogate (bad_encoding). Rows are read as JSON lines are (`json_records`), under
  the same limits and reasons. Error records are
  remembered in the cursor like rows, so a re-read page does not repeat them.
- Retried with exponential backoff and jitter, then a TransientSourceError: HTTP 5xx
  and 429, timeouts, dropped connections, an answer cut short (fewer bytes than its
  Content-Length, or JSON that ends early), an answer not complete within
  `request_deadline_s` (the body is streamed and the deadline checked as it arrives,
  so a server trickling bytes cannot hold a request open), business code 18 (quota).
- Retried `protocol_attempts` times (a gateway can glitch), then a SourceProtocolError
  naming the page: an answer that breaks the protocol, including counts that disagree
  with the rows (a page the counts say exists arriving without rows is never taken for
  "no more rows").
- At once: codes 14 (signature) and 11 (key expired) as SourceAuthError, other codes
  as TerminalSourceError, HTTP 404 as SourceNotFoundError, an answer larger than
  `max_response_bytes` as SourceProtocolError.
- Paging that cannot end is a SourceProtocolError naming what the server did: a page
  repeating another of the same query (a server ignoring pageNo), or more pages than
  the first page's counts allow (see `_PageGuard`).
- `extraction_deadline_s` bounds one extraction: past it, the extraction stops after
  the page in hand, whose batch carries the note "stopped at the extraction deadline",
  and ends normally. The caller lands what was read with its cursor and the next run
  resumes there. (Raising instead would make the caller discard the batches it has not
  landed yet, and a source slower than the deadline would then never progress.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import AfterValidator, AliasChoices, BaseModel, Field, SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from schemas.reasons import Reason

from .base import Cursor, RawBatch
from .errors import (
    SourceAuthError,
    SourceNotFoundError,
    SourceProtocolError,
    TerminalSourceError,
    TransientSourceError,
)
from .file_cursor import unique_columns
from .gateway_protocol import (
    CutShortAnswer,
    Element,
    Envelope,
    Violation,
    check_page,
    parse_envelope,
)
from .incremental import Watermark, is_time
from .limits import ReadLimits
from .lineage import build_table, to_text, to_texts
from .rejects import reject

log = logging.getLogger(__name__)

CASES_PATH = "/api/v1/mdjf/cases"
#: business codes of the gateway
OK, KEY_EXPIRED, BAD_SIGN, OVER_QUOTA = "00", "11", "14", "18"


def _http_address(value: str) -> str:
    """An http(s) address with a host, kept as written (the API's paths are appended)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// address with a host, "
                         "e.g. http://127.0.0.1:18421")
    return value


class ProvinceApiConfig(BaseModel):
    base_url: Annotated[str, AfterValidator(_http_address)] = "http://127.0.0.1:18421"
    app_key: str = "jiashan-county"
    app_secret: SecretStr = SecretStr("mock-secret-330421")
    page_size: int = Field(default=200, ge=1)
    #: per read from the socket (httpx's timeouts are per read, not per request)
    timeout_s: float = Field(default=10.0, gt=0)
    #: one request, from sending it to the answer's last byte
    request_deadline_s: float = Field(default=60.0, gt=0)
    #: one extraction; past it the extraction stops after the page in hand (None: no limit)
    extraction_deadline_s: float | None = Field(default=3600.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    #: attempts at a page whose answer breaks the protocol before it is an error
    protocol_attempts: int = Field(default=3, ge=1)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    #: a row longer (UTF-8 bytes of its JSON) or nested deeper than this is rejected
    #: unparsed, as a JSON line is (`max_record_chars` is its name from when rows were
    #: measured in characters, still read)
    max_record_bytes: int = Field(default=1_000_000, ge=1, validation_alias=AliasChoices(
        "max_record_bytes", "max_record_chars"))
    max_record_depth: int = Field(default=32, ge=1, le=500)
    #: an answer larger than this is refused (lower page_size if the platform's rows are big)
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    lookback: timedelta = timedelta(days=1)
    #: only this county's cases (the gateway's `qxdm`); None: every county the key may see
    county_code: str | None = None


class _Transient(Exception):
    """Worth another attempt; raised as TransientSourceError once attempts run out."""


@dataclass(frozen=True)
class _Page:
    origin: str
    envelope: Envelope
    #: set on the last page an extraction reads before its deadline
    note: str | None = None


class ProvinceApiConnector:
    source = "province"

    def __init__(self, config: ProvinceApiConfig, *, source: str = "province",
                 client: httpx.Client | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`clock` (seconds) times the deadlines and `sleep` waits between attempts:
        tests pass a controlled clock so that what they check does not hang on timing."""
        self.config = config
        self.source = source
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self._limits = ReadLimits(max_record_bytes=config.max_record_bytes,
                                  max_depth=config.max_record_depth)

    # -- public operations ----------------------------------------------------------

    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        """Yield one batch per page of cases new or changed since `cursor`."""
        wm = Watermark.from_cursor(cursor, self.config.lookback)
        for page in self._pages(wm.since(), self.config.county_code, stop_at_deadline=True):
            batch = self._batch(page, wm)
            if page.note is not None:
                log.warning("%s %s: %s", self.source, page.origin, page.note)
                batch = batch or self._empty_batch(page.origin, wm)
                batch = replace(batch, notes=(*batch.notes, page.note))
            if batch is not None:
                yield batch

    def read_all(self, county_code: str | None) -> dict[str, dict[str, Any]]:
        """Every case the platform holds (of one county), as sent, by the platform's id.

        Keyset paging may serve a row twice when it changes during the read; the later
        copy wins. A row that cannot be read fails the whole read (a reconciliation
        must see every copy): a SourceProtocolError naming the page and row.
        """
        cases: dict[str, dict[str, Any]] = {}
        for page in self._pages(None, county_code, stop_at_deadline=False):
            for i, element in enumerate(page.envelope.rows, 1):
                value = self._readable(element, page.origin, i)
                if not to_text(value.get("id")):
                    raise SourceProtocolError(self.source, "case without id",
                                              origin=page.origin, row=i)
                cases[str(value["id"])] = value
        return cases

    def upload(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Upload county cases (each with `ysjbh`); returns the platform's receipts.

        The platform upserts by `ysjbh`, so sending the same records again is harmless:
        that is what makes retrying an upload after a timeout safe.
        """
        if not records:
            return []
        body = {"datas": json.dumps(records, ensure_ascii=False, separators=(",", ":"))}
        origin = "cases/upload"
        with self._session() as client:
            answer = self._call(client, "POST", f"{CASES_PATH}/upload", {}, json_body=body,
                                origin=origin)
        receipts = [self._readable(e, origin, i) for i, e in enumerate(answer.rows, 1)]
        for receipt in receipts:
            if not {"ysjbh", "id", "result"} <= receipt.keys():
                raise SourceProtocolError(self.source, "upload receipt without ysjbh, id or "
                                          "result", origin=origin)
        if len(receipts) != len(records):
            raise SourceProtocolError(self.source, f"{len(records)} records uploaded but "
                                      f"{len(receipts)} receipts returned", origin=origin)
        return receipts

    def fetch(self, case_id: str) -> dict[str, Any] | None:
        """One case by the platform's id, as the gateway sends it (None: no such case)."""
        origin = f"cases/{case_id}"
        with self._session() as client:
            answer = self._call(client, "GET", f"{CASES_PATH}/{quote(case_id, safe='')}", {},
                                origin=origin)
        if len(answer.rows) > 1:
            raise SourceProtocolError(self.source, f"{len(answer.rows)} cases for one id",
                                      origin=origin)
        return self._readable(answer.rows[0], origin, 1) if answer.rows else None

    def _readable(self, element: Element, origin: str, row: int) -> dict[str, Any]:
        if element.value is None:
            raise SourceProtocolError(self.source, f"unreadable row ({element.error})",
                                      origin=origin, row=row)
        return element.value

    # -- paging -----------------------------------------------------------------------

    def _pages(self, since: str | None, county_code: str | None, *,
               stop_at_deadline: bool) -> Iterator[_Page]:
        """The pages of cases updated since `since`, in (zjgxsj, id) order.

        The next page's query follows from this page's rows, so it is sent (from one
        helper thread) before this page is handed over: the gateway prepares the next page
        while the caller works on this one. Closing the iterator waits for that request.
        """
        cfg = self.config
        deadline = (None if cfg.extraction_deadline_s is None
                    else self._clock() + cfg.extraction_deadline_s)
        guard = _PageGuard(self.source)
        page_no = 1
        with self._session() as client, ThreadPoolExecutor(max_workers=1) as ahead:
            pending = ahead.submit(self._page, client, since, county_code, page_no)
            while True:
                origin, envelope = pending.result()
                guard.read(origin, envelope, since)
                assert envelope.total_page is not None  # checked by check_page
                if not envelope.rows or page_no >= envelope.total_page:
                    yield _Page(origin, envelope)
                    return
                last = _last_time(envelope.rows)
                if last is not None and (since is None or last > since):
                    since, page_no = last, 1
                else:  # a page full of one timestamp: step on within it
                    page_no += 1
                if deadline is not None and self._clock() >= deadline:
                    note = (f"stopped at the extraction deadline ({cfg.extraction_deadline_s:g}"
                            f" s) after {guard.pages} pages; the next run resumes from here")
                    if not stop_at_deadline:
                        raise TransientSourceError(self.source, note, origin=origin)
                    yield _Page(origin, envelope, note)
                    return
                pending = ahead.submit(self._page, client, since, county_code, page_no)
                yield _Page(origin, envelope)

    def _page(self, client: httpx.Client, since: str | None, county_code: str | None,
              page_no: int) -> tuple[str, Envelope]:
        """One page of the case list, as (origin, envelope)."""
        params: dict[str, Any] = {"pageNo": page_no, "pageSize": self.config.page_size}
        if since is not None:
            params["updatedSince"] = since
        if county_code:
            params["qxdm"] = county_code
        origin = "cases?" + "&".join(f"{k}={params[k]}" for k in
                                     ("updatedSince", "qxdm", "pageNo") if k in params)
        envelope = self._call(client, "GET", CASES_PATH, params, origin=origin,
                              check=lambda e: check_page(e, page_no, self.config.page_size))
        return origin, envelope

    # -- batches ----------------------------------------------------------------------

    def _batch(self, page: _Page, wm: Watermark) -> RawBatch | None:
        """The page's rows not handed over before; rows that are not records as error
        records. Rows are remembered by id, rows without one by the hash of their text."""
        rows = [_row(e) for e in page.envelope.rows]
        received = list(dict.fromkeys(k for r, error in rows if error is None for k in r))
        # a key that would shadow a lineage column, or a blank one, is renamed (noted)
        columns, renamed = unique_columns(received)
        objects = [r if error is None else {} for r, error in rows]
        values = {c: to_texts([r.get(k) for r in objects])
                  for k, c in zip(received, columns, strict=True)}
        errors = [error for _, error in rows]
        raws = [e.text if error else None for e, (_, error) in
                zip(page.envelope.rows, rows, strict=True)]
        table = build_table(self.source, page.origin, columns, values,
                            list(range(1, len(rows) + 1)), errors if any(errors) else None,
                            raws if any(errors) else None)
        hashes = table.column("_raw_hash").to_pylist()
        ids = [to_text(r.get("id")) or f"!{h}" for (r, _), h in zip(rows, hashes, strict=True)]
        times = [to_text(r.get("zjgxsj")) for r, _ in rows]
        keep = [i for i, (k, h, t) in enumerate(zip(ids, hashes, times, strict=True))
                if wm.admit(k, h, t)]
        for i in keep:  # records first: an error record without a time takes their watermark
            if errors[i] is None:
                wm.record(ids[i], hashes[i], times[i])
        for i in keep:
            if errors[i] is not None:
                wm.remember(ids[i], hashes[i], times[i] if is_time(times[i]) else None)
        if not keep:
            return None
        if len(keep) < len(rows):
            table = table.take(keep)
        return RawBatch(self.source, page.origin, table, columns, wm.to_cursor(), renamed)

    def _empty_batch(self, origin: str, wm: Watermark) -> RawBatch:
        table = build_table(self.source, origin, [], {}, [])
        return RawBatch(self.source, origin, table, (), wm.to_cursor())

    # -- calls ------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[httpx.Client]:
        if self._client is not None:
            yield self._client
            return
        with httpx.Client(timeout=self.config.timeout_s) as client:
            yield client

    def _call(self, client: httpx.Client, method: str, path: str, params: dict[str, Any], *,
              origin: str, json_body: dict[str, Any] | None = None,
              check: Callable[[Envelope], None] | None = None) -> Envelope:
        cfg = self.config
        retrying = Retrying(
            retry=retry_if_exception_type((_Transient, Violation)),
            stop=self._give_up,
            wait=wait_exponential_jitter(multiplier=cfg.backoff_initial_s, max=cfg.backoff_max_s,
                                         jitter=cfg.backoff_initial_s),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(state, origin),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    envelope = self._call_once(client, method, path, params, origin=origin,
                                               json_body=json_body)
                    if check is not None:
                        check(envelope)
                    return envelope
        except _Transient as e:
            raise TransientSourceError(self.source, f"{e} (gave up after {cfg.max_attempts} "
                                       "attempts)", origin=origin) from None
        except Violation as e:
            raise SourceProtocolError(self.source, f"malformed answer: {e} (the same on "
                                      f"{cfg.protocol_attempts} attempts)",
                                      origin=origin) from None
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _give_up(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        limit = (self.config.protocol_attempts if isinstance(error, Violation)
                 else self.config.max_attempts)
        return stop_after_attempt(limit)(state)

    def _log_retry(self, state: RetryCallState, origin: str) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s %s: %s; attempt %d failed, retrying in %.2f s", self.source,
                    origin, error, state.attempt_number, wait)

    def _call_once(self, client: httpx.Client, method: str, path: str,
                   params: dict[str, Any], *, origin: str,
                   json_body: dict[str, Any] | None) -> Envelope:
        cfg = self.config
        # signed afresh on every attempt: a retried request must not carry a stale time
        now = str(time.time_ns() // 1_000_000)
        sign = hashlib.md5((cfg.app_key + cfg.app_secret.get_secret_value() + now)
                           .encode("utf-8"), usedforsecurity=False).hexdigest()
        query = {"appKey": cfg.app_key, "requestTime": now, "sign": sign, **params}
        url = cfg.base_url.rstrip("/") + path
        started = self._clock()
        try:
            with client.stream(method, url, params=query, json=json_body,
                               timeout=cfg.timeout_s) as response:
                status = response.status_code
                if status != 200:
                    snippet = self._read(response, started, origin, limit=80)
                    self._refuse(status, snippet, url, origin)
                body = self._read(response, started, origin, limit=None)
        except httpx.TimeoutException:
            raise _Transient(f"no answer within {cfg.timeout_s:g} s") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
            raise TerminalSourceError(self.source, f"cannot call {cfg.base_url}: {e}",
                                      origin=origin) from None
        except httpx.RemoteProtocolError as e:
            raise _Transient(f"answer cut short: {e}") from None
        except (httpx.TransportError, httpx.DecodingError) as e:
            raise _Transient(f"connection to {cfg.base_url} failed: "
                             f"{type(e).__name__}: {e}") from None
        try:
            envelope = parse_envelope(body, self._limits)
        except CutShortAnswer as e:
            raise _Transient(str(e)) from None
        self._decide(envelope, origin)
        return envelope

    def _read(self, response: httpx.Response, started: float, origin: str, *,
              limit: int | None) -> bytes:
        """The body as it arrives, within the request's deadline; `limit`: stop there
        (a snippet for a message), None: all of it, up to max_response_bytes."""
        cfg = self.config
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
            if size > cfg.max_response_bytes:
                raise SourceProtocolError(self.source, f"answer larger than "
                                          f"{cfg.max_response_bytes:,} bytes (max_response_"
                                          "bytes; a smaller page_size may help)", origin=origin)
            if self._clock() - started > cfg.request_deadline_s:
                raise _Transient(f"answer not complete within {cfg.request_deadline_s:g} s "
                                 f"(request_deadline_s; {size:,} bytes arrived)")
        return b"".join(chunks)

    def _refuse(self, status: int, snippet: bytes, url: str, origin: str) -> None:
        text = snippet.decode("utf-8", "replace")[:80].strip()
        if status >= 500 or status == 429:
            raise _Transient(f"HTTP {status} {text}")
        if status == 404:
            raise SourceNotFoundError(self.source, f"HTTP 404 for {url}: check base_url",
                                      origin=origin)
        raise SourceProtocolError(self.source, f"HTTP {status}", origin=origin)

    def _decide(self, envelope: Envelope, origin: str) -> None:
        """Act on the envelope's business code."""
        code, msg = envelope.code, envelope.msg
        if code in (BAD_SIGN, KEY_EXPIRED):
            what = "signature refused" if code == BAD_SIGN else "key expired"
            raise SourceAuthError(self.source, f"gateway code {code} ({what}) for appKey "
                                  f"{self.config.app_key!r}: {msg}", origin=origin)
        if code == OVER_QUOTA:
            raise _Transient(f"gateway code 18 (over quota) for appKey "
                             f"{self.config.app_key!r}: {msg}")
        if code != OK:
            raise TerminalSourceError(self.source, f"gateway code {code[:20]}: {msg}",
                                      origin=origin)


def _row(element: Element) -> tuple[dict[str, Any], str | None]:
    """(object, error): the element's object (empty if none) and why it is no record."""
    if element.value is None:
        return {}, element.error
    value = element.value
    if not to_text(value.get("id")):
        return value, reject(Reason.MISSING_KEY, "a case without id")
    updated = to_text(value.get("zjgxsj"))
    if not updated:
        return value, reject(Reason.MISSING_KEY, "a case without zjgxsj (last updated): it "
                                                 "has no place in the incremental order")
    if not is_time(updated):
        return value, reject(Reason.IMPOSSIBLE_DATE, "zjgxsj (last updated) is not a time "
                                                     "like 2026-09-01 08:00:00")
    return value, None


def _last_time(elements: list[Element]) -> str | None:
    """The latest readable zjgxsj on a page: where the next keyset query starts."""
    texts = {to_text(e.value.get("zjgxsj")) for e in elements if e.value is not None}
    return max((t for t in texts if is_time(t)), default=None)


class _PageGuard:
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
