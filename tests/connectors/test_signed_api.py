"""The signed API connector, on the dispute pack's settings, against the province's mock
gateway: signing, retries, paging, resuming, uploads."""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.base import LINEAGE_COLUMNS, RawBatch
from connectors.errors import (
    SourceAuthError,
    SourceNotFoundError,
    SourceProtocolError,
    TerminalSourceError,
    TransientSourceError,
)
from connectors.kinds import KINDS
from connectors.signed_api import SignedApiConfig, SignedApiConnector
from packs.disputes.mockworld.clock import ManualClock
from packs.disputes.mockworld.gateway import GatewayConfig, ProvinceGateway
from packs.disputes.mockworld.spec import (
    DEFAULT_PORT,
    DEMO_APP_KEY,
    DEMO_APP_SECRET,
    EXPIRED_APP_KEY,
    EXPIRED_APP_SECRET,
    Layout,
    Manifest,
)
from packs.disputes.mockworld.world import advance
from silobridge.packs import pack

#: the dispute pack's settings of its province source: the gateway's path, fields, key
PROVINCE = KINDS["signed_api"].defaults(pack("disputes").source("province"))


@pytest.fixture(scope="module")
def world(gateway_world: Path) -> Path:
    return gateway_world


def connector(gw: ProvinceGateway | str, clock: ManualClock | None = None,
              **overrides: Any) -> SignedApiConnector:
    """Retry waits and deadlines on a ManualClock: no test waits for real."""
    clock = clock or ManualClock()
    settings = {"base_url": gw if isinstance(gw, str) else gw.url, "page_size": 40,
                "timeout_s": 30.0}
    return SignedApiConnector(SignedApiConfig(**(PROVINCE | settings | overrides)),
                              source="province", clock=clock, sleep=clock.sleep)


def store_ids(world: Path, where: str = "") -> list[str]:
    con = sqlite3.connect(Layout(world).province_db)
    try:
        return [r[0] for r in con.execute(f"SELECT id FROM mdjf_sj {where}")]
    finally:
        con.close()


def ids_of(batches: list[RawBatch]) -> list[str]:
    return [i for b in batches for i in b.records.column("id").to_pylist()]


def test_full_extraction_returns_every_row_once(gateway: ProvinceGateway, world: Path) -> None:
    batches = list(connector(gateway).extract(None))
    ids = ids_of(batches)
    assert len(ids) == len(set(ids))
    assert set(ids) == set(store_ids(world))
    assert len(batches) >= 3 and all(b.num_rows > 0 for b in batches)
    first = batches[0]
    assert first.source == "province"
    assert first.columns[0] == "id" and "dsr" in first.columns and "zjgxsj" in first.columns
    assert first.records.column_names == [*first.columns, *LINEAGE_COLUMNS]
    assert first.origin == "cases?pageNo=1"
    assert batches[1].origin.startswith("cases?updatedSince=2026-")
    rows = first.records.to_pylist()
    assert rows[0]["_row"] == 1 and all(r["_origin"] == first.origin for r in rows)
    assert all(isinstance(r[c], str) or r[c] is None for r in rows for c in first.columns)
    parties = json.loads(rows[0]["dsr"])
    assert parties[0]["xm"] and ", " not in rows[0]["dsr"]  # compact JSON text
    assert all(len(r["_raw_hash"]) == 32 for r in rows)
    highs = [b.cursor["high"] for b in batches]
    assert highs == sorted(highs)


def test_extraction_with_the_final_cursor_yields_nothing(gateway: ProvinceGateway) -> None:
    batches = list(connector(gateway).extract(None))
    assert list(connector(gateway).extract(batches[-1].cursor)) == []
    # the cursor survives a JSON round trip, as the warehouse stores it
    cursor = json.loads(json.dumps(batches[-1].cursor))
    assert list(connector(gateway).extract(cursor)) == []


def test_county_filter(gateway: ProvinceGateway, world: Path) -> None:
    batches = list(connector(gateway, scope_value="330421").extract(None))
    assert sorted(ids_of(batches)) == sorted(store_ids(world, "WHERE qxdm = '330421'"))
    assert "qxdm=330421" in batches[0].origin


