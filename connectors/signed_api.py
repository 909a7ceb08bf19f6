"""A platform's records through its signed HTTP gateway (the `signed_api` kind).

The gateway lists records at `resource_path` (paged, filtered by updated time and,
optionally, by a scope parameter), serves one record at `resource_path/{id}` and takes
uploads at `resource_path/upload`. Every call is signed and answered with an envelope:
`gateway_calls` makes the calls (signing, retries, limits: its docstring says what is
retried and what is raised at once), `gateway_protocol` reads the envelope,
`gateway_paging` walks the pages. What is specific to one platform (the path, the id,
updated, scope and upload key fields) is a setting, given by the pack.

Extraction is incremental on `updated_field` (last updated) through
`incremental.Watermark`: each run asks for records updated since (watermark − lookback)
and drops those already handed over unchanged. Origins in lineage name the query by the
path's last segment (`items?updatedSince=…&pageNo=2`, `items/upload`, `items/{id}`).

A row that cannot be a record becomes an error record with a reason code (see
connectors.rejects) and the page's other rows load: nested deeper or longer than
`max_record_depth` / `max_record_bytes` (checked before parsing: over_limit), broken JSON
(unparseable), not an object (not_a_record), a key given twice with different values
(duplicate_key), no id or no updated time (missing_key), an updated value that is not a
time (impossible_date), bytes that are not UTF-8, a control character or an escaped lone
surrogate (bad_encoding). Rows are read as JSON lines are (`json_records`), under the
same limits and reasons. Error records are remembered in the cursor like rows, so a
re-read page does not repeat them.

`extraction_deadline_s` bounds one extraction: past it, the extraction stops after the
page in hand, whose batch carries the note "stopped at the extraction deadline", and ends
normally. The caller lands what was read with its cursor and the next run resumes there.
(Raising instead would make the caller discard the batches it has not landed yet, and a
source slower than the deadline would then never progress.)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import AfterValidator, AliasChoices, BaseModel, Field, SecretStr

from schemas.reasons import Reason

from .base import Cursor, RawBatch
from .errors import SourceProtocolError, TerminalSourceError
from .file_cursor import unique_columns
from .gateway_calls import GatewayCalls
from .gateway_paging import Page, pages
from .gateway_protocol import Element
from .incremental import Watermark, is_time
from .lineage import build_table, to_text, to_texts
from .rejects import reject

log = logging.getLogger(__name__)


def _http_address(value: str) -> str:
    """An http(s) address with a host, kept as written (the API's paths are appended)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// address with a host, "
                         "e.g. https://gateway.example.org")
    return value


def _path(value: str) -> str:
    if not value.startswith("/") or not value.strip("/"):
        raise ValueError("must be a path starting with /, e.g. /api/v1/items")
    return value


class SignedApiConfig(BaseModel):
    #: the gateway's address; the paths below are appended to it
    base_url: Annotated[str, AfterValidator(_http_address)] | None = None
    app_key: str | None = None
    app_secret: SecretStr | None = None
    #: where the gateway lists the records, e.g. /api/v1/items
    resource_path: Annotated[str, AfterValidator(_path)] | None = None
    #: the platform's own id of a record
    id_field: str = "id"
    #: a record's last-updated time, which incremental extraction follows
    updated_field: str | None = None
    #: the gateway's query parameter that keeps to one scope (one region, say)
    scope_param: str | None = None
    #: extract only this scope's records (None: every record the key may see)
    scope_value: str | None = None
    #: the field the platform upserts uploads by: the uploader's own key of a record
    upload_key: str | None = None
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

    @property
    def resource_name(self) -> str:
        """The resource path's last segment: what origins in lineage name the records."""
        return (self.resource_path or "").rstrip("/").rsplit("/", 1)[-1]


