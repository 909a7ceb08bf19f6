"""The signed API connector against a gateway that misbehaves on purpose, over real HTTP.

`Platform` is a small test server on 127.0.0.1 that speaks the gateway's protocol
(signed query, envelope with `datas` as a JSON string, keyset-friendly paging by
updatedSince, pageNo and pageSize over (updated time, id)) from a list of stored element
texts, which may be anything at all; a test scripts how each request is answered
instead (a missing `datas`, a body cut short, a trickle, the same page again). Each class
of bad input found by the malformed-input campaign has a test here; the last tests
generate bad stores and bad answers with hypothesis. The connector runs on the dispute
pack's province settings (its records' `id` and `zjgxsj`), but for one test that gives it
another platform's names.

No test here waits on the wall clock for what it checks: retry waits go to a
`ManualClock`, and the deadlines are tested against answers that never end.
"""

from __future__ import annotations

import json
import math
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import RawBatch
from connectors.errors import (
    SourceError,
    SourceProtocolError,
    TerminalSourceError,
    TransientSourceError,
)
from connectors.jsonl_drop import JsonlDropConfig, JsonlDropConnector
from connectors.kinds import KINDS
from connectors.limits import ReadLimits
from connectors.signed_api import SignedApiConfig, SignedApiConnector
from packs.disputes.mockworld.clock import ManualClock
from packs.disputes.mockworld.gateway import GatewayConfig, ProvinceGateway
from packs.disputes.mockworld.spec import Layout, WorldSpec
from packs.disputes.mockworld.world import generate
from silobridge.packs import pack

#: the dispute pack's settings of its province source: the gateway's path, fields, key
PROVINCE = KINDS["signed_api"].defaults(pack("disputes").source("province"))

T0 = "2026-09-01 08:00:00"


# -- a platform of our own ---------------------------------------------------------------
@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    #: Content-Length to claim (None: the body's length); more than the body, and the
    #: connection is closed after the body: a truncated answer
    length: int | None = None
    #: after the body, send a space every few milliseconds, forever
    trickle: bool = False


@dataclass(frozen=True)
class Stored:
    """One element of the platform's store: its text as served, and where it sorts."""

    text: str
    time: str
    key: str


def row(i: int, when: str = T0, **fields: Any) -> Stored:
    obj = {"id": f"ZJ{i:04d}", "zjgxsj": when, "sjmc": f"纠纷{i}", **fields}
    return Stored(json.dumps(obj, ensure_ascii=False), when, obj["id"])


def minute(n: int) -> str:
    return f"2026-09-01 {8 + n // 60:02d}:{n % 60:02d}:00"


def envelope(datas: Any = None, *, count: int | None = None, pages: int | None = None,
             code: str = "00", drop: tuple[str, ...] = ()) -> bytes:
    body = {"code": code, "msg": "成功", "datas": datas, "requestId": "r",
            "dataCount": count, "totalPage": pages}
    return json.dumps({k: v for k, v in body.items() if k not in drop},
                      ensure_ascii=False).encode()


@dataclass
class Platform:
    """A store served by the gateway's paging protocol; `script` may answer instead."""

    store: list[Stored] = field(default_factory=list)
    #: (query, request number from 1) -> Reply, or None to answer by the protocol
    script: Callable[[dict[str, str], int], Reply | None] | None = None
    #: True: datas as an array in place, not a string
    inline: bool = False
    requests: int = 0
    #: the path of every request
    paths: list[str] = field(default_factory=list)
    #: store indexes of every element sent in an answer by the protocol
    served: set[int] = field(default_factory=set)

    def page(self, query: dict[str, str]) -> tuple[list[int], int, int]:
        since = query.get("updatedSince") or ""
        size = int(query.get("pageSize", "100"))
        page_no = int(query.get("pageNo", "1"))
        order = sorted((i for i, s in enumerate(self.store) if s.time >= since),
                       key=lambda i: (self.store[i].time, self.store[i].key))
        chosen = order[(page_no - 1) * size:page_no * size]
        return chosen, len(order), math.ceil(len(order) / size)

    def answer(self, query: dict[str, str]) -> Reply:
        self.requests += 1
        if self.script is not None:
            scripted = self.script(query, self.requests)
            if scripted is not None:
                return scripted
        chosen, count, pages = self.page(query)
        self.served.update(chosen)
        texts = "[" + ",".join(self.store[i].text for i in chosen) + "]"
        datas = texts if not self.inline else "@@DATAS@@"
        body = envelope(datas, count=count, pages=pages)
        if self.inline:
            body = body.replace(b'"@@DATAS@@"', texts.encode("utf-8", "surrogatepass"))
        return Reply(body=body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        assert {"appKey", "requestTime", "sign"} <= query.keys()  # the client signed it
        self.server.platform.paths.append(urlsplit(self.path).path)
        reply = self.server.platform.answer(query)
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        length = len(reply.body) if reply.length is None else reply.length
        self.send_header("Content-Length", str(10**12 if reply.trickle else length))
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
        if reply.trickle:
            while not self.server.stopping.is_set():
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.002)
        if reply.trickle or length > len(reply.body):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, platform: Platform) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.platform = platform
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a trickle: its broken pipe is expected


