"""The charging pack's departments' series through the whole engine with `silobridge run
--domain charging`, over three cycles on the shared charging world: the first day's
traffic and parking files; the second day's, with the transport department restating a
count of the first; then nothing new. Checked against the world's answer key; the pack's
pictures page in a browser, offline."""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest

from bench.differential.checksums import VARYING, checksums
from packs.charging.mockworld.operators import PROFILES
from schemas.pii import find_numbers

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
ROOT = Path(__file__).resolve().parents[3]
CHINA = ZoneInfo("Asia/Shanghai")
DAYS = ("20260901", "20260902")
GRID_EXPORT = "嘉定供电台区负荷_{day}.xlsx"
#: where the operators' window walks stop in the first and later cycles: the first four
#: hours of statuses (each a page per operator and 5 minutes), every order of each day
STATUS_UNTIL = ("2026-09-01 02:00:00", "2026-09-01 04:00:00")
ORDERS_UNTIL = ("2026-09-02 00:00:00", "2026-09-03 00:00:00")
#: the departments' file sources (the operators' sources are tested in
#: test_charging_operators.py)
FILES = ("traffic", "parking", "grid_loads")


def _run(home: Path, platforms: dict[str, str], *, as_json: bool = True) -> Any:
    env = os.environ | platforms | {"SILOBRIDGE_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run([SILOBRIDGE, "run", "--domain", "charging",
                           *(["--json"] if as_json else [])],
                          env=env, capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout) if as_json else proc.stdout


