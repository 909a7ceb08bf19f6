"""The mock provincial gateway: the province platform's signed HTTP API over a world's store.

It follows the real gateway's protocol closely enough that the province connector cannot
tell the difference:

- every request carries `appKey`, `requestTime` (epoch ms) and `sign` = md5(appKey + secret
  + requestTime) in its query; business errors answer HTTP 200 with a code: "14" bad or
  missing signature, unknown key, or a requestTime more than 10 minutes off the server's
  clock; "11" key past its expiry; "18" over the key's quota in a rolling window; "20" bad
  parameters. The server's clock (for the skew, the expiry and the quota window) is
  injectable: tests pass a `packs.disputes.mockworld.clock.ManualClock`;
- answers are the envelope {"code","msg","datas","requestId","dataCount","totalPage"}
  whose `datas` is a JSON array serialised into a string;
- now and then HTTP 500/502/503 with a short text body, drawn from a random stream seeded
  by the world (gateway.json `seed`) and the request counter, so a run is reproducible.

Endpoints:
  GET  /api/v1/mdjf/cases?updatedSince=&pageNo=&pageSize=&qxdm=  rows of mdjf_sj by
       (zjgxsj, id) with zjgxsj >= updatedSince, paged; `dsr` nested as a JSON array
  GET  /api/v1/mdjf/cases/{id}                                   one row (or none)
  POST /api/v1/mdjf/cases/upload  body {"datas": "<JSON array>"} county uploads, upserted
       by `ysjbh`, answered with receipts [{"ysjbh","id","result"}], result 新增/更新/未变.
       The platform owns `id`, `sjbh`, `cjsj` and `zjgxsj`: uploads that carry them have
       them ignored; any other field not in mdjf_sj is refused with code "20". It also
       owns its verification verdict: an upload saying 800 (resolved, to be verified)
       leaves a case the province has already verified (900, 1000) or filed (1100) as is.

Each request opens its own SQLite connection; uploads are serialised by a lock.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import hmac
import json
import logging
import math
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .clock import SHANGHAI
from .render_province import COLUMNS
from .spec import DEFAULT_PORT, Layout, Manifest

log = logging.getLogger(__name__)

PREFIX = "/api/v1/mdjf/cases"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
OK, BAD_PARAMS, KEY_EXPIRED, BAD_SIGN, OVER_QUOTA = "00", "20", "11", "14", "18"
#: fields the platform sets itself; an upload cannot choose them
PLATFORM_FIELDS = frozenset({"id", "sjbh", "cjsj", "zjgxsj"})
#: zt: "resolved, to be verified", and the platform's own later stages it must not undo
AWAITING_VERIFICATION, VERDICTS = 800, frozenset({900, 1000, 1100})
UPLOAD_FIELDS = frozenset(COLUMNS) - PLATFORM_FIELDS
MAX_BODY_BYTES = 20 * 1024 * 1024
_FAIL_STATUSES = (500, 502, 503)
_FAIL_TEXT = {500: "Internal Server Error", 502: "Bad Gateway",
              503: "Service Temporarily Unavailable", 504: "Gateway Timeout"}


@dataclass
class AppKey:
    secret: str
    expires_at: datetime
    #: calls allowed per quota window (the real gateway's window is one minute)
    quota_per_minute: int


@dataclass
class GatewayConfig:
    app_keys: dict[str, AppKey]
    #: share of requests answered with HTTP 5xx
    fail_rate: float = 0.0
    max_page_size: int = 500
    seed: int = 0
    #: length of the rolling quota window
    quota_window_s: float = 60.0
    #: how far requestTime may be from the server's clock
    max_clock_skew_s: float = 600.0

    @classmethod
    def read(cls, path: Path, **overrides: Any) -> GatewayConfig:
        """Read a world's gateway.json; keyword arguments override its values."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        keys = {name: AppKey(secret=k["secret"],
                             expires_at=datetime.fromisoformat(k["expires_at"]),
                             quota_per_minute=int(k["quota_per_minute"]))
                for name, k in data.get("app_keys", {}).items()}
        known = {f.name for f in fields(cls)}
        config = cls(app_keys=keys, **{k: v for k, v in data.items()
                                       if k in known and k != "app_keys"})
        return replace(config, **overrides)


class _Reply:
    """What a handler sends back: a status, a content type and a body."""

    def __init__(self, status: int, body: bytes, content_type: str, code: str) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        #: the business code ("00", "14", ...), or "http <status>" for plain HTTP errors
        self.code = code


