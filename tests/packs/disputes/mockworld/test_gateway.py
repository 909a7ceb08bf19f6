"""The mock province gateway speaks the real gateway's protocol, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from packs.disputes.mockworld.clock import SHANGHAI, ManualClock
from packs.disputes.mockworld.gateway import GatewayConfig, ProvinceGateway
from packs.disputes.mockworld.spec import (
    DEMO_APP_KEY,
    DEMO_APP_SECRET,
    EXPIRED_APP_KEY,
    EXPIRED_APP_SECRET,
    Layout,
    Manifest,
)

CASES = "/api/v1/mdjf/cases"
#: one client for the module: a new one per request costs an SSL context each time
HTTP = httpx.Client(timeout=60)  # per read; liveness only


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture(scope="module")
def world(gateway_world: Path) -> Path:
    return gateway_world


def signed(key: str = DEMO_APP_KEY, secret: str = DEMO_APP_SECRET,
           when: float | None = None) -> dict[str, str]:
    """A signed query; `when` is the requestTime in epoch seconds (default: now)."""
    t = str(int((time.time() if when is None else when) * 1000))
    return {"appKey": key, "requestTime": t,
            "sign": hashlib.md5((key + secret + t).encode()).hexdigest()}


def get(gw: ProvinceGateway, path: str = CASES, auth: dict[str, str] | None = None,
        **params: Any) -> httpx.Response:
    query = (signed() if auth is None else auth) | params
    return HTTP.get(gw.url + path, params=query)


def upload(gw: ProvinceGateway, body: Any, auth: dict[str, str] | None = None
           ) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return HTTP.post(gw.url + CASES + "/upload", params=auth or signed(), content=content,
                     headers={"Content-Type": "application/json"})


def store(world: Path, sql: str, *args: Any) -> list[tuple]:
    con = sqlite3.connect(Layout(world).province_db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def test_envelope_shape(gateway: ProvinceGateway, world: Path) -> None:
    r = get(gateway, pageSize=40)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"code", "msg", "datas", "requestId", "dataCount", "totalPage"}
    assert body["code"] == "00" and body["msg"] == "成功"
    assert isinstance(body["datas"], str)  # a JSON array serialised again
    uuid.UUID(body["requestId"])
    total = store(world, "SELECT count(*) FROM mdjf_sj")[0][0]
    assert total > 80
    assert body["dataCount"] == total
    assert body["totalPage"] == math.ceil(total / 40)
    rows = json.loads(body["datas"])
    columns = [c[1] for c in store(world, "PRAGMA table_info(mdjf_sj)")]
    assert len(rows) == 40 and all(list(row) == columns for row in rows)
    assert all(isinstance(row["dsr"], list) and row["dsr"][0]["xm"] for row in rows)


def test_pages_follow_zjgxsj_then_id(gateway: ProvinceGateway, world: Path) -> None:
    expected = [r[0] for r in store(world, "SELECT id FROM mdjf_sj ORDER BY zjgxsj, id")]
    seen: list[str] = []
    page = 1
    while True:
        body = get(gateway, pageNo=page, pageSize=37).json()
        seen += [row["id"] for row in json.loads(body["datas"])]
        if page >= body["totalPage"]:
            break
        page += 1
    assert seen == expected
    beyond = get(gateway, pageNo=page + 1, pageSize=37).json()
    assert beyond["code"] == "00" and json.loads(beyond["datas"]) == []


def test_page_size_is_capped(gateway: ProvinceGateway, world: Path) -> None:
    gateway.configure(max_page_size=100)  # below the world's size, so that the cap shows
    body = get(gateway, pageSize=10_000).json()
    total = store(world, "SELECT count(*) FROM mdjf_sj")[0][0]
    assert len(json.loads(body["datas"])) == 100
    assert body["totalPage"] == math.ceil(total / 100)


def test_updated_since_and_county_filter(gateway: ProvinceGateway, world: Path) -> None:
    since = store(world, "SELECT zjgxsj FROM mdjf_sj ORDER BY zjgxsj LIMIT 1 OFFSET 50")[0][0]
    body = get(gateway, updatedSince=since, pageSize=100).json()
    rows = json.loads(body["datas"])
    expected = store(world, "SELECT id FROM mdjf_sj WHERE zjgxsj >= ? ORDER BY zjgxsj, id",
                     since)
    assert body["dataCount"] == len(expected)
    assert [r["id"] for r in rows] == [e[0] for e in expected][:100]
    assert min(r["zjgxsj"] for r in rows) >= since
    body = get(gateway, qxdm="330421", pageSize=100).json()
    expected = store(world, "SELECT count(*) FROM mdjf_sj WHERE qxdm = '330421'")[0][0]
    assert body["dataCount"] == expected > 0
    assert {r["qxdm"] for r in json.loads(body["datas"])} == {"330421"}


@pytest.mark.parametrize("params", [{"updatedSince": "2026-09-01"}, {"pageNo": "0"},
                                    {"pageSize": "x"}, {"qxdm": "33"}])
def test_bad_parameters_answer_code_20(gateway: ProvinceGateway, params: dict) -> None:
    body = get(gateway, **params).json()
    assert body["code"] == "20" and "参数错误" in body["msg"] and body["datas"] == "[]"


def test_one_case_by_id(gateway: ProvinceGateway, world: Path) -> None:
    case_id = store(world, "SELECT id FROM mdjf_sj ORDER BY id LIMIT 1")[0][0]
    body = get(gateway, f"{CASES}/{case_id}").json()
    assert body["code"] == "00" and body["dataCount"] == 1
    assert json.loads(body["datas"])[0]["id"] == case_id
    body = get(gateway, f"{CASES}/ZJMD0000000000000000").json()
    assert body["code"] == "00" and body["dataCount"] == 0 and body["datas"] == "[]"


def test_unknown_paths_and_methods(gateway: ProvinceGateway) -> None:
    assert get(gateway, "/api/v1/other").status_code == 404
    assert HTTP.post(gateway.url + CASES, params=signed()).status_code == 405


def _code(r: httpx.Response) -> tuple[int, str, str, str]:
    body = r.json()
    return r.status_code, body["code"], body["datas"], body["msg"]


def test_signature_is_enforced(gateway: ProvinceGateway) -> None:
    good = signed()
    assert _code(get(gateway, auth=good))[1] == "00"
    assert _code(get(gateway, auth=good | {"sign": "0" * 32}))[:3] == (200, "14", "[]")
    assert _code(get(gateway, auth=signed(secret="wrong")))[1] == "14"
    assert _code(get(gateway, auth=signed(key="nobody")))[1] == "14"
    assert _code(get(gateway, auth={"appKey": DEMO_APP_KEY}))[1] == "14"


def test_request_time_within_ten_minutes_of_the_server_clock(world: Path) -> None:
    clock = ManualClock(start=1_790_000_000.0)
    with ProvinceGateway(world, port=0, fail_rate=0.0, clock=clock) as gw:
        for skew in (-599, 599, 0):
            assert _code(get(gw, auth=signed(when=clock() + skew)))[1] == "00", skew
        # a correct signature over a stale time: replayed, or a clock 10 minutes off
        for skew in (-601, 601):
            status, code, _, msg = _code(get(gw, auth=signed(when=clock() + skew)))
            assert (status, code) == (200, "14") and "过期" in msg, skew
        clock.advance(3600)  # the server's clock moves on; the client's did not
        assert _code(get(gw, auth=signed(when=clock() - 3600)))[1] == "14"


def test_expired_key_answers_11(gateway: ProvinceGateway) -> None:
    status, code, datas, msg = _code(get(gateway, auth=signed(EXPIRED_APP_KEY,
                                                                 EXPIRED_APP_SECRET)))
    assert (status, code, datas) == (200, "11", "[]") and "过期" in msg


def test_key_expires_on_the_server_clock(world: Path) -> None:
    expiry = datetime(2099, 12, 31, 23, 59, 59, tzinfo=SHANGHAI).timestamp()
    clock = ManualClock(start=expiry - 1)
    with ProvinceGateway(world, port=0, fail_rate=0.0, clock=clock) as gw:
        assert _code(get(gw, auth=signed(when=clock())))[1] == "00"
        clock.advance(2)
        status, code, datas, msg = _code(get(gw, auth=signed(when=clock())))
        assert (status, code, datas) == (200, "11", "[]") and "2099-12-31 23:59:59" in msg


def test_quota_per_rolling_window(world: Path) -> None:
    clock = ManualClock(start=1_790_000_000.0)
    config = GatewayConfig.read(Layout(world).gateway_config, fail_rate=0.0, quota_window_s=60.0)
    config.app_keys[DEMO_APP_KEY].quota_per_minute = 3

    def code() -> str:
        return get(gw, auth=signed(when=clock())).json()["code"]

    with ProvinceGateway(world, port=0, config=config, clock=clock) as gw:
        first = [code()]
        clock.advance(20)
        first += [code(), code(), code(), code()]
        assert first == ["00", "00", "00", "18", "18"]
        clock.advance(39)  # 59 s after the first call: all three still in the window
        assert code() == "18"
        clock.advance(1)  # the first call leaves the window, the two others do not
        assert [code(), code()] == ["00", "18"]
        assert gw.outcomes == {"00": 4, "18": 4}


def test_injected_failures_then_recovery(gateway: ProvinceGateway) -> None:
    gateway.inject_failures(2, status=502)
    first, second, third = (get(gateway) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (502, 502, 200)
    assert first.headers["content-type"].startswith("text/plain")
    assert gateway.outcomes["http 502"] == 2 and gateway.hits == 3


def test_an_outage_after_a_known_number_of_requests(gateway: ProvinceGateway) -> None:
    gateway.fail_after(2, status=503)
    assert [get(gateway).status_code for _ in range(5)] == [200, 200, 503, 503, 503]
    gateway.recover()
    assert get(gateway).status_code == 200


def test_fail_rate_is_reproducible(world: Path) -> None:
    def statuses() -> list[int]:
        with ProvinceGateway(world, port=0, fail_rate=0.4) as gw:
            return [get(gw).status_code for _ in range(25)]

    a, b = statuses(), statuses()
    assert a == b
    assert 0 < sum(s >= 500 for s in a) < 25 and set(a) <= {200, 500, 502, 503}
    with ProvinceGateway(world, port=0, fail_rate=1.0) as gw:
        assert get(gw).status_code >= 500
        gw.configure(fail_rate=0.0)
        assert get(gw).status_code == 200


def test_upload_is_idempotent_by_ysjbh(own_world: Path) -> None:
    existing_id, ysjbh, title = store(
        own_world, "SELECT id, ysjbh, sjmc FROM mdjf_sj WHERE qxdm = '330421' "
        "AND ysjbh IS NOT NULL ORDER BY id LIMIT 1")[0]
    before = store(own_world, "SELECT count(*) FROM mdjf_sj")[0][0]
    records = [
        {"ysjbh": "2611013304219999", "qxdm": "330421", "sjmc": "关于甲与乙相邻关系的矛盾纠纷",
         "sjrs": 2, "jd": 120.9, "dsr": [{"dsrlx": "申请方", "xm": "甲"}]},
        {"ysjbh": ysjbh, "sjmc": title + "（更正）"},
    ]
    body = {"datas": json.dumps(records, ensure_ascii=False)}
    with ProvinceGateway(own_world, port=0, fail_rate=0.0) as gw:
        first = upload(gw, body).json()
        second = upload(gw, body).json()
        fetched = json.loads(get(gw, f"{CASES}/{existing_id}").json()["datas"])[0]
    assert first["code"] == "00" and isinstance(first["datas"], str)
    receipts = json.loads(first["datas"])
    assert [r["result"] for r in receipts] == ["新增", "更新"]
    assert receipts[1]["id"] == existing_id
    assert re.fullmatch(r"ZJMD\d{8}\d{8}", receipts[0]["id"])
    again = json.loads(second["datas"])
    assert [r["result"] for r in again] == ["未变", "未变"]
    assert [r["id"] for r in again] == [r["id"] for r in receipts]
    assert store(own_world, "SELECT count(*) FROM mdjf_sj")[0][0] == before + 1
    assert fetched["sjmc"] == title + "（更正）"
    new = store(own_world, "SELECT zjgxsj, cjsj, sjbh, dsr FROM mdjf_sj WHERE id = ?",
                receipts[0]["id"])[0]
    # stamped with the world's clock, not the wall clock, so watermarks stay in step
    assert new[0] == Manifest.read(own_world).now.strftime("%Y-%m-%d %H:%M:%S") == new[1]
    assert new[2].endswith("0001") and json.loads(new[3])[0]["xm"] == "甲"
    log = store(own_world, "SELECT app_key, ysjbh, result FROM mdjf_upload ORDER BY upload_id")
    assert [r[2] for r in log] == ["新增", "更新", "未变", "未变"]
    assert {r[0] for r in log} == {DEMO_APP_KEY}


@pytest.mark.parametrize("body", [
    b"not json",
    {"datas": [{"ysjbh": "1"}]},  # an array, not a string
    {"datas": "{not json"},
    {"datas": json.dumps([{"sjmc": "没有原事件编号"}], ensure_ascii=False)},
    {"datas": json.dumps([{"ysjbh": "1", "foo": "bar"}])},
    {"datas": json.dumps([{"ysjbh": "1", "sjmc": {"nested": 1}}])},
])
def test_invalid_upload_answers_20_and_writes_nothing(own_world: Path, body: Any) -> None:
    before = store(own_world, "SELECT count(*) FROM mdjf_sj")[0][0]
    with ProvinceGateway(own_world, port=0, fail_rate=0.0) as gw:
        answer = upload(gw, body).json()
    assert answer["code"] == "20" and answer["datas"] == "[]"
    assert answer["msg"].startswith("参数错误")
    assert store(own_world, "SELECT count(*) FROM mdjf_sj")[0][0] == before
    assert store(own_world, "SELECT count(*) FROM mdjf_upload")[0][0] == 0


def test_upload_needs_a_signature(own_world: Path) -> None:
    with ProvinceGateway(own_world, port=0, fail_rate=0.0) as gw:
        answer = upload(gw, {"datas": "[]"}, auth=signed(secret="wrong")).json()
    assert answer["code"] == "14"


def test_logs_carry_no_secrets_or_personal_numbers(gateway: ProvinceGateway,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="packs.disputes.mockworld.gateway")
    get(gateway, pageSize=100)
    get(gateway, auth=signed(secret="wrong"))
    assert any("/api/v1/mdjf/cases" in m for m in caplog.messages)
    text = caplog.text
    assert DEMO_APP_SECRET not in text and "sign=" not in text
    assert not re.search(r"1[3-9]\d{9}", text)  # phone numbers
    assert not re.search(r"\d{6}\*+\d{3}[\dX]", text)  # ID numbers, even masked


def test_concurrent_requests(gateway: ProvinceGateway, world: Path) -> None:
    total = store(world, "SELECT count(*) FROM mdjf_sj")[0][0]

    def fetch_pages() -> list[int]:
        with httpx.Client(timeout=60) as client:
            return [client.get(gateway.url + CASES, params=signed() | {"pageNo": n}).json()
                    ["dataCount"] for n in range(1, 6)]

    with ThreadPoolExecutor(8) as pool:
        counts = [c for result in pool.map(lambda _: fetch_pages(), range(8)) for c in result]
    assert counts == [total] * 40 and gateway.hits == 40


def test_start_stop_and_url(world: Path) -> None:
    gw = ProvinceGateway(world, port=0, fail_rate=0.0)
    with pytest.raises(RuntimeError):
        _ = gw.url
    gw.start()
    try:
        assert gw.url.startswith("http://127.0.0.1:") and get(gw).status_code == 200
    finally:
        gw.stop()
    gw.stop()  # twice is harmless
    with pytest.raises(httpx.TransportError):
        get(gw)
