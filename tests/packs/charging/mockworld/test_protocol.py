"""The operators' 互联互通 endpoint, against a client written from the standard."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from packs.charging.mockworld.operators import PROFILES
from packs.charging.mockworld.server import TOKEN_TTL_S, OperatorServer

from .conftest import Client, operator_json

OP = PROFILES[3].operator_id  # the operator without quirks


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served(small_world: Path) -> Any:
    clock = _Clock()
    with OperatorServer(small_world, OP, clock=clock) as server:
        yield server, Client(server.url, operator_json(small_world, OP)), clock


def test_token_then_encrypted_round_trip(served: Any, small_world: Path) -> None:
    _server, client, _ = served
    client.login()
    stations = client.all_stations()
    stored = json.loads((small_world / f"operators/{OP}/stations.json").read_text("utf-8"))
    assert stations == stored


def test_wrong_secret_gets_no_token(served: Any) -> None:
    _, client, _ = served
    ret, data = client.call("query_token", {"OperatorID": client.s["PlatformID"],
                                            "OperatorSecret": "guess"})
    assert ret == 0 and data["SuccStat"] == 1 and data["FailReason"] == 2
    ret, data = client.call("query_token", {"OperatorID": "XXXXXXXXX", "OperatorSecret": "x"})
    assert data["FailReason"] == 1 and data["AccessToken"] == ""


def test_missing_and_expired_token_refused_with_4002(served: Any) -> None:
    _, client, clock = served
    assert client.call("query_stations_info", {"PageNo": 1})[0] == 4002
    client.login()
    assert client.call("query_stations_info", {"PageNo": 1})[0] == 0
    clock.now += TOKEN_TTL_S + 1
    assert client.call("query_stations_info", {"PageNo": 1})[0] == 4002


@pytest.mark.parametrize("field", ["Data", "TimeStamp", "Seq", "Sig"])
def test_a_changed_byte_is_refused_with_4001(served: Any, field: str) -> None:
    _, client, _ = served
    client.login()
    env = client.envelope({"PageNo": 1, "PageSize": 5})
    value = env[field]
    env[field] = value[:-1] + ("0" if value[-1] != "0" else "1")
    reply = client.post("query_stations_info", env)
    assert reply["Ret"] == 4001 and reply["Data"] == ""


def test_undecryptable_data_is_4003_and_bad_paging_4004(served: Any) -> None:
    _, client, _ = served
    client.login()
    env = client.envelope({})
    env["Data"] = "bm90IGNpcGhlcnRleHQ="  # base64 of plain text, signed correctly
    env["Sig"] = client.sig(env["OperatorID"], env["Data"], env["TimeStamp"], env["Seq"])
    assert client.post("query_stations_info", env)["Ret"] == 4003
    assert client.call("query_stations_info", {"PageNo": 0, "PageSize": 5})[0] == 4004


def test_paging_is_complete_for_every_page_size(served: Any, small_world: Path) -> None:
    _, client, _ = served
    client.login()
    stored = json.loads((small_world / f"operators/{OP}/stations.json").read_text("utf-8"))
    for size in (1, 3, len(stored), 500):
        ids = [s["StationID"] for s in client.all_stations(size)]
        assert ids == [s["StationID"] for s in stored]


def test_status_and_orders_are_served(served: Any) -> None:
    _server, client, _ = served
    client.login()
    sid = client.all_stations()[0]["StationID"]
    ret, data = client.call("query_station_status", {"StationIDs": [sid]})
    assert ret == 0 and data["StationStatusInfos"][0]["StationID"] == sid
    conns = data["StationStatusInfos"][0]["ConnectorStatusInfos"]
    assert conns and all(c["ConnectorID"].startswith(sid) for c in conns)
    ret, data = client.call("query_charge_orders", {
        "StartTime": "2026-09-01 00:00:00", "EndTime": "2026-09-03 00:00:00",
        "PageNo": 1, "PageSize": 500})
    assert ret == 0 and data["ItemSize"] > 0
    o = data["ChargeOrders"][0]
    assert o["SumPeriod"] == len(o["ChargeDetails"]) and "TotalSeviceMoney" in o


def _a_slot_with_changes(path: Path) -> datetime:
    """The first 5-minute slot of the day at which some connector's row changes."""
    t = pq.read_table(path)
    rows = np.stack([t[c].to_numpy() for c in ("Status", "ParkStatus", "LockStatus")], -1)
    rows = rows.reshape(-1, 288, 3)
    slot = int(np.nonzero((rows[:, 1:] != rows[:, :-1]).any(axis=(0, 2)))[0][0]) + 1
    return datetime(2026, 9, 2) + timedelta(minutes=5 * slot)


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.got.append((self.path, body))
        raw = json.dumps({"Ret": 0, "Msg": "", "Data": "", "Sig": ""}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: Any) -> None:
        pass


def test_pushes_reach_a_real_receiver_signed_and_encrypted(served: Any) -> None:
    server, client, _ = served
    got: list[tuple[str, dict[str, Any]]] = []
    handler = type("H", (_Receiver,), {"got": got})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/platform"
        at = _a_slot_with_changes(server.folder / "status" / "2026-09-02.parquet")
        rets = server.push_status(url, at)
        orders = server.push_orders(url, datetime(2026, 9, 2, 18), datetime(2026, 9, 2, 21))
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert rets and set(rets) == {0} and orders and set(orders) == {0}
    assert len(got) == len(rets) + len(orders)
    changed = {r["ConnectorID"] for r in server.statuses_at(at)}
    for path, env in got:
        assert env["OperatorID"] == OP
        assert env["Sig"] == client.sig(env["OperatorID"], env["Data"], env["TimeStamp"],
                                        env["Seq"])
        data = client.dec(env["Data"])
        if path.endswith("notification_stationStatus"):
            assert data["ConnectorStatusInfo"]["ConnectorID"] in changed
        else:
            assert path.endswith("notification_charge_order_info") and data["StartChargeSeq"]
