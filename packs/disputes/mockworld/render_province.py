"""The provincial dispute platform's store: what the province gateway serves.

It holds every county case that the county's legacy sync (RPA) managed to push, with a
lag and a few gaps, the cases of other Zhejiang counties, and cases filed on 浙里办.
Quirks: pinyin field names, masked ID numbers, its own case ids, titles and summaries
cut to the platform's lengths, empty optional fields, and now and then the same case
stored twice because the legacy sync retried after a timeout.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from schemas.divisions import load as load_divisions

from ..codes import FlowAction, Level
from .answer_key import AnswerKey
from .clock import fmt
from .defects import Defect, draw
from .disputes import Dispute, Observation
from .rng import stream
from .spec import WorldSpec
from .texts import county_content, county_title

DDL = """
CREATE TABLE IF NOT EXISTS mdjf_sj (
  id TEXT PRIMARY KEY,
  sjbh TEXT, ysjbh TEXT, qxdm TEXT, xzqh TEXT,
  sjmc TEXT, sjms TEXT, sjlb TEXT, sjgm TEXT, sjrs INTEGER, sjje TEXT, fsdd TEXT,
  fssj TEXT, sbsj TEXT, slsj TEXT, bjsj TEXT, gbsj TEXT,
  zt INTEGER, cj INTEGER, sjly TEXT, dbjb TEXT, myd TEXT,
  jd REAL, wd REAL, zbx TEXT, dsr TEXT, lyxt TEXT,
  cjsj TEXT NOT NULL, zjgxsj TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_sj_zjgxsj ON mdjf_sj (zjgxsj, id);
CREATE INDEX IF NOT EXISTS ix_sj_ysjbh ON mdjf_sj (ysjbh);
CREATE TABLE IF NOT EXISTS mdjf_upload (
  upload_id INTEGER PRIMARY KEY,
  app_key TEXT NOT NULL, ysjbh TEXT NOT NULL, sj_id TEXT NOT NULL, result TEXT NOT NULL,
  payload TEXT NOT NULL, received_at TEXT NOT NULL);
"""
COLUMNS = ("id", "sjbh", "ysjbh", "qxdm", "xzqh", "sjmc", "sjms", "sjlb", "sjgm", "sjrs",
           "sjje", "fsdd", "fssj", "sbsj", "slsj", "bjsj", "gbsj", "zt", "cj", "sjly", "dbjb",
           "myd", "jd", "wd", "zbx", "dsr", "lyxt", "cjsj", "zjgxsj")
TITLE_MAX, SUMMARY_MAX = 30, 120
KINDS = (Defect.UNKNOWN_CODE, Defect.MISSING_REQUIRED, Defect.DATE_ORDER, Defect.IMPOSSIBLE_DATE)
JIASHAN_SYSTEM = "嘉善县矛盾化解受办一体化系统"
_STAGE_STATUS = {"filed": (110, 50), "assigned": (140, 30), "created": (120, 30),
                 "accepted": (120, 30), "resolved": (800, None), "验证不通过": (900, None),
                 "验证通过": (1000, None), "closed": (1100, None), "retrydup": (120, 30),
                 "rereg:created": (120, 30), "rereg:merged": (1100, 30)}


def mask_id(number: str) -> str:
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


@dataclass(slots=True)
class RecordState:
    id: str
    sjbh: str
    dispute_id: str
    kind: str  # main | retrydup | rereg
    created_at: datetime
    status: int
    level: int
    defect: Defect | None
    defect_field: str = ""
    written_at: datetime | None = None


class ProvinceRenderer:
    source = "province"

    def __init__(self, path: Path, spec: WorldSpec, key: AnswerKey) -> None:
        self.path = path
        self.spec = spec
        self.key = key
        self.rate = spec.defect_rate_for("province")
        self.counties = load_divisions().counties
        self.records: dict[str, RecordState] = {}
        self._seq = 0
        self._sjbh_seq: dict[str, int] = {}
        self._pending: list[tuple] = []

    def observe(self, o: Observation) -> None:
        d = o.dispute
        kind = ("retrydup" if o.stage == "retrydup"
                else "rereg" if o.stage.startswith("rereg") else "main")
        key = d.id if kind == "main" else f"{d.id}#{kind}"
        state = self.records.get(key)
        status, level = _STAGE_STATUS.get(o.stage, (None, None))
        if o.stage == "created" and d.path == "other-county":
            status = 110
        if state is None:
            self._seq += 1
            pid = f"ZJMD{o.at:%Y%m%d}{self._seq:08d}"
            day_county = f"{o.at:%y%m%d}{d.county}"
            n = self._sjbh_seq[day_county] = self._sjbh_seq.get(day_county, 0) + 1
            defect = draw(self.spec.seed, self.rate, KINDS, "province", pid)
            state = RecordState(pid, f"{day_county}{n:04d}", d.id, kind, o.at, status or 120,
                                level or int(d.level_at(o.at)), defect)
            self.records[key] = state
            if kind == "main":
                d.ids["province"] = pid
        if status is not None:
            state.status = status
        if level is not None:
            state.level = level
        elif o.stage == "resolved":
            state.level = int(d.final_level if d.final_level >= Level.TOWN else Level.TOWN)
        row = self._row(state, d, o.at)
        if state.defect:
            state.defect_field = self._inject(row, state, d)
        self._pending.append(tuple(row[c] for c in COLUMNS))
        state.written_at = o.at

    def _row(self, s: RecordState, d: Dispute, at: datetime) -> dict:
        r = stream(self.spec.seed, "province-record", s.id)
        a, b = d.parties[0].name, d.parties[-1].name
        corrected = d.corrected_at is None or at >= d.corrected_at + d.sync_lag
        amount = d.amount
        if amount and not corrected and d.path != "other-county":
            amount = f"{float(amount) * 10:.2f}"
        accept = next((x.at for x in d.steps if x.action == FlowAction.ACCEPT
                       and x.level >= Level.TOWN and x.at <= at), None)
        if d.path != "other-county":
            accept = d.step_at(FlowAction.ACCEPT, Level.COUNTY)
            accept = accept if accept and accept <= at else None
        # the latest resolution the platform has heard of (a merged re-registration was
        # closed, never resolved)
        resolved = None
        if s.status >= 800 and s.kind != "rereg":
            resolved = max((x.at for x in d.steps if x.action == FlowAction.RESOLVE
                            and x.at + d.sync_lag <= at), default=None)
        closed = d.closed_at if s.status == 1100 and s.kind != "rereg" else None
        if s.kind == "rereg" and s.status == 1100:
            closed = d.rereg_merged_at
        supervised = any(x.action == FlowAction.SUPERVISE and x.at <= at for x in d.steps)
        parties = []
        for i, p in enumerate(d.parties):
            if p.person:
                phone = p.person.phone
                if i == 0 and not corrected and d.path != "other-county":
                    phone = phone[:5] + phone[6] + phone[5] + phone[7:]
                parties.append({"dsrlx": p.role.value, "xm": p.person.name,
                                "xb": "1" if p.person.male else "2",
                                "sfzh": mask_id(p.person.id_number), "sjh": phone})
            else:
                org = p.org
                assert org is not None
                parties.append({"dsrlx": p.role.value, "xm": org.name,
                                "tyshxydm": org.credit_code})
        if d.path == "other-county":
            # that county's own case number: yyMMdd + county code + 4 digits, like Jiashan's
            ysjbh = f"{d.occurred_at:%y%m%d}{d.county}{r.randrange(1, 10000):04d}"
            system = f"{self.counties[d.county].name}矛调系统"
        elif s.kind == "main" and d.path == "province-direct" and not d.ids.get("county"):
            ysjbh, system = None, "浙里办"
        else:
            ysjbh = d.ids.get("county") if r.random() < 0.9 else None
            system = JIASHAN_SYSTEM
        xzqh = d.village if r.random() < 0.9 else d.town
        return {
            "id": s.id, "sjbh": s.sjbh, "ysjbh": ysjbh, "qxdm": d.county, "xzqh": xzqh,
            "sjmc": county_title(a, b, d.cause)[:TITLE_MAX],
            "sjms": county_content(d.address, a, b, d.cause, d.people, amount)[:SUMMARY_MAX],
            "sjlb": d.category, "sjgm": "群体" if d.is_group else "个体", "sjrs": d.people,
            "sjje": amount or "", "fsdd": "" if r.random() < 0.05 else d.address,
            "fssj": fmt(d.occurred_at), "sbsj": fmt(d.reported_at), "slsj": fmt(accept),
            "bjsj": fmt(resolved), "gbsj": fmt(closed), "zt": s.status, "cj": s.level,
            "sjly": d.channel.value, "dbjb": "黄牌" if supervised else "普通",
            "myd": d.satisfaction.value if closed else "",
            "jd": d.lon, "wd": d.lat, "zbx": "CGCS2000",
            "dsr": json.dumps(parties, ensure_ascii=False, separators=(",", ":")),
            "lyxt": system, "cjsj": fmt(s.created_at), "zjgxsj": fmt(at),
        }

    def _inject(self, row: dict, s: RecordState, d: Dispute) -> str:
        r = stream(self.spec.seed, "province-defect", s.id)
        kind = s.defect
        if kind == Defect.UNKNOWN_CODE:
            row["sjlb"] = r.choice(("00", "30", "88"))
            return "sjlb"
        if kind == Defect.MISSING_REQUIRED:
            field_ = r.choice(("fssj", "xzqh", "sjlb"))
            row[field_] = ""
            return field_
        if kind == Defect.DATE_ORDER:  # reported before it happened
            row["sbsj"] = fmt(d.occurred_at - timedelta(days=r.randint(3, 20)))
            return "sbsj"
        row["fssj"] = f"{d.occurred_at.year}-11-31 {r.randint(8, 20):02d}:00:00"
        return "fssj"

    def end_day(self, day: int, write: bool) -> None:
        pending, self._pending = self._pending, []
        if not write or not pending:
            return
        con = connect_store(self.path)
        cols = ", ".join(COLUMNS)
        sets = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
        with con:
            con.executemany(
                f"INSERT INTO mdjf_sj ({cols}) VALUES ({', '.join('?' * len(COLUMNS))}) "  # noqa: S608
                f"ON CONFLICT (id) DO UPDATE SET {sets}", pending)
        con.close()

    def finish(self) -> None:
        for s in sorted(self.records.values(), key=lambda s: s.id):
            if s.written_at is None:
                continue
            defect = s.defect
            if defect is None and s.kind != "main":
                defect = Defect.NEAR_DUPLICATE
            field_ = "*" if defect == Defect.NEAR_DUPLICATE else s.defect_field
            self.key.record("province", "mdjf_sj", "", s.id, s.dispute_id, s.written_at,
                            defect, field_)


def connect_store(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(DDL)
    return con
