"""Signed calls to an envelope gateway: signing, retries, the answer read within limits.

Every call is signed (md5 of appKey + secret + requestTime in epoch ms, in the query,
signed afresh on every attempt) and answered with an envelope whose `datas` is a JSON
array serialised into a string (read by `gateway_protocol`, one row at a time).

What happens to what
- Retried with exponential backoff and jitter, then a TransientSourceError: HTTP 5xx
  and 429, timeouts, dropped connections, an answer cut short (fewer bytes than its
  Content-Length, or JSON that ends early), an answer not complete within
  `request_deadline_s` (the body is streamed and the deadline checked as it arrives,
  so a server trickling bytes cannot hold a request open), business code 18 (quota).
- Retried `protocol_attempts` times (a gateway can glitch), then a SourceProtocolError
  naming the call's origin: an answer that breaks the protocol, including what the
  caller's `check` finds wrong with it (a page's counts that disagree with its rows).
- At once: codes 14 (signature) and 11 (key expired) as SourceAuthError, other codes
  as TerminalSourceError, HTTP 404 as SourceNotFoundError, an answer larger than
  `max_response_bytes` as SourceProtocolError.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .errors import (
    SourceAuthError,
    SourceNotFoundError,
    SourceProtocolError,
    TerminalSourceError,
    TransientSourceError,
)
from .gateway_protocol import CutShortAnswer, Envelope, Violation, parse_envelope
from .limits import ReadLimits

if TYPE_CHECKING:
    from .signed_api import SignedApiConfig

# the connector's logger: its retries are the connector's to report
log = logging.getLogger("connectors.signed_api")

#: business codes of the gateway
OK, KEY_EXPIRED, BAD_SIGN, OVER_QUOTA = "00", "11", "14", "18"


class _Transient(Exception):
    """Worth another attempt; raised as TransientSourceError once attempts run out."""


class GatewayCalls:
    """Signed, retried calls of one source's gateway, on the source's settings."""

    def __init__(self, config: SignedApiConfig, source: str, *,
                 client: httpx.Client | None, clock: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
        self.config = config
        self.source = source
        self.clock = clock
        self._client = client
        self._sleep = sleep
        self.limits = ReadLimits(max_record_bytes=config.max_record_bytes,
                                 max_depth=config.max_record_depth)

    @contextmanager
    def session(self) -> Iterator[httpx.Client]:
        """The HTTP client for a series of calls (the one given, else a new one)."""
        self._require_settings()
        if self._client is not None:
            yield self._client
            return
        with httpx.Client(timeout=self.config.timeout_s) as client:
            yield client

    def _require_settings(self) -> None:
        cfg = self.config
        if cfg.base_url is None or cfg.resource_path is None:
            missing = "base_url" if cfg.base_url is None else "resource_path"
            raise SourceNotFoundError(self.source, f"no {missing} configured: set `{missing}`"
                                      f" in the {self.source} source settings "
                                      f"(SignedApiConfig.{missing})")
        if cfg.app_key is None or cfg.app_secret is None:
            raise SourceAuthError(self.source, "no app_key and app_secret configured: set "
                                  f"both in the {self.source} source settings")

    def call(self, client: httpx.Client, method: str, path: str, params: dict[str, Any], *,
             origin: str, json_body: dict[str, Any] | None = None,
             check: Callable[[Envelope], None] | None = None) -> Envelope:
        """The envelope of one call, retried as the module docstring says; `check` raises
        Violation for an answer that breaks what the caller expects of it."""
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
        assert cfg.base_url is not None and cfg.app_key is not None  # see _require_settings
        assert cfg.app_secret is not None
        # signed afresh on every attempt: a retried request must not carry a stale time
        now = str(time.time_ns() // 1_000_000)
        sign = hashlib.md5((cfg.app_key + cfg.app_secret.get_secret_value() + now)
                           .encode("utf-8"), usedforsecurity=False).hexdigest()
        query = {"appKey": cfg.app_key, "requestTime": now, "sign": sign, **params}
        url = cfg.base_url.rstrip("/") + path
        started = self.clock()
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
            envelope = parse_envelope(body, self.limits)
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
            if self.clock() - started > cfg.request_deadline_s:
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
