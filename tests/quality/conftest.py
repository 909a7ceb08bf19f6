"""One real pipeline run shared by the quality tests (Great Expectations alone takes seconds
to import): a small world whose grid feed has 30% defects, ingested from all four
sources, gated, merged and checked, with logging, stderr and every network connection
the process opens watched throughout."""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import sys
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import generate
from quality.batch import GateDecision
from quality.pipeline import after_merge, gate_source
from silobridge.contracts import all_mappings
from silobridge.ingest import ingest_source
from silobridge.quality_files import of_packs, of_source
from silobridge.run import merge_step
from silobridge.settings import SOURCE_NAMES, Settings

SPEC = WorldSpec(seed=11, cases=900, days=20, defect_rate=0.05,
                 defect_overrides=(("grid", 0.3),))
SCRIPT = "<script>alert(1)</script>"
INJECTED_ID = "WGinjected0000001"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("great_expectations"):
            self.records.append(record)


class _Network:
    """Every socket connection and name lookup the process makes while `on` (an audit
    hook: it sees what any library does, GX's included, below any HTTP client)."""

    def __init__(self) -> None:
        self.on = False
        self.local: list[str] = []
        self.outside: list[str] = []
        sys.addaudithook(self._hook)  # cannot be removed: `on` scopes it to the run

    def _hook(self, event: str, args: tuple) -> None:
        if not self.on:
            return
        if event == "socket.connect" and isinstance(args[1], tuple):
            host = str(args[1][0])
        elif event == "socket.getaddrinfo":
            host = str(args[0])
        else:
            return
        (self.local if _is_local(host) else self.outside).append(f"{event} {host}")


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class QualityRun:
    home: Path
    settings: Settings
    decisions: dict[str, GateDecision]
    merge_run: str
    after: dict
    injected: dict
    gx_records: list[logging.LogRecord] = field(default_factory=list)
    stderr: str = ""
    network: _Network | None = None


def inject_script_record(world: Path) -> dict:
    """Append a grid report whose event type is markup (the last file is ingested last,
    so its quarantine record is the newest example of its reason)."""
    last = sorted((world / "grid").glob("*.jsonl"))[-1]
    lines = last.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    record.update(reportId=INJECTED_ID, eventType=SCRIPT, eventDesc=f"描述{SCRIPT}",
                  relatedReportId=None)
    lines.append(json.dumps(record, ensure_ascii=False))
    last.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return record


@pytest.fixture(scope="session")
def quality_run(tmp_path_factory: pytest.TempPathFactory) -> QualityRun:
    home = tmp_path_factory.mktemp("quality") / "home"
    generate(home / "world", SPEC)
    injected = inject_script_record(home / "world")
    collect, root = _Collect(), logging.getLogger()
    level = root.level
    # the root at DEBUG, as a task runner may set it: only GX's own level keeps it quiet
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    err = io.StringIO()
    network = _Network()
    network.on = True
    try:
        with redirect_stderr(err):
            gateway = ProvinceGateway(home / "world", port=0, fail_rate=0.0).start()
            try:
                settings = Settings(home=home, province={"base_url": gateway.url})
                for source in SOURCE_NAMES:
                    ingest_source(settings, source)
            finally:
                gateway.stop()
            decisions = {source: gate_source(settings, source, of_source(source))
                         for source in SOURCE_NAMES}
            merged = merge_step(settings)
            after = after_merge(settings, merged.run_id, of_packs(), all_mappings(settings))
    finally:
        network.on = False
        root.removeHandler(collect)
        root.setLevel(level)
    return QualityRun(home, settings, decisions, merged.run_id, after, injected,
                      collect.records, err.getvalue(), network)