def envelope(code: str, msg: str, datas: list[Any] | None = None, *, data_count: int = 0,
             total_page: int = 0) -> _Reply:
    body = {"code": code, "msg": msg,
            "datas": json.dumps(datas if datas is not None else [], ensure_ascii=False),
            "requestId": str(uuid.uuid4()), "dataCount": data_count, "totalPage": total_page}
    return _Reply(200, json.dumps(body, ensure_ascii=False).encode("utf-8"),
                  "application/json; charset=utf-8", code)


def _text(status: int, text: str) -> _Reply:
    return _Reply(status, text.encode("utf-8"), "text/plain; charset=utf-8", f"http {status}")


class _Refused(Exception):
    """Ends a request with a business error code (HTTP 200)."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class _BadRequest(_Refused):
    def __init__(self, msg: str) -> None:
        super().__init__(BAD_PARAMS, f"参数错误：{msg}")


class PortInUseError(OSError):
    """Another process listens on the gateway's port already."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is in use by another process")
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return str(self.strerror)


class ProvinceGateway:
    """Serves one world's province store on 127.0.0.1 (or `host`) until stopped."""

    def __init__(self, world: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 config: GatewayConfig | None = None, *,
                 clock: Callable[[], float] = time.time, **overrides: Any) -> None:
        """`config` defaults to the world's gateway.json; `overrides` change its values
        (e.g. fail_rate=0.0 for a test that wants no injected 5xx). `clock` gives the
        server's time in epoch seconds."""
        layout = Layout(Path(world))
        if not layout.province_db.exists():
            raise FileNotFoundError(f"no province store at {layout.province_db}; "
                                    "generate the world first")
        self.world = Path(world)
        self.db_path = layout.province_db
        self.host = host
        self.port = port
        self.clock = clock
        self.config = replace(config, **overrides) if config else GatewayConfig.read(
            layout.gateway_config, **overrides)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._counter = 0
        self._forced: deque[int] = deque()
        #: (requests still answered normally, status of the outage after them)
        self._outage: tuple[int, int] | None = None
        self._calls: dict[str, deque[float]] = {}
        self._outcomes: Counter[str] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._serving = False

    # -- life cycle ------------------------------------------------------------------

    def _bind(self) -> _Server:
        if self._server is None:
            try:
                self._server = _Server((self.host, self.port), _Handler, self)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise PortInUseError(self.host, self.port) from e
                raise
            self.port = self._server.server_address[1]
        return self._server

    def start(self) -> ProvinceGateway:
        """Serve in a daemon thread; returns at once. Port 0 picks a free port."""
        server = self._bind()
        if self._thread is None:
            self._serving = True
            self._thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                            name="province-gateway", daemon=True)
            self._thread.start()
            log.info("province gateway serving %s on %s", self.world, self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` (from another thread) or Ctrl-C."""
        server = self._bind()
        self._serving = True
        log.info("province gateway serving %s on %s", self.world, self.url)
        try:
            server.serve_forever(poll_interval=0.05)
        finally:
            self._serving = False

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        # shutdown() waits for serve_forever to exit, and would wait forever if none runs
        if self._serving:
            server.shutdown()
            self._serving = False
        server.server_close()
        server.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ProvinceGateway:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self.port == 0:
            raise RuntimeError("the gateway has no port yet: start it first")
        return f"http://{self.host}:{self.port}"

    # -- test controls ------------------------------------------------------------

    def inject_failures(self, n: int, status: int = 503) -> None:
        """Answer the next `n` requests with HTTP `status`, whatever the fail rate."""
        with self._lock:
            self._forced.extend([status] * n)

    def fail_after(self, n: int, status: int = 503) -> None:
        """Answer the next `n` requests as usual, then every request with HTTP `status`
        until `recover()`: an outage that starts at a known request, not at a moment."""
        with self._lock:
            self._outage = (n, status)

    def recover(self) -> None:
        """End an outage started by `fail_after`."""
        with self._lock:
            self._outage = None

    def configure(self, **changes: Any) -> None:
        """Change settings while serving, e.g. `configure(fail_rate=0)`."""
        with self._lock:
            self.config = replace(self.config, **changes)

    def reset_quota(self) -> None:
        with self._lock:
            self._calls.clear()

    @property
    def hits(self) -> int:
        """Requests received so far, whatever their answer."""
        with self._lock:
            return self._counter

    @property
    def outcomes(self) -> Counter[str]:
        """How requests were answered: business codes ("00", "14", ...) and "http 503"."""
        with self._lock:
            return Counter(self._outcomes)

    # -- request handling -----------------------------------------------------------

    def handle(self, method: str, target: str, body: bytes) -> _Reply:
        with self._lock:
            self._counter += 1
            n = self._counter
            forced = self._forced.popleft() if self._forced else None
            if self._outage is not None:
                normal, status = self._outage
                if normal > 0:
                    self._outage = (normal - 1, status)
                else:
                    forced = forced or status
            config = self.config
        status = forced or self._draw_failure(n, config)
        reply = _text(status, _FAIL_TEXT.get(status, "Server Error")) if status else None
        reply = reply or self._route(method, target, body, config)
        with self._lock:
            self._outcomes[reply.code] += 1
        return reply

    def _route(self, method: str, target: str, body: bytes, config: GatewayConfig) -> _Reply:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path.rstrip("/")
        rest = path[len(PREFIX):] if path.startswith(PREFIX) else None
        if rest is None or (rest and not rest.startswith("/")) or "/" in rest[1:]:
            return _text(404, "Not Found")
        handlers = {"": ("GET", self._cases), "/upload": ("POST", self._upload)}
        allowed, action = handlers.get(rest, ("GET", self._case))
        if method != allowed:
            return _text(405, "Method Not Allowed")
        try:
            app_key = self._authenticate(query, config)
            return action(query=query, rest=unquote(rest[1:]), body=body, app_key=app_key,
                          config=config)
        except _Refused as e:
            return envelope(e.code, e.msg)

    def _draw_failure(self, n: int, config: GatewayConfig) -> int | None:
        if config.fail_rate <= 0:
            return None
        rng = random.Random(f"gateway:{config.seed}:{n}")
        if rng.random() < config.fail_rate:
            return rng.choice(_FAIL_STATUSES)
        return None

    def _authenticate(self, q: dict[str, str], config: GatewayConfig) -> str:
        """The request's appKey, once its signature, time, expiry and quota check out."""
        key, when, sign = q.get("appKey", ""), q.get("requestTime", ""), q.get("sign", "")
        if not (key and when and sign):
            raise _Refused(BAD_SIGN, "签名校验失败：缺少 appKey、requestTime 或 sign")
        app = config.app_keys.get(key)
        if app is None:
            raise _Refused(BAD_SIGN, "签名校验失败：appKey 不存在")
        expected = hashlib.md5((key + app.secret + when).encode("utf-8"),
                               usedforsecurity=False).hexdigest()
        if not hmac.compare_digest(sign.encode("utf-8"), expected.encode("utf-8")):
            raise _Refused(BAD_SIGN, "签名校验失败：sign 不正确")
        if not when.isdigit():
            raise _Refused(BAD_SIGN, "签名校验失败：requestTime 应为毫秒时间戳")
        now = self.clock()
        if abs(now * 1000 - int(when)) > config.max_clock_skew_s * 1000:
            raise _Refused(BAD_SIGN, "请求已过期：requestTime 与服务器时间相差超过 "
                                     f"{config.max_clock_skew_s / 60:g} 分钟")
        expires = app.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=SHANGHAI)
        if datetime.fromtimestamp(now, SHANGHAI) > expires:
            raise _Refused(KEY_EXPIRED, f"appKey 已于 {expires:%Y-%m-%d %H:%M:%S} 过期")
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - config.quota_window_s:
                calls.popleft()
            # only admitted calls count, so a client that backs off gets through again
            if len(calls) >= app.quota_per_minute:
                raise _Refused(OVER_QUOTA, "调用频率超过限制，请稍后再试")
            calls.append(now)
        return key

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        return con

    def _cases(self, *, query: dict[str, str], config: GatewayConfig, **_: Any) -> _Reply:
        since = query.get("updatedSince") or None
        if since is not None:
            try:
                datetime.strptime(since, TIME_FORMAT)
            except ValueError:
                raise _BadRequest("updatedSince 应为 yyyy-MM-dd HH:mm:ss") from None
        page_no = _positive_int(query, "pageNo", 1)
        page_size = min(_positive_int(query, "pageSize", 100), config.max_page_size)
        county = query.get("qxdm") or None
        if county is not None and not (county.isdigit() and len(county) == 6):
            raise _BadRequest("qxdm 应为 6 位区划代码")
        where, args = [], []
        if since is not None:
            where.append("zjgxsj >= ?")
            args.append(since)
        if county is not None:
            where.append("qxdm = ?")
            args.append(county)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        con = self._connect()
        try:
            con.execute("BEGIN")  # count and page from one snapshot
            total = con.execute(f"SELECT count(*) FROM mdjf_sj {clause}", args).fetchone()[0]  # noqa: S608
            rows = con.execute(
                f"SELECT * FROM mdjf_sj {clause} ORDER BY zjgxsj, id LIMIT ? OFFSET ?",  # noqa: S608
                [*args, page_size, (page_no - 1) * page_size]).fetchall()
            con.execute("COMMIT")
        finally:
            con.close()
        return envelope(OK, "成功", [_as_object(r) for r in rows], data_count=total,
                        total_page=math.ceil(total / page_size))

    def _case(self, *, rest: str, **_: Any) -> _Reply:
        con = self._connect()
        try:
            row = con.execute("SELECT * FROM mdjf_sj WHERE id = ?", (rest,)).fetchone()
        finally:
            con.close()
        rows = [_as_object(row)] if row else []
        return envelope(OK, "成功", rows, data_count=len(rows), total_page=len(rows))

    def _platform_now(self) -> str:
        """The platform's clock is the world's: uploads stamped with the wall clock would
        sit months after the world's own rows and push every later row below the
        connectors' watermarks."""
        try:
            return Manifest.read(self.world).now.strftime(TIME_FORMAT)
        except (FileNotFoundError, ValueError):
            return datetime.now(SHANGHAI).strftime(TIME_FORMAT)

    def _upload(self, *, body: bytes, app_key: str, config: GatewayConfig, **_: Any) -> _Reply:
        records = _parse_upload(body, config.max_page_size)
        receipts = []
        with self._write_lock:
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
                now = self._platform_now()
                for record in records:
                    receipts.append(_upsert(con, record, app_key, now))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            finally:
                con.close()
        log.debug("upload by %s: %s", app_key, Counter(r["result"] for r in receipts))
        return envelope(OK, "成功", receipts, data_count=len(receipts),
                        total_page=1 if receipts else 0)


def _positive_int(query: dict[str, str], name: str, default: int) -> int:
    text = query.get(name) or ""
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise _BadRequest(f"{name} 应为正整数")
    return int(text)


def _as_object(row: sqlite3.Row) -> dict[str, Any]:
    obj = dict(row)
    dsr = obj.get("dsr")
    if isinstance(dsr, str) and dsr:
        # served as stored when broken: the platform does not repair its own data
        with contextlib.suppress(ValueError):
            obj["dsr"] = json.loads(dsr)
    return obj


def _parse_upload(body: bytes, limit: int) -> list[dict[str, Any]]:
    try:
        outer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _BadRequest("请求体应为 UTF-8 编码的 JSON 对象") from None
    if not isinstance(outer, dict) or not isinstance(outer.get("datas"), str):
        raise _BadRequest('请求体应为 {"datas": "<JSON 数组字符串>"}')
    try:
        records = json.loads(outer["datas"])
    except ValueError:
        raise _BadRequest("datas 不是合法的 JSON 字符串") from None
    if not isinstance(records, list):
        raise _BadRequest("datas 应为 JSON 数组")
    if len(records) > limit:
        raise _BadRequest(f"单次最多上传 {limit} 条，收到 {len(records)} 条")
    for i, r in enumerate(records, 1):
        if not isinstance(r, dict):
            raise _BadRequest(f"第 {i} 条不是 JSON 对象")
        ysjbh = r.get("ysjbh")
        if not isinstance(ysjbh, str) or not ysjbh.strip():
            raise _BadRequest(f"第 {i} 条缺少 ysjbh（原事件编号）")
        unknown = sorted(set(r) - UPLOAD_FIELDS - PLATFORM_FIELDS)
        if unknown:
            raise _BadRequest(f"第 {i} 条（ysjbh={ysjbh}）含未知字段：{', '.join(unknown)}")
        for k, v in r.items():
            nested = k == "dsr" and isinstance(v, list)
            if not nested and not (v is None or isinstance(v, (str, int, float))):
                raise _BadRequest(f"第 {i} 条（ysjbh={ysjbh}）字段 {k} 的值类型不支持")
    return records


def _upsert(con: sqlite3.Connection, record: dict[str, Any], app_key: str, now: str
            ) -> dict[str, str]:
    values = {k: _stored(k, v) for k, v in record.items() if k in UPLOAD_FIELDS}
    ysjbh = values["ysjbh"]
    found = con.execute("SELECT * FROM mdjf_sj WHERE ysjbh = ? ORDER BY cjsj, id LIMIT 1",
                        (ysjbh,)).fetchone()
    if found is None:
        sid = _new_id(con, now)
        row = {c: None for c in COLUMNS} | values
        row |= {"id": sid, "sjbh": _new_sjbh(con, now, values.get("qxdm") or ysjbh[:6]),
                "cjsj": now, "zjgxsj": now}
        cols = ", ".join(row)
        con.execute(f"INSERT INTO mdjf_sj ({cols}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
                    list(row.values()))
        result = "新增"
    else:
        sid = found["id"]
        if _as_int(values.get("zt")) == AWAITING_VERIFICATION and _as_int(found["zt"]) in VERDICTS:
            values.pop("zt")
        sets = ", ".join(f"{k} = ?" for k in values)
        con.execute(f"UPDATE mdjf_sj SET {sets} WHERE id = ?", [*values.values(), sid])  # noqa: S608
        # compare as stored, so SQLite's own conversions ("2" into an INTEGER column)
        # do not count as a change
        after = con.execute("SELECT * FROM mdjf_sj WHERE id = ?", (sid,)).fetchone()
        if tuple(after) == tuple(found):
            result = "未变"
        else:
            con.execute("UPDATE mdjf_sj SET zjgxsj = ? WHERE id = ?", (now, sid))
            result = "更新"
    con.execute("INSERT INTO mdjf_upload (app_key, ysjbh, sj_id, result, payload, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (app_key, ysjbh, sid, result, json.dumps(record, ensure_ascii=False), now))
    return {"ysjbh": ysjbh, "id": sid, "result": result}


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _stored(name: str, value: Any) -> Any:
    if name == "dsr" and isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _new_id(con: sqlite3.Connection, now: str) -> str:
    # Uploaded cases number from 90000001 up: the world's own ids count up from 1 and
    # `advance` writes them by id, so a shared range could overwrite an uploaded case.
    day = now[:10].replace("-", "")
    top = con.execute("SELECT max(substr(id, 13)) FROM mdjf_sj WHERE id LIKE 'ZJMD%' "
                      "AND length(id) = 20 AND substr(id, 13, 1) = '9'").fetchone()[0]
    seq = int(top) + 1 if top else 90000001
    return f"ZJMD{day}{seq:08d}"


def _new_sjbh(con: sqlite3.Connection, now: str, county: str) -> str:
    prefix = f"{now[2:4]}{now[5:7]}{now[8:10]}{county}"
    n = con.execute("SELECT count(*) FROM mdjf_sj WHERE sjbh LIKE ?", (prefix + "%",)
                    ).fetchone()[0]
    return f"{prefix}{n + 1:04d}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 gateway: ProvinceGateway) -> None:
        self.gateway = gateway
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        # Keep-alive connections outlive serve_forever; a stopped gateway must stop
        # answering, as a real one going down would.
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes; with Nagle on, each answer waits for a
    # delayed ACK (about 40 ms)
    disable_nagle_algorithm = True
    server_version = "MockProvinceGateway/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            reply = _text(413, "Request Entity Too Large")
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length else b""
            try:
                reply = self.server.gateway.handle(method, self.path, body)
            except Exception:
                log.exception("province gateway: %s %s failed", method, urlsplit(self.path).path)
                reply = _text(500, "Internal Server Error")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        # the path only: the query carries the signature and the body personal data
        log.debug("%s %s -> %s %s (%.1f ms)", method, urlsplit(self.path).path, reply.status,
                  reply.code, (time.perf_counter() - started) * 1000)

    def log_message(self, format: str, *args: Any) -> None:
        # the default writes every request line, query and all, to stderr
        pass


def main(argv: list[str] | None = None) -> None:
    """`python -m packs.disputes.mockworld.gateway WORLD [--port N] [--fail-rate X]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("world", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--fail-rate", type=float, default=None)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    overrides = {} if args.fail_rate is None else {"fail_rate": args.fail_rate}
    config = GatewayConfig.read(Layout(args.world).gateway_config, **overrides)
    gateway = ProvinceGateway(args.world, host=args.host, port=args.port, config=config)
    try:
        gateway.serve_forever()
    except PortInUseError as e:
        parser.exit(2, f"error: {e}: choose another with --port\n")
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()


if __name__ == "__main__":
    main()
