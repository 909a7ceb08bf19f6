"""A local Airflow with its sources: `airflow standalone` and the mock province gateway.

`AirflowStack` runs both as child processes on 127.0.0.1, each in a session (and process
group) of its own, so that stopping reaches everything they started: `airflow standalone`
does not pass SIGTERM on to its scheduler, DAG processor, API server and triggerer, and
the scheduler's task processes move into process groups of their own (the task SDK's
supervisor calls setpgid), though they stay in the session. `stop()` therefore signals
whole groups, then every other process of those sessions and every descendant it saw,
waits, kills what is left, and checks that nothing remains.

Airflow's configuration (metadata database, pool, admin password) is prepared in a child
process before `airflow standalone` starts: Airflow reads its configuration once per
process, and the parent's must stay untouched. Generating the admin password there, with
its output thrown away, also keeps the password out of standalone.log.

Output goes to <airflow home>/logs/standalone.log and gateway.log, never to the terminal.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

from silobridge.settings import Settings, env_variable

from .airflow_home import INGEST_DAGS, MERGE_DAGS, airflow_env

log = logging.getLogger(__name__)

PROJECT_DAGS = (*INGEST_DAGS, *MERGE_DAGS)
USERNAME = "admin"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SIMPLE_AUTH_MANAGER = ("airflow.api_fastapi.auth.managers.simple.simple_auth_manager."
                       "SimpleAuthManager")
#: components the health endpoint must report healthy (the API server is the one answering)
HEALTHY_COMPONENTS = ("metadatabase", "scheduler", "dag_processor")
TERM_GRACE_S = 15.0
KILL_GRACE_S = 5.0

# Runs in a child process (python -c): prepare() configures Airflow process-wide at import.
_PREPARE_CHILD = """
from airflow.api_fastapi.app import create_auth_manager
from ops.airflow_home import prepare
from silobridge.settings import Settings
prepare(Settings())
create_auth_manager().init()
"""


class StackError(RuntimeError):
    """The stack could not start, did not become ready, or left processes behind."""


class PortTaken(StackError):
    """A port the stack needs answers already; the message names the fix."""

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


class AirflowStack:
    """`airflow standalone` and (for a loopback province URL) the mock province gateway.

    Use as a context manager (entering starts, leaving stops) or call start(),
    wait_ready() and stop(). `extra_env` goes into the children's environment last (e.g.
    AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION). `standalone_command` replaces `airflow
    standalone` and `migrate=False` skips preparing the metadata database: tests use both
    to check the process-group logic without booting Airflow. `gateway` forces the gateway
    on or off (default: on when the province URL is loopback). `term_grace` is how long
    stop() waits after SIGTERM before it kills.
    """

    def __init__(self, settings: Settings, port: int = 8080, *,
                 extra_env: dict[str, str] | None = None,
                 standalone_command: Sequence[str] | None = None, migrate: bool = True,
                 gateway: bool | None = None, term_grace: float = TERM_GRACE_S) -> None:
        self.settings = settings
        self.port = port
        self.host = "127.0.0.1"
        bin_dir = Path(sys.executable).parent
        self._standalone_command = list(standalone_command or
                                        [str(bin_dir / "airflow"), "standalone"])
        self._migrate = migrate
        self._extra_env = dict(extra_env or {})
        self._term_grace = term_grace
        province = urlsplit(settings.province.base_url)
        self._gateway_port = province.port or 80
        self._with_gateway = (province.hostname in LOOPBACK) if gateway is None else gateway
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._leaders: set[int] = set()
        self._seen: dict[int, Any] = {}  # pid → psutil.Process, every descendant noticed
        self._token: str | None = None

    # -- public properties ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def gateway_url(self) -> str | None:
        return f"http://{self.host}:{self._gateway_port}" if self._with_gateway else None

    @property
    def username(self) -> str:
        return USERNAME

    @property
    def password(self) -> str:
        """The admin password Airflow generated (read from its file in the Airflow home)."""
        path = self.settings.airflow_home / "simple_auth_manager_passwords.json.generated"
        try:
            return json.loads(path.read_text())[USERNAME]
        except (OSError, ValueError, KeyError):
            raise StackError(f"no generated admin password in {path} yet") from None

    @property
    def log_dir(self) -> Path:
        return self.settings.airflow_home / "logs"

    @property
    def pgids(self) -> set[int]:
        """Process groups (and sessions) of the children: their leaders' pids."""
        return set(self._leaders)

    def env(self) -> dict[str, str]:
        """The children's environment: ours, Airflow's for the home, the API on our port."""
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, **airflow_env(self.settings)}
        env.update({
            # standalone starts its components as plain `airflow` from PATH
            "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")]),
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__API__HOST": self.host,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            # task workers reach the API server here; the default assumes port 8080
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            # standalone starts the scheduler beside the API server, not after it: a run due
            # at start (the latest tick of a schedule) has its first task ask the API server
            # before it listens, and with the default 5 tries (~6 s) the task failed without
            # a line of log. At least 55 s of tries (5 s or more apart, up to 90 s) outlast
            # its start on two busy cores.
            "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "12",
            "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MIN": "5",
            # task logs are what operators read: the steps tell what they did at INFO (the
            # demo's dag.test keeps WARNING for its terminal). httpx's line per request
            # would drown them, and carries the province gateway's request signature
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "httpx=WARNING httpcore=WARNING",
            "PYTHONWARNINGS": "ignore",
            "NO_COLOR": "1",
        })
        env.update(self._extra_env)
        return env

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> AirflowStack:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Generate the world if missing, prepare Airflow, start the gateway and Airflow."""
        if self._procs:
            raise StackError("the stack is already started")
        self.check_ports()
        self._ensure_world()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        try:
            if self._with_gateway:
                self._spawn("gateway", [sys.executable, "-m", "packs.disputes.mockworld.gateway",
                                        str(self.settings.world_dir),
                                        "--port", str(self._gateway_port)], env)
            if self._migrate:
                self._prepare_airflow(env)
            self._spawn("standalone", self._standalone_command, env)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float = 240.0) -> None:
        """Wait until the gateway answers, Airflow's components report healthy and the
        project's DAGs are registered; raise StackError on a dead child or at timeout."""
        started = time.monotonic()
        deadline = started + timeout
        waiting_for = previous = ""
        with httpx.Client(base_url=self.url, timeout=5.0, trust_env=False) as client:
            while True:
                self.check_children()
                waiting_for = self._not_ready(client) or ""
                if waiting_for != previous:
                    log.info("%.0f s: %s", time.monotonic() - started,
                             f"waiting for {waiting_for}" if waiting_for else "ready")
                    previous = waiting_for
                if not waiting_for:
                    return
                if time.monotonic() > deadline:
                    raise StackError(f"not ready after {timeout:.0f} s: waiting for "
                                     f"{waiting_for}; see {self.log_dir}/standalone.log")
                time.sleep(1.0)

    def token(self) -> str:
        """A bearer token for /api/v2 (POST /auth/token with the admin user)."""
        if self._token is None:
            with httpx.Client(base_url=self.url, timeout=10.0, trust_env=False) as client:
                self._token = self._fetch_token(client)
        return self._token

    def api(self) -> httpx.Client:
        """An authenticated client for the REST API (close it, or use it with `with`)."""
        return httpx.Client(base_url=self.url, timeout=10.0, trust_env=False,
                            headers={"Authorization": f"Bearer {self.token()}"})

    def stop(self) -> list[int]:
        """Stop both children and everything they started; return the pids still alive
        afterwards (empty when the stop was clean). Safe to call more than once."""
        if not self._leaders:
            return []
        self._remember_descendants()
        self._signal_all(signal.SIGTERM)
        left = self._wait_gone(self._term_grace)
        if left:
            log.info("%d process(es) outlived SIGTERM; killing them", len(left))
            self._signal_all(signal.SIGKILL)
            left = self._wait_gone(KILL_GRACE_S)
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)
        for handle in self._logs:
            handle.close()
        self._logs.clear()
        if not left:
            self._procs.clear()
            self._leaders.clear()
            self._seen.clear()
        return sorted(left)

    def running(self) -> list[int]:
        """Live processes of the stack: its sessions' members and descendants seen."""
        return sorted(self._members())

    # -- starting -----------------------------------------------------------------------------

    def check_ports(self) -> None:
        """Raise PortTaken when a port the stack needs answers already."""
        self._check_port_free(self.port, "Airflow's API server",
                              "stop that process, or choose a free port with --port N")
        if self._with_gateway:
            self._check_port_free(self._gateway_port, "the province gateway",
                                  "stop that process, or point "
                                  f"{env_variable('province', 'base_url')} at a free port")

    def _check_port_free(self, port: int, what: str, fix: str) -> None:
        if port_answers(self.host, port):
            raise PortTaken(f"port {port} on {self.host} is in use by another process "
                            f"(another Airflow or gateway still running?), so {what} cannot "
                            f"serve there: {fix}", port)

    def _ensure_world(self) -> None:
        world = self.settings.world_dir
        if (world / "world.json").exists():
            return
        from packs.disputes.mockworld.spec import WorldSpec  # noqa: PLC0415 - only on a fresh home
        from packs.disputes.mockworld.world import generate  # noqa: PLC0415

        log.info("generating the mock world into %s", world)
        generate(world, WorldSpec())

    def _prepare_airflow(self, env: dict[str, str]) -> None:
        self.settings.airflow_home.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / "standalone.log", "ab") as out:
            # stdout dropped: the auth manager prints a newly generated password there
            done = subprocess.run([sys.executable, "-c", _PREPARE_CHILD], env=env,  # noqa: S603
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=out, start_new_session=True, timeout=300,
                                  check=False)
        if done.returncode != 0:
            raise StackError(f"preparing Airflow's metadata database failed (exit "
                             f"{done.returncode}); see {self.log_dir}/standalone.log")

    def _spawn(self, name: str, command: Sequence[str], env: dict[str, str]) -> None:
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(out)
        # our own interpreter and airflow, or a test's fake: no untrusted input
        proc = subprocess.Popen(list(command), env=env,  # noqa: S603
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self._procs[name] = proc
        self._leaders.add(proc.pid)

    # -- readiness ----------------------------------------------------------------------------

    def check_children(self) -> None:
        """Raise StackError when a child (gateway or standalone) has exited."""
        for name, proc in self._procs.items():
            code = proc.poll()
            if code is not None:
                raise StackError(f"{name} exited with code {code}; see {self.log_dir}/"
                                 f"{name}.log")

    def _not_ready(self, client: httpx.Client) -> str | None:
        """What the stack still waits for, or None when ready."""
        if self._with_gateway and not port_answers(self.host, self._gateway_port):
            return "the province gateway"
        try:
            health = client.get("/api/v2/monitor/health")
            if health.status_code != 200:
                return f"the health endpoint (HTTP {health.status_code})"
            report = health.json()
            sick = [c for c in HEALTHY_COMPONENTS
                    if (report.get(c) or {}).get("status") != "healthy"]
            if sick:
                return "healthy " + ", ".join(sick)
            if self._token is None:
                self._token = self._fetch_token(client)
            dags = client.get("/api/v2/dags", params={"limit": 100},
                              headers={"Authorization": f"Bearer {self._token}"})
            if dags.status_code == 401:
                self._token = None
                return "a valid token"
            dags.raise_for_status()
        except httpx.TransportError:
            return "the API server"
        except (httpx.HTTPStatusError, ValueError) as e:
            return f"the API ({e})"
        registered = {d["dag_id"] for d in dags.json().get("dags", [])}
        missing = [d for d in PROJECT_DAGS if d not in registered]
        if missing:
            self._raise_on_import_errors(client)
            return "DAGs " + ", ".join(missing)
        return None

    def _fetch_token(self, client: httpx.Client) -> str:
        r = client.post("/auth/token", json={"username": USERNAME, "password": self.password})
        r.raise_for_status()
        return r.json()["access_token"]

    def _raise_on_import_errors(self, client: httpx.Client) -> None:
        r = client.get("/api/v2/importErrors",
                       headers={"Authorization": f"Bearer {self._token}"})
        if r.status_code != 200:
            return
        errors = r.json().get("import_errors", [])
        if errors:
            first = errors[0]
            last_line = (first.get("stack_trace") or "").strip().splitlines()[-1:] or [""]
            raise StackError(f"DAG import errors in {len(errors)} file(s), first "
                             f"{first.get('filename')}: {last_line[0]}")

    # -- stopping -----------------------------------------------------------------------------

    def _remember_descendants(self) -> None:
        # A process that left the sessions (setsid) is still found as a descendant, as
        # long as it was seen before its parent died and it was re-parented.
        import psutil  # noqa: PLC0415

        for pid in self._leaders:
            with contextlib.suppress(psutil.Error):
                leader = psutil.Process(pid)
                for p in [leader, *leader.children(recursive=True)]:
                    self._seen.setdefault(p.pid, p)

    def _members(self) -> set[int]:
        import psutil  # noqa: PLC0415

        found: set[int] = set()
        for pid in psutil.pids():
            try:
                if os.getsid(pid) in self._leaders or os.getpgid(pid) in self._leaders:
                    found.add(pid)
            except OSError:
                continue
        for pid, p in list(self._seen.items()):
            with contextlib.suppress(psutil.Error):
                if p.is_running():  # also checks the pid was not reused
                    found.add(pid)
        alive = set()
        for pid in found:
            # our own children linger as zombies until waited for: reap them
            proc = next((p for p in self._procs.values() if p.pid == pid), None)
            if proc is not None and proc.poll() is not None:
                continue
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.add(pid)
            except psutil.Error:
                continue
        return alive

    def _signal_all(self, sig: signal.Signals) -> None:
        self._remember_descendants()
        for pgid in self._leaders:
            with contextlib.suppress(OSError):
                os.killpg(pgid, sig)
        for pid in self._members():
            with contextlib.suppress(OSError):
                os.kill(pid, sig)

    def _wait_gone(self, grace: float) -> set[int]:
        deadline = time.monotonic() + grace
        while True:
            self._remember_descendants()
            left = self._members()
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.2)


def port_answers(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0