def _rows(home: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _deliver(world: Path, home: Path, day: str) -> None:
    """The day's files as each department drops them in the home's world."""
    target = home / "world" / "charging"
    for folder, name in (("traffic", f"{day}.csv"), ("parking", f"{day}.jsonl"),
                         ("grid", GRID_EXPORT.format(day=day))):
        (target / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(world / folder / name, target / folder / name)


def _restate_transformer_day(home: Path) -> tuple[str, float]:
    """The grid office re-exports the first day with one transformer's 10th point
    corrected (openpyxl writes the file anew, as the office's tool would)."""
    path = home / "world" / "charging" / "grid" / GRID_EXPORT.format(day=DAYS[0])
    book = openpyxl.load_workbook(path)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    row = sheet[2]
    cell = row[header.index("P010")]
    cell.value = round(float(cell.value) + 11.5, 2)
    book.save(path)
    return str(row[0].value), cell.value


def _restate_first_count(home: Path) -> tuple[str, str, int]:
    """The transport department corrects one count of the first day's file (GBK, as sent)."""
    path = home / "world" / "charging" / "traffic" / f"{DAYS[0]}.csv"
    lines = path.read_bytes().decode("gbk").split("\r\n")
    segment, at, vehicles, *rest = lines[1].split(",")
    corrected = int(vehicles) + 7
    lines[1] = ",".join([segment, at, str(corrected), *rest])
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    return segment, at, corrected


def _defects(world: Path, source: str, kind: str) -> set[str]:
    with (world / "answer_key" / "defects.csv").open(encoding="utf-8") as f:
        return {r["record"] for r in csv.DictReader(f)
                if r["source"] == source and r["kind"] == kind}


@pytest.fixture(scope="module")
def cycles(charging_world: Path, deliver_lists: Callable[[Path], None],
           tmp_path_factory: pytest.TempPathFactory,
           operator_platforms: Any) -> dict[str, Any]:
    """Three runs; the operators' platforms serve throughout: their station lists, and
    their statuses and orders walking up to STATUS_UNTIL / ORDERS_UNTIL of each cycle
    (statuses: the first hours only, to keep the run short)."""
    home = tmp_path_factory.mktemp("charging-run") / "home"
    # the stations' sources read their lists too (test_charging_stations checks them)
    deliver_lists(home)
    _deliver(charging_world, home, DAYS[0])
    first, later = (operator_platforms.settings("stations", status=STATUS_UNTIL[i],
                                                orders=ORDERS_UNTIL[i]) for i in (0, 1))
    state: dict[str, Any] = {"home": home, "first": _run(home, first)}
    _deliver(charging_world, home, DAYS[1])
    state["restated"] = _restate_first_count(home)
    state["restated_load"] = _restate_transformer_day(home)
    state["second"] = _run(home, later)
    state["after_second"] = checksums(home / "warehouse.duckdb", ("core", "marts"),
                                      ignore=VARYING)
    state["third"] = _run(home, later, as_json=False)
    state["after_third"] = checksums(home / "warehouse.duckdb", ("core", "marts"),
                                     ignore=VARYING)
    return state


def test_every_row_is_loaded_quarantined_or_a_counted_duplicate(cycles: dict) -> None:
    rows = _rows(cycles["home"], """
        SELECT a.batch_id, a."read", a.loaded, a.quarantined, a.duplicates,
               (SELECT count(*) FROM raw.records r WHERE r.batch_id = a.batch_id)
        FROM ops.accounting a WHERE a.kind = 'ingest' AND list_contains(?, a.source)""",
                 [list(FILES)])
    assert len(rows) == 8  # two days of three sources, the restated count and load files
    for _batch, read, loaded, quarantined, duplicates, raw in rows:
        assert read == raw == loaded + quarantined + duplicates


def test_impossible_occupancy_is_quarantined_exactly(cycles: dict,
                                                     charging_world: Path) -> None:
    """Every snapshot with more free berths than berths is quarantined with its reason,
    and no other parking record is: recall 1.0, no clean row lost."""
    got = _rows(cycles["home"], """
        SELECT r.record->>'parkCode' || '@' || substr(r.record->>'collectTime', 12, 5),
               list_sort(list_transform(q.reasons, lambda x: x.field || ':' || x.reason))
        FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
        WHERE q.source = 'parking'""")
    assert {key for key, _ in got} == _defects(charging_world, "parking", "free_over_total")
    assert {tuple(reasons) for _, reasons in got} == {("free_berths:out_of_range",)}


def test_series_merge_as_facts_and_a_restated_count_replaces_the_old(cycles: dict) -> None:
    home = cycles["home"]
    segment, at, corrected = cycles["restated"]
    assert _rows(home, f"""
        SELECT vehicles FROM core.segment_flows
        WHERE segment_id = '{segment}'
          AND starts_at = TIMESTAMPTZ '{at}:00+08:00'""") == [(corrected,)]
    merged = cycles["second"]["facts"]["charging"]["tables"]["segment_flows"]
    assert merged["replaced"] == 1
    # the rest of the restated file repeats rows already read: counted duplicates, so the
    # second run loads the new day and the one corrected count
    traffic = cycles["second"]["sources"]["traffic"]
    assert traffic["duplicates"] == cycles["first"]["sources"]["traffic"]["loaded"] - 1
    assert merged["inserted"] + merged["replaced"] == traffic["loaded"]
    # one row per segment and 5 minutes, one per car park and 15 minutes
    assert _rows(home, """SELECT count(*) = count(DISTINCT (segment_id, starts_at))
                          FROM core.segment_flows""") == [(True,)]
    assert _rows(home, """SELECT count(*) = count(DISTINCT (car_park_id, reported_at))
                          FROM core.car_park_occupancy""") == [(True,)]


def test_a_restated_transformer_day_replaces_the_old_values(cycles: dict,
                                                           charging_world: Path) -> None:
    home = cycles["home"]
    transformer, corrected = cycles["restated_load"]
    assert _rows(home, f"""
        SELECT load_kw FROM core.transformer_loads
        WHERE transformer_id = '{transformer}'
          AND starts_at = TIMESTAMPTZ '2026-09-01 02:15:00+08:00'""") == [(corrected,)]
    merged = cycles["second"]["facts"]["charging"]["tables"]["transformer_loads"]
    assert merged["replaced"] == 1
    # the rest of the day, sent again, is unchanged (its bad points refused again)
    (kept,) = _rows(home, f"""
        SELECT count(*) FROM core.transformer_loads WHERE transformer_id = '{transformer}'
        AND starts_at < TIMESTAMPTZ '2026-09-02 00:00:00+08:00'""")[0]
    assert merged["unchanged"] == kept - 1
    assert merged["read"] == merged["inserted"] + merged["replaced"] + merged["unchanged"] \
        + sum(merged["rejected"].values())
    # one row per transformer and quarter hour
    assert _rows(home, """SELECT count(*) = count(DISTINCT (transformer_id, starts_at))
                          FROM core.transformer_loads""") == [(True,)]


def test_bad_load_points_are_refused_alone_and_the_rest_of_the_day_merges(
        cycles: dict, charging_world: Path) -> None:
    """Each blank, negative or mis-scaled point the world injected is refused by itself,
    with the pack's reason (quarantine.transformer_loads); every other point of every
    transformer-day is in core: nothing clean is lost."""
    home = cycles["home"]
    refused = {(f"{t}@P{n:03d}", reason) for t, n, reason in _rows(home, """
        SELECT transformer_id,
               1 + (epoch(starts_at) - epoch(time_bucket(INTERVAL 1 DAY, starts_at,
                                                         'Asia/Shanghai')))::BIGINT // 900,
               reason
        FROM quarantine.transformer_loads""")}
    truth = {(p, reason) for kind, reason in (("blank_point", "blank_point"),
                                              ("negative_load", "negative_load"),
                                              ("load_spike", "spike"))
             for p in _defects(charging_world, "grid", kind)}
    assert refused == truth  # every bad point, and no clean one
    # every point of every transformer-day is in core or refused
    assert _rows(home, """
        SELECT (SELECT count(*) FROM core.transformer_loads)
             + (SELECT count(DISTINCT (transformer_id, starts_at))
                FROM quarantine.transformer_loads)""")[0][0] % 96 == 0


def test_the_marts_add_up_the_core_series(cycles: dict) -> None:
    home = cycles["home"]
    assert _rows(home, "SELECT sum(vehicles) FROM marts.segment_hours") == \
        _rows(home, "SELECT sum(vehicles) FROM core.segment_flows")
    assert _rows(home, "SELECT sum(reports) FROM marts.car_park_hours") == \
        _rows(home, "SELECT count(*) FROM core.car_park_occupancy")
    assert _rows(home, """SELECT count(*) FROM marts.car_park_hours
                          WHERE occupancy NOT BETWEEN 0 AND 1""") == [(0,)]


def test_the_audits_find_the_frozen_feed_and_the_counter_resets(cycles: dict,
                                                                charging_world: Path) -> None:
    """The world froze one car park's feed for a stretch and reset some detectors'
    counters; the pack's audits report them, as warnings (the data is kept)."""
    failed = {f["check"]: f for f in cycles["second"]["quality"]["failed"]}
    resets = _defects(charging_world, "traffic", "counter_reset")
    assert resets, "the shared world resets some counters"
    found = _rows(cycles["home"], """
        SELECT segment_id || '@' || strftime(timezone('Asia/Shanghai', starts_at), '%H:%M')
        FROM (SELECT segment_id, starts_at, running_total,
                     lag(running_total) OVER (PARTITION BY segment_id ORDER BY starts_at) AS before
              FROM core.segment_flows) WHERE running_total < before""")
    assert {f for (f,) in found} == resets
    assert failed["counter_resets"]["severity"] == "warning"
    assert failed["frozen_car_park_feeds"]["severity"] == "warning"


def test_the_snapshot_publishes_the_pack(cycles: dict) -> None:
    tables = cycles["second"]["snapshot"]["tables"]
    assert set(tables) >= {"core.segment_flows", "core.car_park_occupancy",
                           "marts.segment_hours", "marts.car_park_hours"}
    assert tables["core.segment_flows"] == _rows(
        cycles["home"], "SELECT count(*) FROM core.segment_flows")[0][0]


def test_a_run_with_nothing_new_changes_nothing(cycles: dict) -> None:
    assert cycles["after_third"] == cycles["after_second"]
    assert "facts charging.segment_flows: 0 staged rows read" in cycles["third"]


# -- The pictures page (quality.picture_page, packs/charging/pictures.toml) ---------------
# read as a person reads it: in Debian's Chromium (Playwright) from a real HTTP server on
# 127.0.0.1, every request to any other host aborted and recorded. Every picture is an
# inline SVG with marks under a Chinese title; the load curves are those of the latest
# day's five most loaded transformers; nothing on the page is a personal number.

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PICTURES = ["transformer_day", "segment_speeds", "car_park_occupancy"]
HAN = re.compile(r"[\u4e00-\u9fff]")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _page(cycles: dict) -> Path:
    return cycles["home"] / "reports" / "pictures" / "charging" / "index.html"


@pytest.fixture(scope="module")
def served(cycles: dict) -> Iterator[str]:
    """The home's reports over HTTP on 127.0.0.1 (a free port), after the third run."""
    handler = functools.partial(_Quiet, directory=str(cycles["home"] / "reports"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Offline:
    """What the page asked for beyond 127.0.0.1 (aborted), or that failed."""

    blocked: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def _route(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "about") or url.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


SEEN = """() => ({
  lang: document.documentElement.lang,
  clock: document.querySelector('#clock').textContent,
  pictures: [...document.querySelectorAll('figure.picture')].map(f => ({
    id: f.id.replace('picture-', ''),
    rows: Number(f.dataset.rows),
    title: f.querySelector('h2').firstChild.textContent.trim(),
    english: f.querySelector('h2 .en').textContent.trim(),
    svgs: f.querySelectorAll('.drawing > svg').length,
    marks: Object.fromEntries([...f.querySelectorAll('svg g.role-mark')].map(g => [
      g.getAttribute('class').split(' ')[0], 0]).map(([k]) => [k,
      [...f.querySelectorAll(`svg g.role-mark.${k} > *`)].length])),
    width: f.querySelector('svg') ? f.querySelector('svg').getBoundingClientRect().width : 0,
    text: f.querySelector('svg') ? f.querySelector('svg').textContent : '',
  })),
  text: document.body.innerText,
})"""


@pytest.fixture(scope="module")
def seen(served: str) -> tuple[dict[str, Any], str, Offline]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: the browser tests never download one")
    from playwright.sync_api import sync_playwright

    offline = Offline()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", offline._route)
            context.on("response", lambda r: r.status >= 400 and offline.missing.append(
                f"{r.status} {r.url}"))
            page = context.new_page()
            page.on("pageerror", lambda e: offline.errors.append(str(e)))
            page.goto(f"{served}/pictures/charging/index.html", wait_until="networkidle")
            found = page.evaluate(SEEN)
            html = page.content()
        finally:
            browser.close()
    return found, html, offline


def test_the_run_says_where_the_pictures_page_is(cycles: dict) -> None:
    printed = "".join(cycles["third"].split())  # rich may wrap it
    assert f"picturesofcharging:{_page(cycles)}" in printed
    assert cycles["second"]["quality"]["reports"]["pictures"] == {
        "charging": str(_page(cycles))}


@pytest.mark.slow
def test_every_picture_is_an_inline_drawing_under_a_chinese_title_offline(
        seen: tuple[dict[str, Any], str, Offline]) -> None:
    found, html, offline = seen
    assert (offline.blocked, offline.missing, offline.errors) == ([], [], [])
    assert found["lang"] == "zh-CN"
    assert [p["id"] for p in found["pictures"]] == PICTURES
    for picture in found["pictures"]:
        assert HAN.search(picture["title"]) and not HAN.search(picture["english"]), picture
        assert picture["svgs"] == 1 and picture["rows"] > 0, picture["id"]
        assert picture["width"] > 300, picture["id"]
    marks = {p["id"]: (p["marks"], p["rows"]) for p in found["pictures"]}
    # a cell per segment or car park and hour; per transformer a line, its area, its rule
    for heat_map in ("segment_speeds", "car_park_occupancy"):
        assert marks[heat_map][0] == {"mark-rect": marks[heat_map][1]}, heat_map
    assert marks["transformer_day"][0] == {"mark-area": 5, "mark-line": 5, "mark-rule": 5}
    assert re.search(r"数据截至 2026-09-0\d \d\d:\d\d", found["clock"])
    assert "<script" not in html and not re.search(r"(?:href|src)=\"https?:", html)


@pytest.mark.slow
def test_nothing_on_the_pictures_page_is_a_personal_number(
        seen: tuple[dict[str, Any], str, Offline], cycles: dict) -> None:
    found, html, _ = seen
    assert find_numbers(html) == []
    assert find_numbers(found["text"]) == []
    assert find_numbers(_page(cycles).read_text(encoding="utf-8")) == []


@pytest.mark.slow
def test_the_load_curves_are_the_latest_days_five_most_loaded_transformers(
        seen: tuple[dict[str, Any], str, Offline], cycles: dict) -> None:
    con = duckdb.connect(str(cycles["home"] / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        day, = con.execute("SELECT max(day) FROM core.transformer_days").fetchone() or ()
        loads = con.execute("""
            SELECT l.transformer_id, l.load_kw, d.rated_kva FROM core.transformer_loads l
            JOIN core.transformer_days d USING (transformer_id)
            WHERE d.day = $day AND l.starts_at >= $day
              AND l.starts_at < $day + INTERVAL 1 DAY""", {"day": day}).fetchall()
    finally:
        con.close()
    peaks: dict[str, float] = {}
    for transformer, load, rated in loads:
        peaks[transformer] = max(peaks.get(transformer, 0.0), load / rated)
    top = sorted(peaks, key=lambda t: (-peaks[t], t))[:5]
    curves = next(p for p in seen[0]["pictures"] if p["id"] == "transformer_day")
    drawn = set(re.findall(r"TQ\d{11}", curves["text"]))
    assert drawn == set(top)
    assert curves["rows"] == sum(1 for t, _, _ in loads if t in top)  # that day's only
    assert 5 * 90 <= curves["rows"] <= 5 * 96


# --- the operators' feeds (互联互通) -------------------------------------------------------
OPERATOR_SOURCES = tuple(f"{o.prefix.lower()}_{kind}" for o in PROFILES
                         for kind in ("status", "orders"))
#: the order defects the pipeline refuses (conform, or the facts merge), with the field
#: and reason; energy_over_rated and unknown_connector need the operators' station
#: listings (the connectors and their rated power) and are not judged here
ORDER_REFUSALS = {"bad_vin_check_digit": ("car_vin", "bad_check_digit"),
                  "details_sum_mismatch": ("energy_kwh", "bad_value"),
                  "end_before_start": ("started_on", "ends_before_start")}
VIN = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
PLATE = re.compile(r"[一-龥][A-Z][A-Z0-9]{5,6}")


def _answer_key(world: Path) -> list[dict[str, str]]:
    with (world / "answer_key" / "defects.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _served_status(record: str) -> bool:
    """Whether an answer-key status record (`CID@HH:MM`) lies in the served window."""
    return record.rsplit("@", 1)[1] < STATUS_UNTIL[1][11:16]


def _orders(world: Path) -> list[dict[str, Any]]:
    return [r for path in sorted((world / "operators").glob("*/orders/*.parquet"))
            for r in pq.read_table(path).to_pylist()]


def test_each_operator_batch_accounts_for_every_row(cycles: dict, charging_world: Path,
                                                    operator_platforms: Any) -> None:
    rows = _rows(cycles["home"], """
        SELECT a.source, a."read", a.loaded, a.quarantined, a.duplicates,
               (SELECT count(*) FROM raw.records r WHERE r.batch_id = a.batch_id)
        FROM ops.accounting a WHERE a.kind = 'ingest' AND list_contains(?, a.source)""",
                 [list(OPERATOR_SOURCES)])
    assert {r[0] for r in rows} == set(OPERATOR_SOURCES)
    for _source, read, loaded, quarantined, duplicates, raw in rows:
        assert read == raw == loaded + quarantined + duplicates
    # every status of the served hours and every order of the two days was read once
    served = sum(len(s.statuses_between(datetime(2026, 9, 1), datetime(2026, 9, 1, 4)))
                 for s in operator_platforms.servers.values())
    assert sum(r[1] for r in rows if r[0].endswith("_status")) == served
    assert sum(r[1] for r in rows if r[0].endswith("_orders")) == len(_orders(charging_world))


def test_status_and_order_defects_are_quarantined(cycles: dict, charging_world: Path) -> None:
    """Recall of the answer key's status and order defects the pipeline can judge alone
    (≥ 0.99 each), and at most 0.1 % of the clean rows quarantined."""
    home = cycles["home"]
    key = _answer_key(charging_world)
    # statuses: an unknown code is quarantined at conforming (quarantine.records)
    truth = {r["record"] for r in key if r["kind"] == "unknown_status"
             and "2026-09-01" in r["origin"] and _served_status(r["record"])}
    got = dict(_rows(home, """
        SELECT coalesce(r.record->>'ConnectorID', r.record->>'connectorID') || '@'
                   || substr(r.record->>'StatusTime', 12, 5),
               list_sort(list_transform(q.reasons, lambda x: x.field || ':' || x.reason))
        FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
        WHERE q.source LIKE '%_status'"""))
    assert truth and len(truth & set(got)) / len(truth) >= 0.99
    assert {tuple(v) for k, v in got.items() if k in truth} == {("status:unknown_code",)}
    (statuses,) = _rows(home, "SELECT count(*) FROM core.connector_statuses")[0]
    assert len(set(got) - truth) <= 0.001 * statuses
    # orders: at conforming (quarantine.records) or at the merge (quarantine.charge_sessions)
    refused = {seq: [f"{field}:{reason}" for field, reason in reasons] for seq, reasons in
               _rows(home, """
        SELECT r.record->>'StartChargeSeq',
               list_transform(q.reasons, lambda x: [x.field, x.reason])
        FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
        WHERE q.source LIKE '%_orders'""")}
    refused |= {seq: [f"started_on:{reason}"] for seq, reason in _rows(home, """
        SELECT order_seq, reason FROM quarantine.charge_sessions""")}
    for kind, (column, reason) in ORDER_REFUSALS.items():
        wanted = {r["record"] for r in key if r["kind"] == kind}
        assert wanted, kind
        found = {s for s in wanted if f"{column}:{reason}" in refused.get(s, [])}
        assert len(found) / len(wanted) >= 0.99, (kind, wanted - found)
    defective = {r["record"] for r in key if r["kind"] in ORDER_REFUSALS
                 or r["kind"] in ("energy_over_rated", "unknown_connector")}
    assert len(set(refused) - defective) <= 0.001 * len(_orders(charging_world))


def test_each_operators_habits_are_read_from_its_mapping(cycles: dict,
                                                        charging_world: Path) -> None:
    """快电's UTC times without zone are the same instants the others' local times are;
    星桩's `ServiceMoney` and `connectorID` are read like the protocol's spellings."""
    home = cycles["home"]
    stored = {r["StartChargeSeq"]: r for r in _orders(charging_world)}
    for seq, started, ended, service, connector in _rows(home, """
            SELECT order_seq, strftime(timezone('Asia/Shanghai', started_on), '%Y-%m-%d %H:%M:%S'),
                   strftime(timezone('Asia/Shanghai', ended_on), '%Y-%m-%d %H:%M:%S'),
                   service_money, connector_id
            FROM core.charge_sessions"""):
        order = stored[seq]
        assert (started, ended) == (order["StartTime"], order["EndTime"])
        assert float(service) == order["TotalSeviceMoney"]
        assert connector == order["ConnectorID"]
    assert _rows(home, """SELECT count(DISTINCT operator_code) FROM core.charge_sessions
                          WHERE service_money IS NOT NULL""") == [(len(PROFILES),)]
    assert _rows(home, """SELECT count(DISTINCT operator_code) FROM core.connector_statuses
                          """) == [(len(PROFILES),)]
    # the periods add up to the order (a mismatch was refused)
    assert _rows(home, """
        SELECT count(*) FROM staging.charge_sessions s JOIN (
            SELECT batch_id, row_no, sum(energy_kwh) AS kwh FROM staging.charge_periods
            GROUP BY ALL) p USING (batch_id, row_no)
        WHERE abs(p.kwh - s.energy_kwh) > 0.05""") == [(0,)]
    # the status codes reach ref.codes with their Chinese and OCPI labels
    assert ("3", "占用(充电中)", "CHARGING") in _rows(home, """
        SELECT code, label_zh, label_en FROM ref.codes WHERE list_name = 'connector_state'""")


def test_no_vin_or_plate_in_clear_where_people_look(cycles: dict,
                                                   charging_world: Path) -> None:
    """Staging, core, marts, quarantine and the ledgers, the snapshot (DuckDB and
    Parquet), the reports and the runs' output hold no VIN and no plate in clear."""
    orders = _orders(charging_world)
    clear = {o["CarVin"] for o in orders if o["CarVin"]} | \
            {o["PlateNumber"] for o in orders if o["PlateNumber"]}
    assert len(clear) > 100

    def leaks(text: str) -> set[str]:
        return {m for p in (VIN, PLATE) for m in p.findall(text)} & clear

    home = cycles["home"]
    found: set[str] = set()
    for db in (home / "warehouse.duckdb", home / "published" / "silobridge.duckdb"):
        con = duckdb.connect(str(db), read_only=True)
        try:
            columns = con.execute("""
                SELECT table_schema, table_name, column_name FROM information_schema.columns
                WHERE table_schema <> 'raw' AND data_type = 'VARCHAR'""").fetchall()
            for schema, table, column in columns:
                values = con.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}" '
                                     f'WHERE "{column}" IS NOT NULL').fetchall()
                found |= leaks("\n".join(v for (v,) in values))
        finally:
            con.close()
    for path in (home / "published").rglob("*.parquet"):
        found |= leaks(pq.read_table(path).to_pandas().to_csv())
    for path in (home / "reports").rglob("*"):
        if path.is_file() and path.suffix in (".html", ".json", ".txt", ".csv"):
            found |= leaks(path.read_text(encoding="utf-8", errors="replace"))
    found |= leaks(json.dumps([cycles["first"], cycles["second"]], ensure_ascii=False)
                   + cycles["third"])
    assert not found
    # the masked forms are there instead, and the link keys count vehicles
    assert _rows(home, """SELECT count(*) FILTER (WHERE car_vin_masked LIKE '%*******%'),
                                 count(car_vin_link) FROM core.charge_sessions""")[0][0] > 0


def test_the_operator_marts(cycles: dict) -> None:
    home = cycles["home"]
    assert _rows(home, "SELECT sum(slots) FROM marts.connector_hours") == \
        _rows(home, "SELECT count(*) FROM core.connector_statuses")
    assert _rows(home, "SELECT sum(slots), sum(charging_slots) FROM marts.operator_hours") == \
        _rows(home, """SELECT count(*), count(*) FILTER (WHERE status = 3)
                       FROM core.connector_statuses""")
    assert _rows(home, "SELECT sum(sessions) FROM marts.session_hours") == \
        _rows(home, "SELECT count(*) FROM core.charge_sessions")
    freshness = _rows(home, """SELECT operator_code, connectors, reporting, share_silent,
                                      strftime(timezone('Asia/Shanghai', as_of), '%H:%M')
                               FROM marts.status_freshness""")
    assert len(freshness) == len(PROFILES)
    for _op, connectors, reporting, silent, as_of in freshness:
        assert as_of == "03:55"  # the data clock: the newest slot served
        assert 0 <= reporting <= connectors and silent == round(1 - reporting / connectors, 4)
    assert _rows(home, """SELECT count(*) FROM marts.connector_hours
                          WHERE utilization NOT BETWEEN 0 AND 1""") == [(0,)]
    tables = cycles["second"]["snapshot"]["tables"]
    assert {"core.connector_statuses", "core.charge_sessions", "marts.status_freshness",
            "marts.connector_hours", "marts.operator_hours", "marts.session_hours"} <= set(tables)


def test_orders_the_statuses_never_show_are_reported(cycles: dict,
                                                     charging_world: Path) -> None:
    """The staleness audit (a warning) names orders during which the operator never showed
    the connector charging: each one a stretch the answer key froze, or a connector the
    operator reported offline or faulted throughout (no other)."""
    home = cycles["home"]
    sql = (ROOT / "packs" / "charging" / "audits" / "orders_never_shown_charging.sql"
           ).read_text(encoding="utf-8").split("*/", 1)[1]
    found = _rows(home, f"SELECT operator_code, connector_id, started_on, ended_on FROM ({sql})")
    frozen = [(r["record"].split("@")[0], r["record"].split("@")[1].split("-"))
              for r in _answer_key(charging_world) if r["kind"] == "stale_status"
              and "2026-09-01" in r["origin"]]
    for operator, connector, started, ended in found:
        local = (timezone_hhmm(started), timezone_hhmm(ended))
        stale = any(c == connector and a <= local[1] and local[0] <= b for c, (a, b) in frozen)
        shown = {s for (s,) in _rows(home, """
            SELECT DISTINCT status FROM core.connector_statuses
            WHERE operator_code = ? AND connector_id = ? AND status_at >= ?
              AND status_at + INTERVAL 5 MINUTE <= ?""", [operator, connector, started, ended])}
        assert stale or shown <= {0, 255}, (connector, local, shown)
    failed = {f["check"]: f for f in cycles["second"]["quality"]["failed"]}
    if found:
        assert failed["orders_never_shown_charging"]["severity"] == "warning"


def timezone_hhmm(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%H:%M")
