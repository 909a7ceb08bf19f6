"""A platform's items over the 互联互通 protocol, T/CEC 102 (the `interconnect` kind).

What is called is declared, not coded: the source's settings (its pack's defaults) name
the query (`method`), the key of the reply's Data that holds the items (`items`), the
key or keys that identify an item (`record_id`), constant members of every request
(`body`), and how the query is walked (`interconnect_walks`: a paged listing, or time
windows stepping from the cursor to now). The envelope (AES-128-CBC Data, HMAC-MD5 Sig,
TimeStamp, Seq) is `interconnect_envelope`; the token, retries and Ret codes are
`interconnect_calls`, whose docstring says what is retried and what is raised at once.

Each item becomes one raw record: its members as received (nested arrays as their
JSON text, for the conform engine's child groups), the origin naming the call and its
page or window (`items?PageNo=2`, `items?Start=…&End=…&PageNo=1`), `_row` its place on
the page. Key casing drifts between a platform's messages (`itemID` in one, `ItemID` in
the next), so `record_id` keys are matched in any case; an item without one, or with
two spellings of it holding different values, is an error record (missing_key,
duplicate_key) and the rest of the page loads. A window read again yields the same
records, which landing counts as duplicates.

Secrets (OperatorSecret, the data key and IV, the signing secret) are settings like any
other (SILOBRIDGE_<SOURCE>__SIG_SECRET, …), held as SecretStr: never logged, never in an
error message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, SecretStr, model_validator

from schemas.reasons import Reason

from .base import Cursor, RawBatch
from .errors import SourceAuthError, SourceNotFoundError
from .file_cursor import unique_columns
from .interconnect_calls import InterconnectCalls
from .interconnect_envelope import Keys
from .interconnect_walks import Item, Page, walk
from .lineage import build_table, to_text, to_texts
from .rejects import reject
from .signed_api import _http_address


def _keys(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _zone(value: str) -> str:
    ZoneInfo(value)  # raises for a name the time-zone database does not know
    return value


@dataclass(frozen=True)
class Window:
    """A query walked by time windows [start, end): one call (or one paged series) each."""

    start_key: str
    end_key: str
    step: timedelta
    first: datetime
    time_format: str
    delay: timedelta
    until: datetime | None


class InterconnectConfig(BaseModel):
    #: the platform's interface address; a method's name is appended to it
    base_url: Annotated[str, AfterValidator(_http_address)] | None = None
    #: our OperatorID (organisation code) as the platform registered the caller
    operator_id: str | None = None
    #: the token call's secret, the AES-128 data key and IV, the HMAC-MD5 signing secret
    operator_secret: SecretStr | None = None
    data_secret: SecretStr | None = None
    data_iv: SecretStr | None = None
    sig_secret: SecretStr | None = None
    #: the method that issues tokens (the standard's name)
    token_method: str = "query_token"  # noqa: S105 - a method's name, not a secret
    #: the query this source reads, and the key of its reply's Data holding the items
    method: str | None = None
    items: str | None = None
    #: the item's key (or keys, together) that identify it; matched in any case
    record_id: Annotated[tuple[str, ...], BeforeValidator(_keys)] = ()
    #: members every request of the query carries as they are
    body: dict[str, Any] = Field(default_factory=dict)
    #: whether the query is paged, within each window when it has windows; the request
    #: keys of the page's number and size, the reply's key of the page count
    paged: bool = True
    page_size: int = Field(default=100, ge=1)
    page_number_key: str = "PageNo"
    page_size_key: str = "PageSize"
    page_count_key: str = "PageCount"
    #: walk the query by time windows this long (None: a listing, read whole each run)
    window_step: timedelta | None = Field(default=None, gt=timedelta(0))
    #: the request keys the window's start and (exclusive) end are written under
    window_start_key: str | None = None
    window_end_key: str | None = None
    #: where the first window starts when there is no cursor (the platform's local time)
    window_first: datetime | None = None
    #: how the request writes the window's times
    window_time_format: str = "%Y-%m-%d %H:%M:%S"
    #: how long after a window ends its items are complete at the platform: a window is
    #: asked for once this much has passed since its end
    window_delay: timedelta = Field(default=timedelta(0), ge=timedelta(0))
    #: no window ends after this (None: walk up to now)
    window_until: datetime | None = None
    #: a backfill: only the windows of these days (set by the backfill, not by a pack)
    dates: tuple[date, date] | None = None
    #: the platform's local time: TimeStamp, windows and "now" are read in it
    timezone: Annotated[str, AfterValidator(_zone)] = "Asia/Shanghai"
    #: per read from the socket
    timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    #: one extraction; past it the extraction stops after the page in hand (None: no limit)
    extraction_deadline_s: float | None = Field(default=3600.0, gt=0)
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: an item longer (UTF-8 bytes of its JSON) or nested deeper than this is rejected
    max_record_bytes: int = Field(default=1_000_000, ge=1)
    max_record_depth: int = Field(default=32, ge=1, le=500)

    @model_validator(mode="after")
    def _a_whole_window(self) -> InterconnectConfig:
        needed = ("window_start_key", "window_end_key", "window_first")
        missing = [n for n in needed if getattr(self, n) is None]
        if self.window_step is not None and missing:
            raise ValueError(f"window_step is set but not {', '.join(missing)}: a window walk "
                             "needs all of them")
        if self.window_step is None and len(missing) < len(needed):
            raise ValueError("window settings given without window_step (the window's length)")
        return self

    @property
    def window(self) -> Window | None:
        """The window walk the settings declare (None: a listing)."""
        if self.window_step is None:
            return None
        assert self.window_start_key and self.window_end_key and self.window_first
        return Window(self.window_start_key, self.window_end_key, self.window_step,
                      self.window_first, self.window_time_format, self.window_delay,
                      self.window_until)

    def url_of(self, method: str) -> str:
        assert self.base_url is not None  # see require()
        return self.base_url.rstrip("/") + "/" + method

    def require(self, source: str) -> None:
        """Raise what a call cannot do without, naming the setting to set."""
        for name in ("base_url", "method", "items"):
            if getattr(self, name) is None:
                raise SourceNotFoundError(source, f"no {name} configured: set `{name}` in "
                                          f"the {source} source settings")
        secrets = ("operator_id", "operator_secret", "data_secret", "data_iv", "sig_secret")
        missing = [name for name in secrets if getattr(self, name) is None]
        if missing:
            raise SourceAuthError(source, f"no {', '.join(missing)} configured: set them in "
                                  f"the {source} source settings")
        # checked here, not when settings load: a validation error would show the value
        for name in ("data_secret", "data_iv"):
            if len(getattr(self, name).get_secret_value().encode("utf-8")) != 16:
                raise SourceAuthError(source, f"{name} must be 16 bytes (AES-128), as the "
                                      "two sides exchanged it")

    def keys(self) -> Keys:
        assert self.data_secret and self.data_iv and self.sig_secret  # see require()
        return Keys(self.data_secret.get_secret_value().encode("utf-8"),
                    self.data_iv.get_secret_value().encode("utf-8"),
                    self.sig_secret.get_secret_value().encode("utf-8"))


class InterconnectConnector:
    def __init__(self, config: InterconnectConfig, *, source: str,
                 client: httpx.Client | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], datetime] | None = None) -> None:
        """`clock` (seconds) times the token and the deadline, `sleep` waits between
        attempts, `now` is the platform's local time (naive): tests pass controlled ones."""
        self.config = config
        self.source = source
        zone = ZoneInfo(config.timezone)
        self._now = now or (lambda: datetime.now(zone).replace(tzinfo=None))
        self._clock = clock
        self._calls = InterconnectCalls(config, source, client=client, clock=clock,
                                        sleep=sleep, now=self._now)

    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        """One batch per page with items; an empty page's cursor rides on the next batch
        (or on an empty batch at the end), so quiet windows land no batches of their own."""
        held: Page | None = None
        for page in walk(self._calls, cursor, self._now(), self._clock):
            if page.items or page.note:
                held = None
                yield self._batch(page)
            else:
                held = page
        if held is not None:
            yield self._batch(held)

    def _batch(self, page: Page) -> RawBatch:
        # each spelling of an id key the page uses, found once per page, not per item
        spellings = {k for i in page.items if i.value is not None for k in i.value}
        ids = [(key, [k for k in spellings if k.casefold() == key.casefold()])
               for key in self.config.record_id]
        rows = [_row(item, ids) for item in page.items]
        received = list(dict.fromkeys(k for r, error in rows if error is None for k in r))
        # a key that would shadow a lineage column, or a blank one, is renamed (noted)
        columns, renamed = unique_columns(received)
        objects = [r if error is None else {} for r, error in rows]
        values = {c: to_texts([r.get(k) for r in objects])
                  for k, c in zip(received, columns, strict=True)}
        errors = [error for _, error in rows]
        raws = [item.text if error else None
                for item, (_, error) in zip(page.items, rows, strict=True)]
        table = build_table(self.source, page.origin, columns, values,
                            list(range(1, len(rows) + 1)), errors if any(errors) else None,
                            raws if any(errors) else None)
        notes = (*renamed, page.note) if page.note else renamed
        return RawBatch(self.source, page.origin, table, columns, page.cursor, notes)


def _row(item: Item, ids: list[tuple[str, list[str]]]) -> tuple[dict[str, Any], str | None]:
    """(object, error): the item's object (empty if none) and why it is no record; `ids`:
    each declared id key with its spellings on the page."""
    if item.value is None:
        return {}, item.error
    value = item.value
    for key, spellings in ids:
        found = {k: to_text(value[k]) for k in spellings if to_text(value.get(k))}
        if not found:
            return value, reject(Reason.MISSING_KEY, f"an item without {key} (in any case)")
        if len(set(found.values())) > 1:
            return value, reject(Reason.DUPLICATE_KEY, f"{key} given as {' and '.join(found)}"
                                 " with different values")
    return value, None