@pytest.fixture
def serve() -> Iterator[Callable[[Platform], str]]:
    servers: list[_Server] = []

    def start(platform: Platform) -> str:
        server = _Server(platform)
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def connector(url: str, clock: Callable[[], float] | None = None, **overrides: Any
              ) -> SignedApiConnector:
    """Retry waits go to a ManualClock (no real waiting); deadlines read `clock` (default:
    that ManualClock, so no deadline passes unless a test moves it)."""
    waits = ManualClock()
    config = SignedApiConfig(**(PROVINCE | {
        "base_url": url, "page_size": 3, "max_attempts": 3, "protocol_attempts": 2,
        "timeout_s": 30.0, "request_deadline_s": 30.0} | overrides))
    return SignedApiConnector(config, source="province", clock=clock or waits,
                              sleep=waits.sleep)


def rows_of(batches: list[RawBatch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.records.to_pylist()]


def loaded(batches: list[RawBatch]) -> list[str]:
    return [r["id"] for r in rows_of(batches) if r["_parse_error"] is None]


def rejected(batches: list[RawBatch]) -> list[tuple[str, str]]:
    return [(r["_parse_error"].split(":")[0], r["_raw_text"]) for r in rows_of(batches)
            if r["_parse_error"] is not None]


# -- 1. nesting that would exhaust recursion, and records over the size limit -------------
@pytest.mark.parametrize("inline", [False, True], ids=["datas-string", "datas-array"])
def test_a_deeply_nested_row_is_rejected_alone(serve: Callable[[Platform], str],
                                               inline: bool) -> None:
    deep = "[" * 200_000 + "]" * 200_000  # json.loads would raise RecursionError
    store = [row(1), Stored(deep, T0, "ZJ0002"), row(3),
             row(4, minute(1), dsr=[{"xm": "甲", "extra": [[[[1]]]]}])]
    batches = list(connector(serve(Platform(store, inline=inline))).extract(None))
    assert loaded(batches) == ["ZJ0001", "ZJ0003", "ZJ0004"]
    ((reason, raw),) = rejected(batches)
    assert reason == "over_limit" and raw == deep[:64 * 1024]


def test_limits_are_settings_checked_before_parsing(serve: Callable[[Platform], str]) -> None:
    big = row(2, sjms="长" * 500)
    nested = row(3, dsr=[[[[{"xm": "甲"}]]]])  # 6 deep with its own braces
    url = serve(Platform([row(1), big, nested]))
    batches = list(connector(url, max_record_chars=400, max_record_depth=5).extract(None))
    assert loaded(batches) == ["ZJ0001"]
    errors = [r["_parse_error"] for r in rows_of(batches) if r["_parse_error"]]
    assert errors[0].startswith("over_limit: ") and "more than the 400" in errors[0]
    assert errors[1] == "over_limit: nested 6 deep, deeper than the 5 a record may be"
    # with the defaults both load
    assert sorted(loaded(list(connector(url).extract(None)))) == ["ZJ0001", "ZJ0002",
                                                                  "ZJ0003"]


# -- 2. duplicate keys ---------------------------------------------------------------------
def test_a_key_given_twice_with_different_values_rejects_that_row(
        serve: Callable[[Platform], str]) -> None:
    conflicting = Stored(f'{{"id":"ZJ0002","zjgxsj":"{T0}","sjmc":"甲","sjmc":"乙"}}', T0,
                         "ZJ0002")
    harmless = Stored(f'{{"id":"ZJ0003","zjgxsj":"{T0}","sjmc":"甲","sjmc":"甲"}}', T0,
                      "ZJ0003")
    nested = Stored(f'{{"id":"ZJ0004","zjgxsj":"{T0}","dsr":[{{"xm":"甲","xm":"丙"}}]}}', T0,
                    "ZJ0004")
    one_and_true = Stored(f'{{"id":"ZJ0005","zjgxsj":"{T0}","sjrs":1,"sjrs":true}}', T0,
                          "ZJ0005")
    batches = list(connector(serve(Platform([row(1), conflicting, harmless, nested,
                                             one_and_true]))).extract(None))
    assert loaded(batches) == ["ZJ0001", "ZJ0003"]
    assert [r["sjmc"] for r in rows_of(batches) if r.get("id") == "ZJ0003"] == ["甲"]
    assert rejected(batches) == [("duplicate_key", conflicting.text),
                                 ("duplicate_key", nested.text),
                                 ("duplicate_key", one_and_true.text)]


# -- 2b. a row is read as a JSON line is --------------------------------------------------
@pytest.mark.parametrize("inline", [False, True], ids=["datas-string", "datas-array"])
def test_a_row_is_read_as_a_json_line_is(serve: Callable[[Platform], str], tmp_path: Path,
                                         inline: bool) -> None:
    """The same text is the same record, or rejected with the same words, whether it is
    a row of the gateway's `datas` or a line of the grid's JSON Lines drop."""
    texts = [row(1).text,
             f'{{"id":"ZJ0002","zjgxsj":"{T0}","sjrs":1,"sjrs":1.0}}',  # one number twice
             f'{{"id":"ZJ0003","zjgxsj":"{T0}","sjrs":NaN}}',
             f'{{"id":"ZJ0004","zjgxsj":"{T0}","sjmc":"甲\x01乙"}}',
             f'{{"id":"ZJ0005","zjgxsj":"{T0}","dsr":[{{"xm":"甲","xm":"丙"}}]}}',
             f'{{"id":"ZJ0006","zjgxsj":"{T0}","sjmc":"\\udc80"}}',  # escapes half a pair
             row(7, sjms="长" * 200).text,  # 200 characters, 600 bytes
             "[" * 40 + "]" * 40, '"ZJ0009"',
             f'{{"id":"ZJ0010","zjgxsj":"{T0}","n":1' + "0" * 5000 + "}"]
    store = [Stored(t, T0, f"ZJ{i:04d}") for i, t in enumerate(texts, start=1)]
    batches = list(connector(serve(Platform(store, inline=inline)),
                             max_record_bytes=500).extract(None))
    drop = tmp_path / "grid"
    drop.mkdir()
    (drop / "20260901.jsonl").write_bytes("\n".join(texts).encode())
    lines = list(JsonlDropConnector(JsonlDropConfig(path=drop, limits=ReadLimits(
        max_record_bytes=500, max_depth=32)), source="grid").extract(None))
    as_rows = {r["_raw_text"]: r["_parse_error"] for r in rows_of(batches) if r["_parse_error"]}
    as_lines = {r["_raw_text"]: r["_parse_error"] for r in rows_of(lines) if r["_parse_error"]}
    assert as_rows == as_lines
    assert [e.split(":")[0] for e in as_rows.values()] == [
        "unparseable", "bad_encoding", "duplicate_key", "bad_encoding", "over_limit",
        "over_limit", "not_a_record", "over_limit"]
    assert loaded(batches) == ["ZJ0001", "ZJ0002"]
    assert [r["id"] for r in rows_of(lines) if not r["_parse_error"]] == ["ZJ0001", "ZJ0002"]


# -- 3. a record without an id -------------------------------------------------------------
def test_a_case_without_id_is_rejected_alone_and_paging_goes_on(
        serve: Callable[[Platform], str]) -> None:
    no_id = Stored(json.dumps({"zjgxsj": minute(2), "sjmc": "无编号"}, ensure_ascii=False),
                   minute(2), "")
    store = [row(1, minute(0)), row(2, minute(1)), no_id, row(4, minute(2)),
             row(5, minute(3)), row(6, minute(3)), row(7, minute(4))]
    platform = Platform(store)
    url = serve(platform)
    batches = list(connector(url).extract(None))  # three a page: no_id ends page one
    assert loaded(batches) == ["ZJ0001", "ZJ0002", "ZJ0004", "ZJ0005", "ZJ0006", "ZJ0007"]
    assert rejected(batches) == [("missing_key", no_id.text)]
    assert platform.served == set(range(len(store)))
    # the rejected row is remembered like the others: the next run repeats nothing
    assert list(connector(url).extract(batches[-1].cursor)) == []


def test_a_case_without_updated_time_is_rejected_alone(
        serve: Callable[[Platform], str]) -> None:
    blank = Stored('{"id":"ZJ0002","zjgxsj":""}', T0, "ZJ0002")
    garbled = Stored('{"id":"ZJ0003","zjgxsj":"2026-13-45 99:00:00"}', T0, "ZJ0003")
    batches = list(connector(serve(Platform([row(1), blank, garbled, row(4)]))).extract(None))
    assert loaded(batches) == ["ZJ0001", "ZJ0004"]
    assert [r for r, _ in rejected(batches)] == ["missing_key", "impossible_date"]
    assert batches[-1].cursor["high"] == T0


# -- 4. a page whose datas is missing or of the wrong kind ---------------------------------
@pytest.mark.parametrize(("drop", "datas", "says"), [
    (("datas",), None, "no datas though dataCount says 3"),
    ((), None, "no datas though dataCount says 3"),
    ((), "", "no rows though dataCount says 3"),
    ((), 42, "datas is a number, not a JSON array"),
    ((), {"id": "x"}, "datas is a JSON object, not a JSON array"),
    ((), "{oops", "datas is not a JSON array"),
    ((), '[{"id":"ZJ0001"}', "datas is cut short"),
])
def test_a_page_without_its_rows_is_a_protocol_error_after_retries(
        serve: Callable[[Platform], str], drop: tuple[str, ...], datas: Any,
        says: str) -> None:
    platform = Platform(script=lambda q, n: Reply(body=envelope(datas, count=3, pages=1,
                                                                drop=drop)))
    with pytest.raises(SourceProtocolError) as caught:
        list(connector(serve(platform), protocol_attempts=3).extract(None))
    message = str(caught.value)
    assert "cases?pageNo=1" in message and says in message and "3 attempts" in message
    assert platform.requests == 3


def test_a_page_that_glitched_once_is_read_again(serve: Callable[[Platform], str]) -> None:
    platform = Platform([row(1), row(2)], script=lambda q, n: Reply(
        body=envelope(None, count=2, pages=1, drop=("datas",))) if n == 1 else None)
    assert loaded(list(connector(serve(platform)).extract(None))) == ["ZJ0001", "ZJ0002"]
    assert platform.requests == 2


# -- 5. an answer that never ends, and the extraction's own deadline -----------------------
@pytest.mark.timeout(60)  # without the request deadline this test would hang
def test_a_trickling_answer_hits_the_request_deadline(serve: Callable[[Platform], str]
                                                      ) -> None:
    platform = Platform(script=lambda q, n: Reply(body=b'{"code":"00","datas":"', trickle=True))
    # a real clock for the deadline: the server never ends, so only the deadline can
    slow = connector(serve(platform), time.monotonic, request_deadline_s=0.3, max_attempts=2)
    with pytest.raises(TransientSourceError, match=r"not complete within 0.3 s.*2 attempts"):
        list(slow.extract(None))
    assert platform.requests == 2


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "world"
    generate(root, WorldSpec(cases=300, days=10))
    return root


def test_past_the_extraction_deadline_it_stops_after_the_page_in_hand(world: Path) -> None:
    config = GatewayConfig.read(Layout(world).gateway_config, fail_rate=0.0)
    clock = ManualClock()
    with ProvinceGateway(world, port=0, config=config) as gw:
        run = connector(gw.url, clock, page_size=10, extraction_deadline_s=600.0,
                        request_deadline_s=1e6).extract(None)
        first = next(run)
        clock.advance(601)  # the first page took ten minutes
        rest = list(run)
        assert first.notes == ()
        assert len(rest) == 1 and rest[0].notes == (
            "stopped at the extraction deadline (600 s) after 2 pages; the next run resumes "
            "from here",)
        resumed = list(connector(gw.url, page_size=10).extract(rest[0].cursor))
    ids = loaded([first, *rest, *resumed])
    assert len(ids) == len(set(ids))
    con = sqlite3.connect(Layout(world).province_db)
    try:
        assert sorted(ids) == sorted(r[0] for r in con.execute("SELECT id FROM mdjf_sj"))
    finally:
        con.close()


# -- 6. paging that would never end --------------------------------------------------------
def test_a_server_ignoring_page_numbers_is_caught(serve: Callable[[Platform], str]) -> None:
    same = Platform([row(i, minute(i)) for i in range(1, 4)])
    same.script = lambda q, n: Reply(body=envelope(
        "[" + ",".join(s.text for s in same.store) + "]", count=3_000_000, pages=1_000_000))
    with pytest.raises(SourceProtocolError) as caught:
        list(connector(serve(same)).extract(None))
    assert same.requests == 3  # page 1, the keyset restart (legitimately the same), page 2
    assert str(caught.value) == (
        f"province cases?updatedSince={minute(3)}&pageNo=2: the server answered with the same"
        f" rows as cases?updatedSince={minute(3)}&pageNo=1: it repeats pages (does it ignore "
        "pageNo?)")


def test_counts_that_cannot_hold_the_rows_are_caught(serve: Callable[[Platform], str]) -> None:
    liar = Platform([row(1), row(2)])
    liar.script = lambda q, n: Reply(body=envelope(
        "[" + ",".join(s.text for s in liar.store) + "]", count=2, pages=1_000_000))
    with pytest.raises(SourceProtocolError, match="totalPage 1000000 cannot hold dataCount 2"):
        list(connector(serve(liar)).extract(None))


def test_endless_fresh_pages_hit_the_cap(serve: Callable[[Platform], str]) -> None:
    def fresh(query: dict[str, str], n: int) -> Reply:
        rows = [row(3 * n + i, minute(3 * n + i)).text for i in range(3)]
        return Reply(body=envelope("[" + ",".join(rows) + "]", count=12, pages=4))

    platform = Platform(script=fresh)
    with pytest.raises(SourceProtocolError, match=r"keeps serving pages: 23 read, more than "
                                                  r"the 22 its first answer's totalPage"):
        list(connector(serve(platform)).extract(None))


def test_more_rows_than_asked_for_is_caught(serve: Callable[[Platform], str]) -> None:
    platform = Platform(script=lambda q, n: Reply(body=envelope(
        "[" + ",".join(row(i).text for i in range(5)) + "]", count=5, pages=2)))
    with pytest.raises(SourceProtocolError, match="5 rows on a page of 3"):
        list(connector(serve(platform)).extract(None))


# -- 7. a truncated answer is transient ---------------------------------------------------
@pytest.mark.parametrize("cut", ["content-length", "json"])
def test_a_truncated_answer_is_retried(serve: Callable[[Platform], str], cut: str) -> None:
    platform = Platform([row(1), row(2)])
    whole = platform.answer({})
    platform.requests = 0

    def truncate(query: dict[str, str], n: int) -> Reply | None:
        if n > 1:
            return None
        if cut == "content-length":
            return Reply(body=whole.body[:40], length=len(whole.body))
        return Reply(body=whole.body[:40])

    platform.script = truncate
    assert loaded(list(connector(serve(platform)).extract(None))) == ["ZJ0001", "ZJ0002"]
    assert platform.requests == 2


def test_an_answer_always_cut_short_gives_up_as_transient(
        serve: Callable[[Platform], str]) -> None:
    platform = Platform(script=lambda q, n: Reply(body=b'{"code":"00","datas":"[{\\"id'))
    with pytest.raises(TransientSourceError, match=r"cut short.*3 attempts"):
        list(connector(serve(platform)).extract(None))
    assert platform.requests == 3


def test_a_lone_surrogate_rejects_its_row(serve: Callable[[Platform], str]) -> None:
    bad = Stored(f'{{"id":"ZJ0002","zjgxsj":"{T0}","sjmc":"\\ud800"}}', T0, "ZJ0002")
    batches = list(connector(serve(Platform([row(1), bad]))).extract(None))
    assert loaded(batches) == ["ZJ0001"] and rejected(batches) == [("bad_encoding", bad.text)]


def test_keys_that_would_shadow_lineage_columns_are_renamed(
        serve: Callable[[Platform], str]) -> None:
    (batch,) = list(connector(serve(Platform([row(1, **{"_row": "x", "": "y"})]))).extract(None))
    assert batch.columns == ("id", "zjgxsj", "sjmc", "_row_2", "column_5")
    assert batch.notes == ("column 4 '_row' renamed to '_row_2'",
                           "column 5 '' renamed to 'column_5'")
    (record,) = batch.records.to_pylist()
    assert (record["_row"], record["_row_2"], record["column_5"]) == (1, "x", "y")


# -- 8b. another platform: its path and field names are settings --------------------------
def test_another_platforms_names_are_only_settings(serve: Callable[[Platform], str]) -> None:
    def station(i: int, when: str) -> Stored:
        obj = {"station_no": f"S{i}", "modified": when, "power_kw": 60}
        return Stored(json.dumps(obj), when, obj["station_no"])

    no_number = Stored(json.dumps({"modified": minute(1), "power_kw": 7}), minute(1), "")
    queries: list[dict[str, str]] = []
    platform = Platform([station(1, minute(0)), no_number, station(3, minute(2)),
                         station(4, minute(3))],
                        script=lambda query, _: queries.append(query))  # then the protocol
    url = serve(platform)
    names = {"resource_path": "/open/v2/stations", "id_field": "station_no",
             "updated_field": "modified", "scope_param": "region", "scope_value": "330402"}
    batches = list(connector(url, **names).extract(None))
    rows = rows_of(batches)
    assert [r["station_no"] for r in rows if r["_parse_error"] is None] == ["S1", "S3", "S4"]
    assert [r["_parse_error"] for r in rows if r["_parse_error"]] == [
        "missing_key: a record without station_no"]
    assert set(platform.paths) == {"/open/v2/stations"}
    assert all(q["region"] == "330402" for q in queries) and "qxdm" not in queries[0]
    assert [b.origin for b in batches] == ["stations?region=330402&pageNo=1",
                                           f"stations?updatedSince={minute(2)}&region=330402"
                                           "&pageNo=1"]
    assert batches[-1].cursor["high"] == minute(3)
    # asking for one region of a platform whose filter parameter is not set is refused,
    # rather than answered with every region's records
    with pytest.raises(TerminalSourceError, match="no scope_param"):
        list(connector(url, **(names | {"scope_param": None})).extract(None))


# -- 9. properties: garbage in, every row accounted for or a typed error ---------------------
_TIMES = [minute(i) for i in range(4)]
#: JSON that does not parse yet keeps the array's structure (brackets and quotes balanced)
_BROKEN = ["{{oops{i}}}", "tru{i}", "1e{i}x", '{{"a" {i}}}', "nul{i}", '{{"a{i}":}}',
           "{{,{i}}}", "[{i} 2]", '{{"a":{i},}}', "-{i}-", '"\\x{i}"', "{{'a':{i}}}",
           "NaN{i}", "0x1{i}"]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=8)