class SignedApiConnector:
    def __init__(self, config: SignedApiConfig, *, source: str,
                 client: httpx.Client | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`clock` (seconds) times the deadlines and `sleep` waits between attempts:
        tests pass a controlled clock so that what they check does not hang on timing."""
        self.config = config
        self.source = source
        self._calls = GatewayCalls(config, source, client=client, clock=clock, sleep=sleep)

    # -- public operations ----------------------------------------------------------

    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        """Yield one batch per page of records new or changed since `cursor`."""
        cfg = self.config
        if cfg.updated_field is None:
            raise TerminalSourceError(self.source, "no updated_field configured: set the "
                                      "field extraction follows in the source settings")
        wm = Watermark.from_cursor(cursor, cfg.lookback)
        for page in pages(self._calls, wm.since(), cfg.scope_value, stop_at_deadline=True):
            batch = self._batch(page, wm)
            if page.note is not None:
                log.warning("%s %s: %s", self.source, page.origin, page.note)
                batch = batch or self._empty_batch(page.origin, wm)
                batch = replace(batch, notes=(*batch.notes, page.note))
            if batch is not None:
                yield batch

    def read_all(self, scope: str | None) -> dict[str, dict[str, Any]]:
        """Every record the platform holds (of one scope), as sent, by the platform's id.

        Keyset paging may serve a row twice when it changes during the read; the later
        copy wins. A row that cannot be read fails the whole read (a reconciliation
        must see every copy): a SourceProtocolError naming the page and row.
        """
        id_field = self.config.id_field
        held: dict[str, dict[str, Any]] = {}
        for page in pages(self._calls, None, scope, stop_at_deadline=False):
            for i, element in enumerate(page.envelope.rows, 1):
                value = self._readable(element, page.origin, i)
                if not to_text(value.get(id_field)):
                    raise SourceProtocolError(self.source, f"record without {id_field}",
                                              origin=page.origin, row=i)
                held[str(value[id_field])] = value
        return held

    def upload(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Upload records (each with `upload_key`); returns the platform's receipts.

        The platform upserts by `upload_key`, so sending the same records again is
        harmless: that is what makes retrying an upload after a timeout safe.
        """
        cfg = self.config
        if not records:
            return []
        if cfg.upload_key is None:
            raise TerminalSourceError(self.source, "no upload_key configured: set the field "
                                      "the platform upserts uploads by")
        body = {"datas": json.dumps(records, ensure_ascii=False, separators=(",", ":"))}
        origin = f"{cfg.resource_name}/upload"
        with self._calls.session() as client:
            answer = self._calls.call(client, "POST", f"{cfg.resource_path}/upload", {},
                                      json_body=body, origin=origin)
        receipts = [self._readable(e, origin, i) for i, e in enumerate(answer.rows, 1)]
        for receipt in receipts:
            if not {cfg.upload_key, cfg.id_field, "result"} <= receipt.keys():
                raise SourceProtocolError(self.source, f"upload receipt without "
                                          f"{cfg.upload_key}, {cfg.id_field} or result",
                                          origin=origin)
        if len(receipts) != len(records):
            raise SourceProtocolError(self.source, f"{len(records)} records uploaded but "
                                      f"{len(receipts)} receipts returned", origin=origin)
        return receipts

    def fetch(self, record_id: str) -> dict[str, Any] | None:
        """One record by the platform's id, as the gateway sends it (None: no such one)."""
        cfg = self.config
        origin = f"{cfg.resource_name}/{record_id}"
        with self._calls.session() as client:
            answer = self._calls.call(client, "GET",
                                      f"{cfg.resource_path}/{quote(record_id, safe='')}", {},
                                      origin=origin)
        if len(answer.rows) > 1:
            raise SourceProtocolError(self.source, f"{len(answer.rows)} records for one "
                                      f"{cfg.id_field}", origin=origin)
        return self._readable(answer.rows[0], origin, 1) if answer.rows else None

    def _readable(self, element: Element, origin: str, row: int) -> dict[str, Any]:
        if element.value is None:
            raise SourceProtocolError(self.source, f"unreadable row ({element.error})",
                                      origin=origin, row=row)
        return element.value

    # -- batches ----------------------------------------------------------------------

    def _batch(self, page: Page, wm: Watermark) -> RawBatch | None:
        """The page's rows not handed over before; rows that are not records as error
        records. Rows are remembered by id, rows without one by the hash of their text."""
        cfg = self.config
        assert cfg.updated_field is not None  # checked by extract()
        rows = [_row(e, cfg.id_field, cfg.updated_field) for e in page.envelope.rows]
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
        ids = [to_text(r.get(cfg.id_field)) or f"!{h}"
               for (r, _), h in zip(rows, hashes, strict=True)]
        times = [to_text(r.get(cfg.updated_field)) for r, _ in rows]
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


def _row(element: Element, id_field: str, updated_field: str
         ) -> tuple[dict[str, Any], str | None]:
    """(object, error): the element's object (empty if none) and why it is no record."""
    if element.value is None:
        return {}, element.error
    value = element.value
    if not to_text(value.get(id_field)):
        return value, reject(Reason.MISSING_KEY, f"a record without {id_field}")
    updated = to_text(value.get(updated_field))
    if not updated:
        return value, reject(Reason.MISSING_KEY, f"a record without {updated_field} (last "
                             "updated): it has no place in the incremental order")
    if not is_time(updated):
        return value, reject(Reason.IMPOSSIBLE_DATE, f"{updated_field} (last updated) is not "
                             "a time like 2026-09-01 08:00:00")
    return value, None
