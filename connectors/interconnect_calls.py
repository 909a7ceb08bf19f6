"""Calls of a 互联互通 platform: the token, the envelope, retries, Ret codes as typed errors.

Every call but the token call carries `Authorization: Bearer <token>`. The token is asked
for once (the token method, with OperatorID and OperatorSecret) and kept until the
validity the platform gave it runs out; a call answered Ret 4002 (token error) gets a
new token and is sent once more, and a second 4002 is an error.

What happens to what
- Retried with exponential backoff and jitter (`max_attempts` in all), then a
  TransientSourceError: Ret 500 (system error), HTTP 5xx and 429, timeouts, refused or
  dropped connections.
- At once, as SourceAuthError: Ret 4001 (the platform refused our signature), a token
  refused (SuccStat not 0: FailReason 1 unknown OperatorID, 2 wrong OperatorSecret), a
  second 4002, and a reply whose own Sig does not verify under the signing secret
  (whatever it says, it is not taken).
- At once, as TerminalSourceError: Ret 4003 (the platform could not read the request:
  usually the data key or IV) and 4004 (a business parameter it refuses, with its Msg),
  any other Ret; HTTP 404 as SourceNotFoundError.
- At once, as SourceProtocolError: a reply that is no envelope, a Data that does not
  decrypt, an answer over `max_response_bytes`.
Every message is one line naming the source and the call (its origin); no secret and
no token is ever in a message or a log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
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
from .interconnect_envelope import (
    BAD_BUSINESS,
    BAD_POST,
    BAD_SIGNATURE,
    BAD_TOKEN,
    OK,
    SYSTEM_ERROR,
    Keys,
    Reply,
    ReplyError,
    Stamper,
    decrypt,
    read_reply,
    seal,
)

if TYPE_CHECKING:
    from .interconnect import InterconnectConfig

log = logging.getLogger("connectors.interconnect")

#: a token is renewed this long before the validity the platform gave it ends
TOKEN_MARGIN_S = 60.0
_FAIL_REASONS = {1: "no such OperatorID", 2: "wrong OperatorSecret"}


class _Transient(Exception):
    """Worth another attempt; raised as TransientSourceError once attempts run out."""


class InterconnectCalls:
    """One source's calls to its platform, on the source's settings."""

    def __init__(self, config: InterconnectConfig, source: str, *,
                 client: httpx.Client | None, clock: Callable[[], float],
                 sleep: Callable[[float], None], now: Callable[[], datetime]) -> None:
        self.config = config
        self.source = source
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self._stamper = Stamper(now)
        self._token: str | None = None
        self._token_until = 0.0

    @contextmanager
    def session(self) -> Iterator[httpx.Client]:
        """The HTTP client for a series of calls (the one given, else a new one)."""
        self.config.require(self.source)
        if self._client is not None:
            yield self._client
            return
        with httpx.Client(timeout=self.config.timeout_s) as client:
            yield client

    @property
    def keys(self) -> Keys:
        return self.config.keys()

    def call(self, client: httpx.Client, method: str, payload: dict[str, Any], *,
             origin: str) -> bytes:
        """The decrypted Data of one call (JSON text), retried as the docstring says."""
        reply = self._retried(client, method, payload, self._valid_token(client), origin)
        if reply.ret == BAD_TOKEN:  # expired or revoked early: one new token, one resend
            self._token = None
            reply = self._retried(client, method, payload, self._valid_token(client), origin)
            if reply.ret == BAD_TOKEN:
                raise SourceAuthError(self.source, "Ret 4002 (token error) again with a "
                                      "token just issued", origin=origin)
        return self._data(reply, origin)

    # -- the token ------------------------------------------------------------------------
    def _valid_token(self, client: httpx.Client) -> str:
        if self._token is not None and self._clock() < self._token_until:
            return self._token
        cfg = self.config
        method = cfg.token_method
        assert cfg.operator_id is not None and cfg.operator_secret is not None  # require()
        payload = {"OperatorID": cfg.operator_id,
                   "OperatorSecret": cfg.operator_secret.get_secret_value()}
        reply = self._retried(client, method, payload, None, method)
        if reply.ret == BAD_TOKEN:
            raise SourceAuthError(self.source, "Ret 4002 (token error) for the token call "
                                  "itself", origin=method)
        answer = _object(self._data(reply, method), self.source, method)
        if answer.get("SuccStat") != 0 or not answer.get("AccessToken"):
            reason = answer.get("FailReason")
            why = _FAIL_REASONS.get(reason, "the platform's own reason") \
                if isinstance(reason, int) else "no reason given"
            hint = {1: "operator_id", 2: "operator_secret"}.get(reason, "operator_id and "
                                                                 "operator_secret")
            raise SourceAuthError(self.source, f"token refused for OperatorID "
                                  f"{cfg.operator_id}: FailReason {reason} ({why}); check "
                                  f"{hint}", origin=method)
        valid = answer.get("TokenAvailableTime")
        valid_s = float(valid) if isinstance(valid, int | float) and valid > 0 else 0.0
        self._token = str(answer["AccessToken"])
        # a token of short validity is used for one call at least, never refreshed forever
        self._token_until = self._clock() + max(valid_s - TOKEN_MARGIN_S, valid_s / 2)
        return self._token

    # -- one call, retried ----------------------------------------------------------------
    def _retried(self, client: httpx.Client, method: str, payload: dict[str, Any],
                 token: str | None, origin: str) -> Reply:
        """The verified reply, Ret 0 or 4002; other codes raised (500 after retries)."""
        cfg = self.config
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(cfg.max_attempts),
            wait=wait_exponential_jitter(multiplier=cfg.backoff_initial_s, max=cfg.backoff_max_s,
                                         jitter=cfg.backoff_initial_s),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(state, origin),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(client, method, payload, token, origin)
        except _Transient as e:
            raise TransientSourceError(self.source, f"{e} (gave up after {cfg.max_attempts} "
                                       "attempts)", origin=origin) from None
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _log_retry(self, state: RetryCallState, origin: str) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s %s: %s; attempt %d failed, retrying in %.2f s", self.source, origin,
                    error, state.attempt_number, wait)

    def _once(self, client: httpx.Client, method: str, payload: dict[str, Any],
              token: str | None, origin: str) -> Reply:
        cfg = self.config
        assert cfg.operator_id is not None  # see require()
        # stamped afresh on every attempt: a resent request is a new request
        envelope = seal(cfg.operator_id, payload, self.keys, *self._stamper.next())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = cfg.url_of(method)
        try:
            with client.stream("POST", url, json=envelope, headers=headers,
                               timeout=cfg.timeout_s) as response:
                body = self._read(response, origin)
        except httpx.TimeoutException:
            raise _Transient(f"no answer within {cfg.timeout_s:g} s") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
            raise TerminalSourceError(self.source, f"cannot call {url}: {e}",
                                      origin=origin) from None
        except (httpx.TransportError, httpx.DecodingError) as e:
            raise _Transient(f"connection to {url} failed: {type(e).__name__}") from None
        if response.status_code != 200:
            self._refuse(response.status_code, url, origin)
        try:
            reply = read_reply(body)
        except ReplyError as e:
            raise SourceProtocolError(self.source, str(e), origin=origin) from None
        return self._decide(reply, origin)

    def _read(self, response: httpx.Response, origin: str) -> bytes:
        limit = self.config.max_response_bytes
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise SourceProtocolError(self.source, f"answer larger than {limit:,} bytes "
                                          "(max_response_bytes; a smaller page_size may help)",
                                          origin=origin)
        return b"".join(chunks)

    def _refuse(self, status: int, url: str, origin: str) -> None:
        if status >= 500 or status == 429:
            raise _Transient(f"HTTP {status}")
        if status == 404:
            raise SourceNotFoundError(self.source, f"HTTP 404 for {url}: check base_url and "
                                      "the method's name", origin=origin)
        raise SourceProtocolError(self.source, f"HTTP {status} for {url}", origin=origin)

    def _decide(self, reply: Reply, origin: str) -> Reply:
        """Act on the reply's signature and Ret code."""
        ret, msg = reply.ret, reply.msg[:120]
        if ret == BAD_SIGNATURE:  # the platform's own signature may not verify then either
            raise SourceAuthError(self.source, f"Ret 4001 (signature error: {msg}): the "
                                  "platform refused our Sig; check sig_secret", origin=origin)
        if not reply.signed_by(self.keys):
            raise SourceAuthError(self.source, f"reply Sig does not verify (Ret {ret}): "
                                  "reply refused; check sig_secret, or who answers at "
                                  "base_url", origin=origin)
        if ret in (OK, BAD_TOKEN):
            return reply
        if ret == SYSTEM_ERROR:
            raise _Transient(f"Ret 500 (system error: {msg})")
        if ret == BAD_POST:
            raise TerminalSourceError(self.source, f"Ret 4003 (POST parameter error: {msg}): "
                                      "the platform could not read the request; check "
                                      "data_secret and data_iv", origin=origin)
        if ret == BAD_BUSINESS:
            raise TerminalSourceError(self.source, f"Ret 4004 (business parameter error: "
                                      f"{msg})", origin=origin)
        raise TerminalSourceError(self.source, f"Ret {ret} ({msg})", origin=origin)

    def _data(self, reply: Reply, origin: str) -> bytes:
        if not reply.data:
            raise SourceProtocolError(self.source, "Ret 0 without Data", origin=origin)
        try:
            return decrypt(reply.data, self.keys)
        except ValueError as e:
            raise SourceProtocolError(self.source, f"reply Data unreadable: {e}",
                                      origin=origin) from None


def _object(data: bytes, source: str, origin: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise SourceProtocolError(source, "reply Data is not a JSON object", origin=origin)
    return value
