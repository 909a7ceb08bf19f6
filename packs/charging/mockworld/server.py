"""One operator's 互联互通 endpoint over its store, on 127.0.0.1 (port 0 = a free port).

POST /evcs/v1/query_token          {OperatorID, OperatorSecret} → AccessToken (TTL 7200 s)
POST /evcs/v1/query_stations_info  {PageNo, PageSize} → StationInfos, paged
POST /evcs/v1/query_station_status {StationIDs} → statuses at the server's world time, or
                                   {StartTime, EndTime, PageNo, PageSize} → every 5-minute
                                   status in [StartTime, EndTime), each with its StatusTime,
                                   paged as ConnectorStatusInfos (a history pull, as
                                   platforms that missed pushes catch up)
POST /evcs/v1/query_charge_orders  {StartTime, EndTime, PageNo, PageSize} → ChargeOrders
and pushes (`push_status`, `push_orders`) of notification_stationStatus and
notification_charge_order_info to a URL the caller gives. Every call but the token call
needs `Authorization: Bearer <token>`. The token clock is injectable (`clock`), and so is
the world time statuses are read at (`world_now`), so tests never wait. `fail_next(n)`
answers the next n requests with an HTTP error, as a platform behind a failing proxy does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import protocol as p
from .operators import Quirk
from .orders import TIME
from .spec import SLOTS_PER_DAY, WorldSpec

TOKEN_TTL_S = 7200
PREFIX = "/evcs/v1/"


class OperatorServer:
    def __init__(self, world: Path, operator_id: str, host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(world) / "operators" / operator_id
        self.info = json.loads((self.folder / "operator.json").read_text(encoding="utf-8"))
        self.stations = json.loads((self.folder / "stations.json").read_text(encoding="utf-8"))
        self.quirks = frozenset(Quirk(q) for q in self.info["quirks"])
        self.spec = WorldSpec.read(Path(world))
        self.clock = clock
        self.world_now = self.spec.day_start(self.spec.days - 1) + timedelta(hours=12)
        self._tokens: dict[str, float] = {}
        self._seq = 0
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{PREFIX}"

    def start(self) -> OperatorServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OperatorServer:
        return self.start()

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next `n` requests with HTTP `status` instead of the protocol."""
        with self._lock:
            self._failures += [status] * n

    def _failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- requests -------------------------------------------------------------------
    def handle(self, name: str, body: bytes, auth: str) -> dict[str, Any]:
        secrets = self.info
        try:
            env = json.loads(body)
            fields = [env[k] for k in ("OperatorID", "Data", "TimeStamp", "Seq", "Sig")]
        except (ValueError, KeyError, TypeError):
            return p.reply(p.BAD_POST, None, secrets)
        if p.sign(secrets["SigSecret"], *fields[:4]) != str(fields[4]).upper():
            return p.reply(p.BAD_SIGNATURE, None, secrets)
        try:
            payload = json.loads(p.decrypt(fields[1], secrets["DataSecret"],
                                           secrets["DataSecretIV"]))
        except ValueError:
            return p.reply(p.BAD_POST, None, secrets)
        if name == "query_token":
            return p.reply(p.OK, self._token(payload), secrets)
        token = auth.removeprefix("Bearer ").strip()
        with self._lock:
            expires = self._tokens.get(token)
        if expires is None or expires <= self.clock():
            return p.reply(p.BAD_TOKEN, None, secrets)
        route = {"query_stations_info": self._stations_info,
                 "query_station_status": self._station_status,
                 "query_charge_orders": self._charge_orders}.get(name)
        if route is None:
            return p.reply(p.BAD_POST, None, secrets, msg=f"未知接口 {name}")
        try:
            return p.reply(p.OK, route(payload), secrets)
        except (KeyError, TypeError, ValueError) as e:
            return p.reply(p.BAD_BUSINESS, None, secrets, msg=f"业务参数不合法: {e}")

    def _token(self, q: dict[str, Any]) -> dict[str, Any]:
        known = q.get("OperatorID") == self.info["PlatformID"]
        ok = known and q.get("OperatorSecret") == self.info["OperatorSecret"]
        if not ok:
            return {"OperatorID": q.get("OperatorID"), "SuccStat": 1, "AccessToken": "",
                    "TokenAvailableTime": 0, "FailReason": 2 if known else 1}
        with self._lock:
            self._seq += 1
            token = p.sign(self.info["SigSecret"], "token", self._seq)[:32]
            self._tokens[token] = self.clock() + TOKEN_TTL_S
        return {"OperatorID": q["OperatorID"], "SuccStat": 0, "AccessToken": token,
                "TokenAvailableTime": TOKEN_TTL_S, "FailReason": 0}

    def _stations_info(self, q: dict[str, Any]) -> dict[str, Any]:
        page, size = _page(q)
        count = max(1, -(-len(self.stations) // size))
        items = self.stations[(page - 1) * size: page * size]
        return {"PageNo": page, "PageCount": count, "ItemSize": len(items),
                "StationInfos": items}

    def _station_status(self, q: dict[str, Any]) -> dict[str, Any]:
        if "StationIDs" not in q:
            return self._status_history(q)
        wanted = [str(s) for s in q["StationIDs"]]
        if not wanted or len(wanted) > 50:
            raise ValueError("StationIDs: 1 to 50 station ids")
        rows = self.statuses_at(self.world_now)
        infos = []
        for sid in wanted:
            conns = [r for r in rows if _cid(r).startswith(sid)]
            infos.append(self._cased({"StationID": sid, "ConnectorStatusInfos": conns}))
        return {"Total": len(infos), "StationStatusInfos": infos}

    def statuses_at(self, at: datetime) -> list[dict[str, Any]]:
        """Every connector's status row for the 5-minute slot holding `at`."""
        path = self.folder / "status" / f"{at.date()}.parquet"
        if not path.exists():
            raise ValueError(f"no statuses for {at.date()}")
        slot = (at.hour * 60 + at.minute) // 5
        t = pq.read_table(path, filters=[("Slot", "=", slot)])
        t = t.set_column(0, "ConnectorID", pc.cast(t["ConnectorID"], "string")).drop(["Slot"])
        return [self._cased(r) for r in t.to_pylist()]

    def _status_history(self, q: dict[str, Any]) -> dict[str, Any]:
        start, end = (datetime.strptime(q[k], TIME) for k in ("StartTime", "EndTime"))
        page, size = _page(q)
        rows = self.statuses_between(start, end)
        count = max(1, -(-len(rows) // size))
        items = rows[(page - 1) * size: page * size]
        return {"PageNo": page, "PageCount": count, "ItemSize": len(items),
                "ConnectorStatusInfos": items}

    def statuses_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every connector's status of each 5-minute slot starting in [start, end), slot
        by slot, each with the slot's time as `StatusTime`."""
        out = []
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            path = self.folder / "status" / f"{day.date()}.parquet"
            first = max(0, -(-(start - day) // timedelta(minutes=5)))
            stop = min(SLOTS_PER_DAY, -(-(end - day) // timedelta(minutes=5)))
            if path.exists() and first < stop:
                t = pq.read_table(path, filters=[("Slot", ">=", first), ("Slot", "<", stop)])
                t = t.set_column(0, "ConnectorID", pc.cast(t["ConnectorID"], "string"))
                for r in sorted(t.to_pylist(), key=lambda r: r["Slot"]):
                    at = day + timedelta(minutes=5 * r.pop("Slot"))
                    out.append(self._cased(r | {"StatusTime": at.strftime(TIME)}))
            day += timedelta(days=1)
        return out

    def _charge_orders(self, q: dict[str, Any]) -> dict[str, Any]:
        start, end = (datetime.strptime(q[k], TIME) for k in ("StartTime", "EndTime"))
        page, size = _page(q)
        rows = self.orders_between(start, end)
        count = max(1, -(-len(rows) // size))
        items = rows[(page - 1) * size: page * size]
        return {"PageNo": page, "PageCount": count, "ItemSize": len(items),
                "ChargeOrders": items}

    def orders_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Orders ending in [start, end), rendered as this operator sends them."""
        out = []
        d = start.date()
        while d <= end.date():
            path = self.folder / "orders" / f"{d}.parquet"
            if path.exists():
                for r in pq.read_table(path).to_pylist():
                    if start.strftime(TIME) <= max(r["StartTime"], r["EndTime"]) \
                            < end.strftime(TIME):
                        out.append(self._order(r))
            d += timedelta(days=1)
        return out

    def _order(self, r: dict[str, Any]) -> dict[str, Any]:
        r = dict(r)
        r["ChargeDetails"] = json.loads(r["ChargeDetails"])
        if Quirk.UTC_TIMES in self.quirks:
            r["StartTime"], r["EndTime"] = _utc(r["StartTime"]), _utc(r["EndTime"])
            for d in r["ChargeDetails"]:
                d["DetailStartTime"] = _utc(d["DetailStartTime"])
                d["DetailEndTime"] = _utc(d["DetailEndTime"])
        if Quirk.SERVICE_SPELLING in self.quirks:
            r = _respell(r)
            r["ChargeDetails"] = [_respell(d) for d in r["ChargeDetails"]]
        return self._cased(r)

    def _cased(self, r: dict[str, Any]) -> dict[str, Any]:
        if Quirk.KEY_CASING not in self.quirks:
            return r
        return {{"ConnectorID": "connectorID", "StationID": "stationID"}.get(k, k): v
                for k, v in r.items()}

    # --- pushes ---------------------------------------------------------------------
    def push_status(self, url: str, at: datetime) -> list[int]:
        """notification_stationStatus for every connector whose status at `at` differs
        from the slot before (one POST each, as the protocol sends them); returns Rets."""
        before = {_cid(r): r for r in self.statuses_at(at - timedelta(minutes=5))}
        changed = [r for r in self.statuses_at(at) if before.get(_cid(r)) != r]
        return [self._push(url, "notification_stationStatus", {"ConnectorStatusInfo": r})
                for r in changed]

    def push_orders(self, url: str, start: datetime, end: datetime) -> list[int]:
        return [self._push(url, "notification_charge_order_info", o)
                for o in self.orders_between(start, end)]

    def _push(self, url: str, name: str, payload: Any) -> int:
        with self._lock:
            self._seq += 1
            seq = self._seq
        env = p.request(self.info["OperatorID"], payload, self.info,
                        self.world_now.strftime("%Y%m%d%H%M%S"), seq)
        reply = httpx.post(url.rstrip("/") + "/" + name, json=env, timeout=10).json()
        return int(reply["Ret"])


def _page(q: dict[str, Any]) -> tuple[int, int]:
    page, size = int(q.get("PageNo", 1)), int(q.get("PageSize", 10))
    if page < 1 or not 1 <= size <= 500:
        raise ValueError("PageNo ≥ 1, PageSize 1–500")
    return page, size


def _cid(r: dict[str, Any]) -> str:
    return r.get("ConnectorID") or r["connectorID"]


def _utc(local: str) -> str:
    t = datetime.strptime(local, TIME) - timedelta(hours=8)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]


def _respell(r: dict[str, Any]) -> dict[str, Any]:
    return {k.replace("Sevice", "Service"): v for k, v in r.items()}


def _handler(server: OperatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if not self.path.startswith(PREFIX):
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            failure = server._failure()
            if failure is not None:
                self.send_error(failure)
                return
            try:
                out = server.handle(self.path[len(PREFIX):], body,
                                    self.headers.get("Authorization", ""))
            except Exception:  # a mock's bug must still answer the protocol's way
                out = p.reply(p.SYSTEM_ERROR, None, server.info)
            raw = json.dumps(out, ensure_ascii=False).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *_: Any) -> None:  # keep test output quiet
            pass

    return Handler
