"""The interconnect connector (互联互通, T/CEC 102) against the charging world's real
operator servers on 127.0.0.1: paging, time windows, cursors, tokens, retries, refusals.

The sources are declared exactly as a pack's pack.toml declares them (PACK_TOML: one
operator's stations, statuses every 5 minutes, orders hourly); the other operators are
read with the same declarations and their own secrets given as settings.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import RawBatch
from connectors.errors import SourceAuthError, TerminalSourceError, TransientSourceError
from connectors.interconnect import InterconnectConfig, InterconnectConnector
from connectors.kinds import KINDS
from packs.charging.mockworld import protocol as p
from packs.charging.mockworld.operators import PROFILES, Quirk
from packs.charging.mockworld.server import TOKEN_TTL_S, OperatorServer
from packs.charging.mockworld.spec import WorldSpec
from packs.charging.mockworld.world import generate
from schemas.pack import SourceDeclaration

PACK_TOML = '''
[sources.hc_stations]
title_zh = "沪充云充电站信息"
title_en = "HC charging stations"
level = "operator"
department = "上海沪充云网络科技有限公司"
connector = "interconnect"
schedule = "0 4 * * *"
why = "an operator's station list changes slowly; read whole once a night"
freshness = "P1D"
# a listing is read whole each run; its records are told apart by StationID
cursor = "StationID"

[sources.hc_stations.defaults]
# the operator's 互联互通 server in the mock world, and the keys it exchanged with the
# platform (packs/charging/mockworld/operators.py, world/operators/MA1C8R7T9/operator.json)
base_url = "http://127.0.0.1:18434/evcs/v1/"
operator_id = "MA1SHJDP6"
operator_secret = "secma1c8r7t9op"
data_secret = "ma1c8r7t9datakey"
data_iv = "ma1c8r7t9iv00000"
sig_secret = "ma1c8r7t9sig0000"
method = "query_stations_info"
items = "StationInfos"
record_id = "StationID"
page_size = 50

[sources.hc_status]
title_zh = "沪充云充电接口状态"
title_en = "HC connector statuses"
level = "operator"
department = "上海沪充云网络科技有限公司"
connector = "interconnect"
schedule = "*/5 * * * *"
why = "connector statuses change by the minute; the platform keeps 5-minute slots"
freshness = "PT5M"
cursor = "StatusTime"

[sources.hc_status.defaults]
base_url = "http://127.0.0.1:18434/evcs/v1/"
operator_id = "MA1SHJDP6"
operator_secret = "secma1c8r7t9op"
data_secret = "ma1c8r7t9datakey"
data_iv = "ma1c8r7t9iv00000"
sig_secret = "ma1c8r7t9sig0000"
method = "query_station_status"
items = "ConnectorStatusInfos"
record_id = ["ConnectorID", "StatusTime"]
page_size = 500
window_step = "PT5M"
window_start_key = "StartTime"
window_end_key = "EndTime"
window_first = "2026-09-01 00:00:00"

[sources.hc_orders]
title_zh = "沪充云充电订单"
title_en = "HC charge orders"
level = "operator"
department = "上海沪充云网络科技有限公司"
connector = "interconnect"
schedule = "10 * * * *"
why = "orders are complete some minutes after they end; read each hour at :10"
freshness = "PT1H"
cursor = "EndTime"

[sources.hc_orders.defaults]
base_url = "http://127.0.0.1:18434/evcs/v1/"
operator_id = "MA1SHJDP6"
operator_secret = "secma1c8r7t9op"
data_secret = "ma1c8r7t9datakey"
data_iv = "ma1c8r7t9iv00000"
sig_secret = "ma1c8r7t9sig0000"
method = "query_charge_orders"
items = "ChargeOrders"
record_id = "StartChargeSeq"
page_size = 200
window_step = "PT1H"
window_start_key = "StartTime"
window_end_key = "EndTime"
window_first = "2026-09-01 00:00:00"
# an order is complete at the platform some minutes after it ends
window_delay = "PT10M"
'''
DECLARED = {name: SourceDeclaration(name=name, **body)
            for name, body in tomllib.loads(PACK_TOML)["sources"].items()}
HC = PROFILES[3].operator_id  # the operator the declarations are of (no quirks)
CASED = next(o.operator_id for o in PROFILES if Quirk.KEY_CASING in o.quirks)
SPEC = WorldSpec(seed=7, stations=20, days=1, defect_rate=0.05)
DAY = datetime(2026, 9, 1)
SECRETS = {"operator_secret": "OperatorSecret", "data_secret": "DataSecret",
           "data_iv": "DataSecretIV", "sig_secret": "SigSecret"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Platform(OperatorServer):
    """An operator's real server; a test may have it answer a method's next calls with a
    fault (a Ret code, or a reply whose Sig is not the platform's), and it keeps what it
    answered (method, Ret)."""

    def __init__(self, world: Path, operator_id: str) -> None:
        super().__init__(world, operator_id, clock=Clock())
        self.faults: dict[str, list[str]] = {}
        self.answered: list[tuple[str, int]] = []

    def answer_next(self, method: str, fault: str, n: int = 1) -> None:
        self.faults.setdefault(method, []).extend([fault] * n)

    def handle(self, name: str, body: bytes, auth: str) -> dict[str, Any]:
        queued = self.faults.get(name)
        fault = queued.pop(0) if queued else None
        if fault == "system_error":
            out = p.reply(p.SYSTEM_ERROR, None, self.info)
        elif fault == "bad_token":
            out = p.reply(p.BAD_TOKEN, None, self.info)
        else:
            out = super().handle(name, body, auth)
            if fault == "forged":
                out["Sig"] = p.sign("not-the-platform", out["Ret"], out["Msg"], out["Data"])
        self.answered.append((name, out["Ret"]))
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("charging") / "world"
    generate(root, SPEC)
    return root


@pytest.fixture(scope="module")
def platforms(world: Path) -> Iterator[dict[str, Platform]]:
    servers = {o.operator_id: Platform(world, o.operator_id).start() for o in PROFILES}
    yield servers
    with ThreadPoolExecutor() as pool:  # each waits up to half a second for its loop
        list(pool.map(OperatorServer.stop, servers.values()))


def operator_json(platform: OperatorServer) -> dict[str, Any]:
    return json.loads((platform.folder / "operator.json").read_text(encoding="utf-8"))


def connector(platform: OperatorServer, source: str, *, now: datetime = DAY,
              slept: list[float] | None = None, clock: Any = None,
              **overrides: Any) -> InterconnectConnector:
    """The declared source, at `platform` with its operator's secrets as settings; the
    platform's local time is `now`, retry waits are recorded instead of waited."""
    decl = DECLARED[source]
    keys = operator_json(platform)
    settings = (KINDS[decl.connector].defaults(decl) | {"base_url": platform.url}
                | {k: keys[v] for k, v in SECRETS.items()} | overrides)
    return KINDS[decl.connector].connector(
        InterconnectConfig(**settings), source=source, now=lambda: now,
        sleep=(slept if slept is not None else []).append, clock=clock or Clock())


def records(batches: list[RawBatch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.records.to_pylist()]


def test_the_declarations_build_and_their_keys_are_the_worlds(platforms: dict[str, Platform]
                                                              ) -> None:
    keys = operator_json(platforms[HC])
    for decl in DECLARED.values():
        kind = KINDS[decl.connector]
        config = kind.config(**kind.defaults(decl))
        kind.build(config, decl.name)
        assert config.operator_id == keys["PlatformID"]
        for setting, name in SECRETS.items():
            assert getattr(config, setting).get_secret_value() == keys[name]
        assert keys[SECRETS["sig_secret"]] not in repr(config)


def test_paging_walks_every_station_of_each_operator(platforms: dict[str, Platform]) -> None:
    for operator_id, platform in platforms.items():
        batches = list(connector(platform, "hc_stations", page_size=3).extract(None))
        stored = json.loads((platform.folder / "stations.json").read_text(encoding="utf-8"))
        rows = records(batches)
        assert [r["StationID"] for r in rows] == [s["StationID"] for s in stored], operator_id
        assert [b.origin for b in batches] == [
            f"query_stations_info?PageNo={n}" for n in range(1, -(-len(stored) // 3) + 1)]
        assert [b.cursor for b in batches] == [{"page": n + 1} for n in
                                               range(1, len(batches))] + [{}]
        assert all(r["_parse_error"] is None and r["_source"] == "hc_stations" for r in rows)
        # nested arrays kept whole, as their JSON, for the conform engine's child groups
        assert json.loads(rows[0]["EquipmentInfos"]) == stored[0]["EquipmentInfos"]
        assert [r["_row"] for r in records(batches[:1])] == list(range(1, batches[0].num_rows
                                                                       + 1))


def test_window_walk_gets_every_status_of_each_slot(platforms: dict[str, Platform]) -> None:
    platform = platforms[CASED]  # its status messages spell connectorID
    batches = list(connector(platform, "hc_status", now=DAY + timedelta(hours=1, minutes=2))
                   .extract(None))
    rows = records(batches)
    served = platform.statuses_between(DAY, DAY + timedelta(hours=1))
    assert len(rows) == len(served) > 0
    assert all(r["_parse_error"] is None for r in rows)  # the id matched in any case
    assert [(r["connectorID"], r["StatusTime"], r["Status"]) for r in rows] == [
        (s["connectorID"], s["StatusTime"], str(s["Status"])) for s in served]
    assert batches[0].origin == ("query_station_status?StartTime=2026-09-01 00:00:00&"
                                 "EndTime=2026-09-01 00:05:00&PageNo=1")
    assert len({b.origin for b in batches}) == 12  # twelve 5-minute windows
    assert batches[-1].cursor == {"next": "2026-09-01 01:00:00"}


def test_window_walk_gets_the_orders_of_the_day_for_each_operator(
        platforms: dict[str, Platform]) -> None:
    after = DAY + timedelta(days=1, minutes=10)  # the last hour's window has closed
    for operator_id, platform in platforms.items():
        batches = list(connector(platform, "hc_orders", now=after).extract(None))
        got = [r["StartChargeSeq"] for r in records(batches)]
        want = [o["StartChargeSeq"] for o in platform.orders_between(DAY, DAY + timedelta(1))]
        assert sorted(got) == sorted(want) and len(got) == len(set(got)) > 0, operator_id
        assert batches[-1].cursor == {"next": "2026-09-02 00:00:00"}


def test_a_rerun_from_the_cursor_fetches_only_new_windows(platforms: dict[str, Platform]
                                                          ) -> None:
    platform = platforms[HC]
    noon = DAY + timedelta(hours=12, minutes=10)
    first = list(connector(platform, "hc_orders", now=noon).extract(None))
    cursor = first[-1].cursor
    assert cursor == {"next": "2026-09-01 12:00:00"}
    calls = len(platform.answered)
    assert list(connector(platform, "hc_orders", now=noon).extract(cursor)) == []
    assert platform.answered[calls:] == []  # nothing asked for, not even a token
    later = list(connector(platform, "hc_orders", now=noon + timedelta(hours=1))
                 .extract(cursor))
    assert {b.origin.split("&PageNo")[0] for b in later} == {
        "query_charge_orders?StartTime=2026-09-01 12:00:00&EndTime=2026-09-01 13:00:00"}
    assert later[-1].cursor == {"next": "2026-09-01 13:00:00"}
    # a window read again yields the same records (landing counts them as duplicates)
    again = list(connector(platform, "hc_orders", now=noon).extract({"next": "2026-09-01 "
                                                                             "08:00:00"}))
    hashes = {r["_raw_hash"] for r in records(first) if r["_origin"] >= "query_charge_orders"
              "?StartTime=2026-09-01 08"}
    assert {r["_raw_hash"] for r in records(again)} == hashes and hashes


def test_a_backfill_reads_the_windows_of_its_days_only(platforms: dict[str, Platform]) -> None:
    platform = platforms[HC]
    batches = list(connector(platform, "hc_orders", now=DAY + timedelta(days=30),
                             dates=(date(2026, 9, 1), date(2026, 9, 1))).extract(None))
    assert batches[-1].cursor == {"next": "2026-09-02 00:00:00"}
    want = platform.orders_between(DAY, DAY + timedelta(1))
    assert len(records(batches)) == len(want)


@pytest.mark.parametrize(("setting", "value", "error", "says"), [
    ("operator_secret", "guessed", SourceAuthError,
     "hc_stations query_token: token refused for OperatorID MA1SHJDP6: FailReason 2 (wrong "
     "OperatorSecret); check operator_secret"),
    ("sig_secret", "0123456789abcdef", SourceAuthError,
     "hc_stations query_token: Ret 4001 (signature error: 签名错误): the platform refused "
     "our Sig; check sig_secret"),
    ("data_secret", "0123456789abcdef", TerminalSourceError,
     "hc_stations query_token: Ret 4003 (POST parameter error: POST参数不合法): the platform "
     "could not read the request; check data_secret and data_iv"),
])
def test_a_wrong_secret_is_one_clear_line(platforms: dict[str, Platform], setting: str,
                                          value: str, error: type[Exception], says: str) -> None:
    slept: list[float] = []
    with pytest.raises(error) as raised:
        list(connector(platforms[HC], "hc_stations", slept=slept, **{setting: value})
             .extract(None))
    assert str(raised.value) == says and slept == []  # refused at once, never retried


def test_500s_and_http_errors_are_retried_and_logged_without_secrets(
        platforms: dict[str, Platform], caplog: pytest.LogCaptureFixture) -> None:
    platform = platforms[HC]
    platform.answer_next("query_stations_info", "system_error", 2)
    slept: list[float] = []
    with caplog.at_level(logging.WARNING, logger="connectors.interconnect"):
        c = connector(platform, "hc_stations", slept=slept)
        list(c.extract(None))  # token taken: the failures below hit a page
        platform.fail_next(1, 503)
        platform.answer_next("query_stations_info", "system_error", 1)
        batches = list(c.extract(None))
    assert sum(b.num_rows for b in batches) == len(platform.stations)
    assert len(slept) == 4
    logged = caplog.text
    assert logged.count("Ret 500 (system error") == 3 and "HTTP 503" in logged
    keys = operator_json(platform)
    assert not any(keys[name] in logged for name in SECRETS.values())
    assert c._calls._token and c._calls._token not in logged


def test_retries_are_bounded(platforms: dict[str, Platform]) -> None:
    platform = platforms[HC]
    platform.answer_next("query_stations_info", "system_error", 3)
    slept: list[float] = []
    with pytest.raises(TransientSourceError, match=r"^hc_stations query_stations_info\?PageNo"
                       r"=1: Ret 500 \(system error: 系统错误\) \(gave up after 3 attempts\)$"):
        list(connector(platform, "hc_stations", slept=slept, max_attempts=3).extract(None))
    assert len(slept) == 2
    with pytest.raises(TransientSourceError, match="connection to .* failed: ConnectError "
                       r"\(gave up after 2 attempts\)"):
        list(connector(platform, "hc_stations", base_url="http://127.0.0.1:9/evcs/v1/",
                       max_attempts=2, timeout_s=2.0).extract(None))


def test_a_reply_with_a_bad_signature_is_refused(platforms: dict[str, Platform]) -> None:
    platform = platforms[HC]
    platform.answer_next("query_stations_info", "forged")
    slept: list[float] = []
    with pytest.raises(SourceAuthError) as raised:
        list(connector(platform, "hc_stations", slept=slept).extract(None))
    assert str(raised.value) == ("hc_stations query_stations_info?PageNo=1: reply Sig does "
                                 "not verify (Ret 0): reply refused; check sig_secret, or who "
                                 "answers at base_url")
    assert slept == []


def test_an_expired_token_is_renewed_once(platforms: dict[str, Platform]) -> None:
    platform = platforms[HC]
    clock = Clock()
    c = connector(platform, "hc_stations", clock=clock)
    list(c.extract(None))
    platform.clock.now += TOKEN_TTL_S + 1  # the platform expired it; we do not know yet
    start = len(platform.answered)
    assert sum(b.num_rows for b in c.extract(None)) == len(platform.stations)
    assert platform.answered[start:start + 3] == [("query_stations_info", 4002),
                                                  ("query_token", 0),
                                                  ("query_stations_info", 0)]
    # past the validity the platform gave, a new token is asked for before any call
    clock.now += TOKEN_TTL_S
    start = len(platform.answered)
    list(c.extract(None))
    assert platform.answered[start] == ("query_token", 0)
    assert 4002 not in {ret for _, ret in platform.answered[start:]}
    # a token refused twice is an error, not a loop
    platform.answer_next("query_stations_info", "bad_token", 2)
    with pytest.raises(SourceAuthError, match=r"Ret 4002 .* again with a token just issued"):
        list(c.extract(None))


def test_items_without_the_declared_id_are_error_records(platforms: dict[str, Platform]
                                                         ) -> None:
    batches = list(connector(platforms[HC], "hc_stations", record_id="SiteNo").extract(None))
    rows = records(batches)
    assert rows and all(r["_parse_error"] == "missing_key: an item without SiteNo (in any "
                                             "case)" for r in rows)
    assert all(json.loads(r["_raw_text"])["StationID"] for r in rows)


def test_a_misdeclared_items_key_names_what_the_reply_holds(platforms: dict[str, Platform]
                                                            ) -> None:
    with pytest.raises(TerminalSourceError, match=r"^hc_stations query_stations_info\?PageNo"
                       r"=1: no 'Stations' in the reply Data \(its keys: PageNo, PageCount, "
                       r"ItemSize, StationInfos\); check `items`$"):
        list(connector(platforms[HC], "hc_stations", items="Stations").extract(None))


def test_an_extraction_stops_at_its_deadline_and_resumes(platforms: dict[str, Platform]
                                                         ) -> None:
    platform = platforms[HC]
    clock = Clock()

    def ticking() -> float:  # every reading of the clock is a second later
        clock.now += 1.0
        return clock.now

    c = connector(platform, "hc_orders", now=DAY + timedelta(hours=6, minutes=10),
                  clock=ticking, extraction_deadline_s=2.0)
    first = list(c.extract(None))
    assert first[-1].notes and "extraction deadline" in first[-1].notes[-1]
    rest = list(connector(platform, "hc_orders", now=DAY + timedelta(hours=6, minutes=10))
                .extract(first[-1].cursor))
    got = {r["StartChargeSeq"] for r in records(first + rest)}
    assert got == {o["StartChargeSeq"] for o in platform.orders_between(DAY, DAY + timedelta(
        hours=6))}


def test_a_window_is_declared_whole() -> None:
    with pytest.raises(ValueError, match="window_step is set but not window_end_key, "
                       "window_first: a window walk needs all of them"):
        InterconnectConfig(window_step="PT5M", window_start_key="StartTime")
    with pytest.raises(ValueError, match=r"window settings given without window_step"):
        InterconnectConfig(window_start_key="StartTime")
    short = InterconnectConfig(**KINDS["interconnect"].defaults(DECLARED["hc_stations"])
                               | {"data_iv": "iv-too-short"})
    with pytest.raises(SourceAuthError, match=r"^hc_stations: data_iv must be 16 bytes "
                       r"\(AES-128\), as the two sides exchanged it$"):
        list(InterconnectConnector(short, source="hc_stations").extract(None))