@st.composite
def stores(draw: st.DrawFn) -> list[tuple[Stored, bool]]:
    """(element, is a record) for good rows and garbage; texts and ids all distinct."""
    elements: list[tuple[Stored, bool]] = []
    for i in range(draw(st.integers(0, 12))):
        when = draw(st.sampled_from(_TIMES))
        kind = draw(st.sampled_from(["good", "good", "good", "array", "object", "broken",
                                     "deep", "duplicate", "no_id", "bad_time", "surrogate",
                                     "big"]))
        key = f"ZJ{i:04d}"
        if kind == "good":
            extra = draw(st.dictionaries(st.sampled_from(["sjmc", "dsr", "sjrs", "jd"]),
                                         _JSON, max_size=3))
            elements.append((row(i, when, **extra), True))
            continue
        elements.append((Stored(_garbage(draw, kind, i, when), when, key), False))
    return elements


def _garbage(draw: st.DrawFn, kind: str, i: int, when: str) -> str:
    key = f"ZJ{i:04d}"
    if kind == "array":
        return json.dumps([i, draw(_JSON)])
    if kind == "object":
        return json.dumps({"n": i, "v": draw(_JSON)})
    if kind == "broken":
        return draw(st.sampled_from(_BROKEN)).format(i=i)
    if kind == "deep":
        return "[" * (40 + i) + "]" * (40 + i)
    if kind == "no_id":
        return json.dumps({"zjgxsj": when, "n": i})
    if kind == "bad_time":
        return json.dumps({"id": key, "zjgxsj": f"soon {i}"})
    if kind == "big":
        return json.dumps({"id": key, "zjgxsj": when, "x": "长" * 600})
    tail = {"duplicate": '"a":1,"a":2', "surrogate": '"x":"\\udc00"'}[kind]
    return f'{{"id":"{key}","zjgxsj":"{when}",{tail}}}'