def test_resume_after_a_crash_neither_loses_nor_repeats(gateway: ProvinceGateway,
                                                        world: Path) -> None:
    run = connector(gateway).extract(None)
    landed = next(run)
    run.close()  # the process dies before the second batch lands
    rest = list(connector(gateway).extract(landed.cursor))
    first_ids, rest_ids = ids_of([landed]), ids_of(rest)
    assert not set(first_ids) & set(rest_ids)
    assert len(rest_ids) == len(set(rest_ids))
    assert sorted(first_ids + rest_ids) == sorted(store_ids(world))
    assert list(connector(gateway).extract(rest[-1].cursor)) == []


def test_advancing_the_world_brings_exactly_the_new_versions(own_world: Path) -> None:
    with ProvinceGateway(own_world, port=0, fail_rate=0.0) as gw:
        cursor = list(connector(gw).extract(None))[-1].cursor
        clock = f"{Manifest.read(own_world).now:%Y-%m-%d %H:%M:%S}"
        advance(own_world, 1)
        batches = list(connector(gw).extract(cursor))
    with (Layout(own_world).answer_key / "records.csv").open(encoding="utf-8") as f:
        expected = {r["record_key"] for r in csv.DictReader(f)
                    if r["source"] == "province" and r["written_at"] >= clock}
    ids = ids_of(batches)
    assert expected and len(ids) == len(set(ids))
    assert set(ids) == expected


def test_retries_after_injected_5xx(gateway: ProvinceGateway, world: Path) -> None:
    gateway.inject_failures(3, status=503)
    clock = ManualClock()
    batches = list(connector(gateway, clock, backoff_initial_s=0.5,
                             backoff_max_s=1.5).extract(None))
    assert sorted(ids_of(batches)) == sorted(store_ids(world))
    assert gateway.outcomes["http 503"] == 3
    # exponential backoff from 0.5 s, capped at 1.5 s, with up to 0.5 s of jitter
    first, second, third = clock.slept
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 1.5 and third == 1.5


def test_gives_up_after_max_attempts(gateway: ProvinceGateway) -> None:
    gateway.inject_failures(10, status=502)
    with pytest.raises(TransientSourceError, match=r"HTTP 502.*3 attempts"):
        list(connector(gateway, max_attempts=3).extract(None))
    assert gateway.hits == 3


def test_unreachable_gateway_is_transient() -> None:
    # a port nothing listens on: bind one, note it, close it
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    server.server_close()
    with pytest.raises(TransientSourceError, match="connection"):
        list(connector(url, max_attempts=2).extract(None))


