"""The provincial dispute platform, through its signed HTTP gateway.

Every call is signed (md5 of appKey + secret + requestTime in epoch ms, in the query) and
answered with an envelope whose `datas` is a JSON array serialised into a string. HTTP
5xx, timeouts, dropped connections and business code 18 (over quota) are retried with
exponential backoff and jitter; codes 14 (signature) and 11 (key expired) fail at once.

Extraction is incremental on `zjgxsj` (last updated) through `incremental.Watermark`:
each run asks for rows updated since (watermark − lookback) and drops those already
handed over unchanged. Pages are read in (zjgxsj, id) order, and after each page the
query restarts at the page's last `zjgxsj` (keyset paging, with pageNo only to step
through a run of equal times), so rows the platform updates while we read move behind
us instead of shifting unread rows onto pages already read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field, SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .base import Cursor, RawBatch
from .errors import (
    SourceAuthError,
    SourceNotFoundError,
    SourceProtocolError,
    TerminalSourceError,
    TransientSourceError,
)
from .incremental import TIME_FORMAT, Watermark
from .lineage import build_table, to_text, to_texts

log = logging.getLogger(__name__)

CASES_PATH = "/api/v1/mdjf/cases"
#: business codes of the gateway
OK, KEY_EXPIRED, BAD_SIGN, OVER_QUOTA = "00", "11", "14", "18"


class ProvinceApiConfig(BaseModel):
    base_url: str = "http://127.0.0.1:18421"
    app_key: str = "jiashan-county"
    app_secret: SecretStr = SecretStr("mock-secret-330421")
    page_size: int = Field(default=200, ge=1)
    timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    lookback: timedelta = timedelta(days=1)
    #: only this county's cases (the gateway's `qxdm`); None: every county the key may see
    county_code: str | None = None


@dataclass(frozen=True)
class Envelope:
    rows: list[dict[str, Any]]
    data_count: int | None
    total_page: int | None
    request_id: str | None


class _Transient(Exception):
    """Worth another attempt; raised as TransientSourceError once attempts run out."""


class ProvinceApiConnector:
    source = "province"

    def __init__(self, config: ProvinceApiConfig, *, source: str = "province",
                 client: httpx.Client | None = None) -> None:
        self.config = config
        self.source = source
        self._client = client

    # -- public operations ----------------------------------------------------------

    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        """Yield one batch per page of cases new or changed since `cursor`."""
        wm = Watermark.from_cursor(cursor, self.config.lookback)
        for origin, rows in self._pages(wm.since(), self.config.county_code):
            batch = self._batch(rows, origin, wm)
            if batch is not None:
                yield batch

    def read_all(self, county_code: str | None) -> dict[str, dict[str, Any]]:
        """Every case the platform holds (of one county), as sent, by the platform's id.

        Keyset paging may serve a row twice when it changes during the read; the later
        copy wins.
        """
        cases: dict[str, dict[str, Any]] = {}
        for origin, rows in self._pages(None, county_code):
            for i, row in enumerate(rows, 1):
                if not row.get("id"):
                    raise SourceProtocolError(self.source, "case without id", origin=origin,
                                              row=i)
                cases[str(row["id"])] = row
        return cases

    def _pages(self, since: str | None, county_code: str | None
               ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """(origin, rows) per page of cases updated since `since`, in (zjgxsj, id) order.

        The next page's query follows from this page's last row, so it is sent (from one
        helper thread) before this page is handed over: the gateway prepares the next page
        while the caller works on this one. Closing the iterator waits for that request.
        """
        page_no = 1
        with self._session() as client, ThreadPoolExecutor(max_workers=1) as ahead:
            pending = ahead.submit(self._page, client, since, county_code, page_no)
            while True:
                origin, page = pending.result()
                if page.total_page is None:
                    raise SourceProtocolError(self.source, "envelope without totalPage",
                                              origin=origin)
                if not page.rows:
                    break
                if page_no >= page.total_page:
                    yield origin, page.rows
                    break
                last = to_text(page.rows[-1].get("zjgxsj"))
                if last is not None and _is_time(last) and (since is None or last > since):
                    since, page_no = last, 1
                else:  # a page full of one timestamp: step on within it
                    page_no += 1
                pending = ahead.submit(self._page, client, since, county_code, page_no)
                yield origin, page.rows

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
        return origin, self._call(client, "GET", CASES_PATH, params, origin=origin)

    def upload(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Upload county cases (each with `ysjbh`); returns the platform's receipts.

        The platform upserts by `ysjbh`, so sending the same records again is harmless:
        that is what makes retrying an upload after a timeout safe.
        """
        if not records:
            return []
        body = {"datas": json.dumps(records, ensure_ascii=False, separators=(",", ":"))}
        with self._session() as client:
            answer = self._call(client, "POST", f"{CASES_PATH}/upload", {}, json_body=body,
                                origin="cases/upload")
        for receipt in answer.rows:
            if not {"ysjbh", "id", "result"} <= receipt.keys():
                raise SourceProtocolError(self.source, "upload receipt without ysjbh, id or "
                                          "result", origin="cases/upload")
        if len(answer.rows) != len(records):
            raise SourceProtocolError(self.source, f"{len(records)} records uploaded but "
                                      f"{len(answer.rows)} receipts returned",
                                      origin="cases/upload")
        return answer.rows

    def fetch(self, case_id: str) -> dict[str, Any] | None:
        """One case by the platform's id, as the gateway sends it (None: no such case)."""
        origin = f"cases/{case_id}"
        with self._session() as client:
            answer = self._call(client, "GET", f"{CASES_PATH}/{quote(case_id, safe='')}", {},
                                origin=origin)
        if len(answer.rows) > 1:
            raise SourceProtocolError(self.source, f"{len(answer.rows)} cases for one id",
                                      origin=origin)
        return answer.rows[0] if answer.rows else None

    # -- batches ----------------------------------------------------------------------

    def _batch(self, rows: list[dict[str, Any]], origin: str, wm: Watermark) -> RawBatch | None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
        values = {c: to_texts([r.get(c) for r in rows]) for c in columns}
        table = build_table(self.source, origin, columns, values, list(range(1, len(rows) + 1)))
        hashes = table.column("_raw_hash").to_pylist()
        ids = values.get("id") or [None] * len(rows)
        times = values.get("zjgxsj") or [None] * len(rows)
        keep = []
        for i, (key, raw_hash, updated) in enumerate(zip(ids, hashes, times, strict=True)):
            if not key:
                raise SourceProtocolError(self.source, "case without id", origin=origin,
                                          row=i + 1)
            if wm.admit(key, raw_hash, updated):
                keep.append(i)
                wm.record(key, raw_hash, updated or None)
        if not keep:
            return None
        if len(keep) < len(rows):
            table = table.take(keep)
        return RawBatch(self.source, origin, table, tuple(columns), wm.to_cursor())

    # -- calls ------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[httpx.Client]:
        if self._client is not None:
            yield self._client
            return
        with httpx.Client(timeout=self.config.timeout_s) as client:
            yield client

    def _call(self, client: httpx.Client, method: str, path: str, params: dict[str, Any], *,
              origin: str, json_body: dict[str, Any] | None = None) -> Envelope:
        cfg = self.config
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(cfg.max_attempts),
            wait=wait_exponential_jitter(multiplier=cfg.backoff_initial_s,
                                         max=cfg.backoff_max_s, jitter=cfg.backoff_initial_s),
            before_sleep=lambda state: self._log_retry(state, origin),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._call_once(client, method, path, params, origin=origin,
                                           json_body=json_body)
        except _Transient as e:
            raise TransientSourceError(self.source, f"{e} (gave up after {cfg.max_attempts} "
                                       "attempts)", origin=origin) from None
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _log_retry(self, state: RetryCallState, origin: str) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s %s: %s; attempt %d of %d failed, retrying in %.2f s", self.source,
                    origin, error, state.attempt_number, self.config.max_attempts, wait)

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
        try:
            response = client.request(method, url, params=query, json=json_body,
                                      timeout=cfg.timeout_s)
        except httpx.TimeoutException:
            raise _Transient(f"no answer within {cfg.timeout_s:g} s") from None
        except httpx.TransportError as e:
            raise _Transient(f"connection to {cfg.base_url} failed: "
                             f"{type(e).__name__}: {e}") from None
        status = response.status_code
        if status >= 500 or status == 429:
            raise _Transient(f"HTTP {status} {response.text[:80].strip()}")
        if status == 404:
            raise SourceNotFoundError(self.source, f"HTTP 404 for {url}: check base_url",
                                      origin=origin)
        if status != 200:
            raise SourceProtocolError(self.source, f"HTTP {status}", origin=origin)
        return self._envelope(response, origin)

    def _envelope(self, response: httpx.Response, origin: str) -> Envelope:
        def bad(why: str) -> SourceProtocolError:
            return SourceProtocolError(self.source, f"malformed envelope: {why}", origin=origin)

        try:
            body = response.json()
        except ValueError:
            raise bad(f"not JSON ({response.text[:60]!r})") from None
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            raise bad("no code")
        code, msg = body["code"], str(body.get("msg") or "")
        if code in (BAD_SIGN, KEY_EXPIRED):
            what = "signature refused" if code == BAD_SIGN else "key expired"
            raise SourceAuthError(self.source, f"gateway code {code} ({what}) for appKey "
                                  f"{self.config.app_key!r}: {msg}", origin=origin)
        if code == OVER_QUOTA:
            raise _Transient(f"gateway code 18 (over quota) for appKey "
                             f"{self.config.app_key!r}: {msg}")
        if code != OK:
            raise TerminalSourceError(self.source, f"gateway code {code}: {msg}", origin=origin)
        datas = body.get("datas")
        if isinstance(datas, str):
            try:
                datas = json.loads(datas) if datas.strip() else []
            except ValueError:
                raise bad("datas is not JSON text") from None
        datas = [] if datas is None else datas
        if not isinstance(datas, list) or not all(isinstance(r, dict) for r in datas):
            raise bad("datas is not an array of objects")
        counts = [body.get(k) for k in ("dataCount", "totalPage")]
        for name, value in zip(("dataCount", "totalPage"), counts, strict=True):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise bad(f"{name} is not a number")
        return Envelope(datas, counts[0], counts[1], body.get("requestId"))


def _is_time(text: str | None) -> bool:
    if not text:
        return False
    try:
        datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        return False
    return True