def _changed(body: bytes, **changes: Any) -> bytes:
    """A proper answer with members replaced (None: removed)."""
    answer = json.loads(body)
    answer.update(changes)
    return json.dumps({k: v for k, v in answer.items() if v is not None}).encode()


#: answers that are wrong in a way the connector can see (a wrong answer that agrees with
#: itself, such as "this is the last page" one page early, cannot be told from the truth)
_FAULTS: dict[str, Callable[[bytes], Reply]] = {
    "5xx": lambda b: Reply(status=503, body=b"busy"),
    "short": lambda b: Reply(body=b[: len(b) // 2], length=len(b)),
    "cut": lambda b: Reply(body=b[: len(b) // 2]),
    "garbage": lambda b: Reply(body=bytes(reversed(b))),
    "html": lambda b: Reply(body=b"<html>down for maintenance</html>"),
    "empty": lambda b: Reply(body=b""),
    "array": lambda b: Reply(body=b"[]"),
    "quota": lambda b: Reply(body=envelope("[]", code="18")),
    "code": lambda b: Reply(body=envelope("[]", code="99")),
    "no_code": lambda b: Reply(body=_changed(b, code=None)),
    "no_datas": lambda b: Reply(body=_changed(b, datas=None)),
    "datas_number": lambda b: Reply(body=_changed(b, datas=7)),
    "bad_counts": lambda b: Reply(body=envelope("[]", count=2, pages=9)),
    "text_counts": lambda b: Reply(body=_changed(b, dataCount="5")),
    "no_pages": lambda b: Reply(body=_changed(b, totalPage=None)),
    "cut_datas": lambda b: Reply(body=envelope('[{"id":"ZJ', count=1, pages=1)),
    "bom": lambda b: Reply(body=b"\xef\xbb\xbf" + b),
}


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stored=stores(), faults=st.dictionaries(st.integers(1, 8), st.sampled_from(
    sorted(_FAULTS)), max_size=3), inline=st.booleans(), page_size=st.integers(1, 4))
def test_garbage_is_accounted_for_or_a_typed_error(
        serve: Callable[[Platform], str], stored: list[tuple[Stored, bool]],
        faults: dict[int, str], inline: bool, page_size: int) -> None:
    store = [s for s, _ in stored]

    def script(query: dict[str, str], n: int) -> Reply | None:
        if n not in faults:
            return None
        return _FAULTS[faults[n]](Platform(store, inline=inline).answer(query).body)

    settings_ = {"page_size": page_size, "max_record_chars": 1000, "max_attempts": 2,
                 "protocol_attempts": 2}
    try:
        batches = list(connector(serve(Platform(store, script, inline)), **settings_)
                       .extract(None))
    except SourceError:
        return  # a typed error: allowed, whatever it was
    ids = loaded(batches)
    texts = [raw for _, raw in rejected(batches)]
    assert sorted(ids) == sorted(s.key for s, good in stored if good)
    assert sorted(texts) == sorted(s.text for s, good in stored if not good)
    if batches:  # and a second run, from where the first ended, repeats none of them
        again = connector(serve(Platform(store, inline=inline)), **settings_)
        assert list(again.extract(batches[-1].cursor)) == []