def test_over_quota_is_retried_until_the_window_resets(world: Path) -> None:
    # one clock for both: the connector's waits are what moves the gateway's quota window
    clock = ManualClock()
    config = GatewayConfig.read(Layout(world).gateway_config, fail_rate=0.0, quota_window_s=10.0)
    config.app_keys[DEMO_APP_KEY].quota_per_minute = 2
    with ProvinceGateway(world, port=0, config=config, clock=clock) as gw:
        batches = list(connector(gw, clock, backoff_initial_s=1.0, backoff_max_s=4.0,
                                 max_attempts=10).extract(None))
        outcomes = gw.outcomes
    assert sorted(ids_of(batches)) == sorted(store_ids(world))
    # no time passes but in the waits: every third call in a window is refused
    assert outcomes["18"] >= outcomes["00"] // 2 - 1 > 0
    assert sum(clock.slept) >= 10.0 * (outcomes["00"] // 2 - 1)


@pytest.mark.parametrize(("key", "secret", "code"), [
    (DEMO_APP_KEY, "not-the-secret", "14"),
    ("unknown-key", DEMO_APP_SECRET, "14"),
    (EXPIRED_APP_KEY, EXPIRED_APP_SECRET, "11"),
])
def test_auth_errors_fail_at_once(gateway: ProvinceGateway, key: str, secret: str,
                                  code: str) -> None:
    with pytest.raises(SourceAuthError) as caught:
        list(connector(gateway, app_key=key, app_secret=secret).extract(None))
    assert gateway.hits == 1
    message = str(caught.value)
    assert f"code {code}" in message and key in message and secret not in message


class _Broken(BaseHTTPRequestHandler):
    """A platform answering outside its protocol."""

    answers: ClassVar[dict[str, bytes]] = {
        "/html/api/v1/mdjf/cases": b"<html>maintenance</html>",
        "/nocode/api/v1/mdjf/cases": b'{"msg": "ok"}',
        "/baddatas/api/v1/mdjf/cases": b'{"code": "00", "datas": "{oops", "totalPage": 1}',
        "/nopages/api/v1/mdjf/cases": b'{"code": "00", "datas": "[]", "dataCount": 0}',
        "/code99/api/v1/mdjf/cases": b'{"code": "99", "msg": "unknown", "datas": "[]"}',
    }

    def do_GET(self) -> None:
        body = next((v for k, v in self.answers.items() if self.path.startswith(k)), None)
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def broken() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("prefix", "error", "text"), [
    ("html", SourceProtocolError, "not JSON"),
    ("nocode", SourceProtocolError, "no code"),
    ("baddatas", SourceProtocolError, "datas"),
    ("nopages", SourceProtocolError, "totalPage"),
    ("code99", TerminalSourceError, "code 99"),
    ("missing", SourceNotFoundError, "404"),
])
def test_answers_outside_the_protocol(broken: str, prefix: str, error: type[Exception],
                                      text: str) -> None:
    with pytest.raises(error, match=text):
        list(connector(f"{broken}/{prefix}").extract(None))


def test_upload_and_fetch(own_world: Path) -> None:
    record = {"ysjbh": "2611013304218888", "qxdm": "330421", "sjmc": "关于甲与乙的矛盾纠纷",
              "sjrs": 2, "dsr": [{"dsrlx": "申请方", "xm": "甲"}]}
    with ProvinceGateway(own_world, port=0, fail_rate=0.0) as gw:
        api = connector(gw)
        gw.inject_failures(1)  # the first attempt fails; the retry must not add a twin
        first = api.upload([record])
        again = api.upload([record])
        fetched = api.fetch(first[0]["id"])
        missing = api.fetch("ZJMD0000000000000000")
        assert api.upload([]) == []
        cursor_after = list(api.extract(None))[-1].cursor
    assert [r["result"] for r in first] == ["新增"]
    assert [r["result"] for r in again] == ["未变"] and again[0]["id"] == first[0]["id"]
    assert fetched is not None and fetched["ysjbh"] == record["ysjbh"]
    assert fetched["dsr"] == record["dsr"] and missing is None
    assert len(store_ids(own_world, f"WHERE ysjbh = '{record['ysjbh']}'")) == 1
    assert cursor_after["high"] == fetched["zjgxsj"]


def test_logs_carry_no_secret(gateway: ProvinceGateway,
                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gateway.inject_failures(2)
    list(connector(gateway).extract(None))
    assert "retrying" in caplog.text
    assert DEMO_APP_SECRET not in caplog.text


def test_settings_defaults_match_the_mock() -> None:
    config = SignedApiConfig(**PROVINCE)
    assert config.base_url == f"http://127.0.0.1:{DEFAULT_PORT}"
    assert config.updated_field == "zjgxsj"  # the pack's declared cursor
    assert config.app_key == DEMO_APP_KEY
    assert config.app_secret.get_secret_value() == DEMO_APP_SECRET
    assert DEMO_APP_SECRET not in repr(config) and DEMO_APP_SECRET not in config.model_dump_json()
    # the connector itself knows no platform: without the pack's settings it asks for them
    with pytest.raises(SourceNotFoundError, match=r"no base_url configured.*SignedApiConfig"):
        list(SignedApiConnector(SignedApiConfig(updated_field="t"), source="s").extract(None))
