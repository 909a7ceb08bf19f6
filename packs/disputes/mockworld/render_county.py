"""The county's intake-and-handling system: a relational database (SQLite by default).

Cases, parties and a flow log, numeric status codes, an updated_at column that changes
with every edit, and code tables as a real system keeps them. Quirks: walk-in
re-registrations of disputes the towns already escalated (a second case for the same
dispute), and a few updates committed late with an updated_at in the past.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ..codes import FlowAction, Level, Satisfaction
from .answer_key import AnswerKey
from .clock import fmt
from .defects import Defect, break_check_char, draw
from .disputes import Dispute, Observation
from .render_township import township_case_no
from .rng import stream
from .spec import WorldSpec
from .texts import county_content, county_title

DDL = """
CREATE TABLE IF NOT EXISTS t_code (
  code_type TEXT NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL,
  PRIMARY KEY (code_type, code));
CREATE TABLE IF NOT EXISTS t_dispute_case (
  id INTEGER PRIMARY KEY,
  case_no TEXT NOT NULL UNIQUE,
  title TEXT, content TEXT,
  category_code TEXT,
  occur_time TEXT, register_time TEXT, accept_time TEXT, finish_time TEXT, close_time TEXT,
  status INTEGER NOT NULL,
  current_level INTEGER,
  town_code TEXT, village_code TEXT, address TEXT,
  longitude REAL, latitude REAL,
  source_channel INTEGER, source_ref TEXT,
  handle_org TEXT, handler TEXT,
  is_group INTEGER, people_num INTEGER, amount DECIMAL(14, 2),
  satisfaction INTEGER, major_flag INTEGER, urgent_flag INTEGER,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_case_updated_at ON t_dispute_case (updated_at);
CREATE TABLE IF NOT EXISTS t_dispute_party (
  id INTEGER PRIMARY KEY,
  case_id INTEGER NOT NULL REFERENCES t_dispute_case (id),
  role INTEGER, party_type INTEGER, name TEXT, id_type TEXT, id_no TEXT,
  gender INTEGER, phone TEXT, address TEXT);
CREATE INDEX IF NOT EXISTS ix_party_case ON t_dispute_party (case_id);
CREATE TABLE IF NOT EXISTS t_case_flow_log (
  id INTEGER PRIMARY KEY,
  case_id INTEGER NOT NULL REFERENCES t_dispute_case (id),
  action TEXT, from_level INTEGER, to_level INTEGER, org_name TEXT, operator TEXT,
  op_time TEXT, remark TEXT);
CREATE INDEX IF NOT EXISTS ix_flow_case ON t_case_flow_log (case_id);
"""

STATUS = {10: "待受理", 20: "已受理", 25: "已交办", 30: "调处中", 40: "已办结", 50: "已归档",
          60: "已合并", 90: "不予受理"}
CHANNEL = {1: "来访", 2: "热线电话(12345)", 3: "110移交", 4: "网格上报", 5: "镇街上报",
           6: "省平台交办", 9: "其他"}
SATISFACTION = {Satisfaction.NOT_RATED: 0, Satisfaction.SATISFIED: 1,
                Satisfaction.FAIRLY_SATISFIED: 2, Satisfaction.DISSATISFIED: 3}
ROLE = {"申请方": 1, "被申请方": 2, "其他": 3}
KINDS = (Defect.BAD_CHECK_DIGIT, Defect.IMPOSSIBLE_DATE, Defect.DATE_ORDER,
         Defect.UNKNOWN_CODE, Defect.MISSING_REQUIRED)
_HANDLERS = ("张卫国", "李秀英", "王建平", "陈晓燕", "周海峰", "吴丽娟")
_CASE_COLUMNS = ("id", "case_no", "title", "content", "category_code", "occur_time",
                 "register_time", "accept_time", "finish_time", "close_time", "status",
                 "current_level", "town_code", "village_code", "address", "longitude",
                 "latitude", "source_channel", "source_ref", "handle_org", "handler", "is_group",
                 "people_num", "amount", "satisfaction", "major_flag", "urgent_flag",
                 "created_at", "updated_at")


@dataclass(slots=True)
class CaseState:
    id: int
    case_no: str
    dispute_id: str
    duplicate: bool
    registered_at: datetime
    defect: Defect | None
    defect_field: str = ""
    written_at: datetime | None = None
    logged: set[int] = field(default_factory=set)
    party_ids: list[int] = field(default_factory=list)


def channel_code(d: Dispute) -> int:
    if d.path in ("grid-county", "town-county"):
        return 5
    if d.path == "province-direct":
        return 6
    return {"来访": 1, "热线电话": 2, "110移交": 3}.get(d.channel.value, 9)


class CountyRenderer:
    source = "county"

    def __init__(self, path: Path, spec: WorldSpec, key: AnswerKey) -> None:
        self.path = path
        self.spec = spec
        self.key = key
        self.rate = spec.defect_rate_for("county")
        self.cases: dict[str, CaseState] = {}
        self._seq_by_date: dict[str, int] = {}
        self._ids = {"case": 0, "party": 0, "flow": 0}
        self._pending: list[tuple[str, tuple]] = []

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # -- observing ----------------------------------------------------------------------
    def observe(self, o: Observation) -> None:
        d = o.dispute
        duplicate = o.stage.startswith("rereg")
        key = d.id + ("#rereg" if duplicate else "")
        state = self.cases.get(key)
        if state is None:
            date = f"{o.at:%y%m%d}"
            seq = self._seq_by_date[date] = self._seq_by_date.get(date, 0) + 1
            case_no = f"{date}{d.county}{seq:04d}"
            defect = draw(self.spec.seed, self.rate, KINDS, "county", case_no)
            state = CaseState(self._next("case"), case_no, d.id, duplicate, o.at, defect)
            self.cases[key] = state
            if not duplicate:
                d.ids["county"] = case_no
            self._insert_parties(state, d, o.at)
        elif o.stage == "corrected":
            self._update_parties(state, d, o.at)
        row = self._case_row(state, o)
        if state.defect:
            state.defect_field = self._inject(row, state, d)
        self._pending.append(("case", tuple(row[c] for c in _CASE_COLUMNS)))
        self._log_flow(state, d, o.at)
        state.written_at = o.at

    def _case_row(self, s: CaseState, o: Observation) -> dict:
        d, at = o.dispute, o.at
        r = stream(self.spec.seed, "county-case", s.case_no)
        accept = d.step_at(FlowAction.ACCEPT, Level.COUNTY)
        status, level, org = 10, int(Level.COUNTY), "嘉善县矛调中心"
        finish = close = None
        satisfaction = 0
        if s.duplicate:
            status = 60 if o.stage == "rereg:merged" else 20
            accept = s.registered_at
            close = at if status == 60 else None
        else:
            for step in d.steps:
                if step.at > at or (accept and step.at < accept):
                    continue
                a = step.action
                if a == FlowAction.ACCEPT and step.level == Level.COUNTY:
                    status = 20
                elif a == FlowAction.ASSIGN_DOWN and step.level == Level.COUNTY:
                    status, level = 25, int(Level.TOWN)
                    org = next(x.org for x in d.steps if x.level == Level.TOWN)
                elif a in (FlowAction.MEDIATE, FlowAction.SUPERVISE, FlowAction.VERIFY_FAIL):
                    status = 30
                elif a == FlowAction.RESOLVE:
                    status, finish = 40, step.at
                elif a == FlowAction.REVIEW:
                    satisfaction = SATISFACTION[d.satisfaction]
                elif a == FlowAction.CLOSE:
                    status, close = 50, step.at
        a_name, b_name = d.parties[0].name, d.parties[-1].name
        corrected = d.corrected_at is None or at >= d.corrected_at
        amount = d.amount
        if amount and not corrected:
            amount = f"{float(amount) * 10:.2f}"
        title = county_title(a_name, b_name, d.cause)
        content = county_content(d.address, a_name, b_name, d.cause, d.people, amount)
        source_ref = None
        if s.duplicate:
            title = f"{a_name}来访反映{d.cause}问题"
            content = f"来访人{a_name}反映与{b_name}因{d.cause}发生纠纷，要求县里协调解决。"
        elif d.path in ("grid-county", "town-county") and r.random() < 0.7:
            source_ref = township_case_no(self.spec.seed, d)
        elif d.path == "province-direct":
            source_ref = d.ids.get("province")
        updated = at
        if o.stage not in ("registered", "accepted", "rereg:open") and r.random() < 0.03:
            # committed late: the row arrives now but claims an earlier time
            updated = max(s.registered_at, at - timedelta(hours=r.uniform(1, 20)))
        return {
            "id": s.id, "case_no": s.case_no, "title": title, "content": content,
            "category_code": d.category, "occur_time": fmt(d.occurred_at),
            "register_time": fmt(s.registered_at),
            "accept_time": fmt(accept) if accept and accept <= at else None,
            "finish_time": fmt(finish) or None, "close_time": fmt(close) or None,
            "status": status, "current_level": level, "town_code": d.town,
            "village_code": d.village, "address": d.address, "longitude": d.lon,
            "latitude": d.lat, "source_channel": 1 if s.duplicate else channel_code(d),
            "source_ref": source_ref, "handle_org": org, "handler": r.choice(_HANDLERS),
            "is_group": int(d.is_group), "people_num": d.people, "amount": amount,
            "satisfaction": satisfaction, "major_flag": int(d.major),
            "urgent_flag": int(d.urgent), "created_at": fmt(s.registered_at),
            "updated_at": fmt(updated),
        }

    def _inject(self, row: dict, s: CaseState, d: Dispute) -> str:
        r = stream(self.spec.seed, "county-defect", s.case_no)
        kind = s.defect
        if kind == Defect.BAD_CHECK_DIGIT:
            return "t_dispute_party.id_no"  # applied to the party rows
        if kind == Defect.IMPOSSIBLE_DATE:
            row["occur_time"] = f"{d.occurred_at.year}-02-30 {r.randint(8, 20):02d}:15:00"
            return "occur_time"
        if kind == Defect.DATE_ORDER:  # occurrence typed days after the registration
            row["occur_time"] = fmt(s.registered_at + timedelta(days=r.randint(3, 20)))
            return "occur_time"
        if kind == Defect.UNKNOWN_CODE:
            row["category_code"] = r.choice(("31", "45", "99"))
            return "category_code"
        field_ = r.choice(("category_code", "occur_time", "village_code"))
        row[field_] = None
        return field_

    def _party_rows(self, s: CaseState, d: Dispute, at: datetime) -> list[tuple]:
        corrected = d.corrected_at is None or at >= d.corrected_at
        parties = d.parties if not s.duplicate else [d.parties[0], d.parties[-1]]
        rows = []
        for i, p in enumerate(parties):
            if p.person:
                id_no, phone = p.person.id_number, p.person.phone
                if i == 0 and not corrected:
                    phone = phone[:5] + phone[6] + phone[5] + phone[7:]
                if i == 0 and s.defect == Defect.BAD_CHECK_DIGIT:
                    id_no = break_check_char(id_no, stream(self.spec.seed, "county-id", s.case_no))
                rows.append((ROLE[p.role.value], 1, p.person.name, "身份证", id_no,
                             1 if p.person.male else 2, phone, p.person.address))
            else:
                org = p.org
                assert org is not None
                code = org.credit_code
                if i == 0 and s.defect == Defect.BAD_CHECK_DIGIT:
                    code = break_check_char(code, stream(self.spec.seed, "county-id", s.case_no))
                rows.append((ROLE[p.role.value], 2, org.name, "统一社会信用代码", code, 0, None,
                             None))
        return rows

    def _insert_parties(self, s: CaseState, d: Dispute, at: datetime) -> None:
        for row in self._party_rows(s, d, at):
            pid = self._next("party")
            s.party_ids.append(pid)
            self._pending.append(("party", (pid, s.id, *row)))

    def _update_parties(self, s: CaseState, d: Dispute, at: datetime) -> None:
        for pid, row in zip(s.party_ids, self._party_rows(s, d, at), strict=True):
            self._pending.append(("party", (pid, s.id, *row)))

    def _log_flow(self, s: CaseState, d: Dispute, at: datetime) -> None:
        if s.duplicate:
            steps = [(0, s.registered_at, "受理", 30, 30, "来访登记")]
            if at >= s.registered_at and d.rereg_merged_at and at >= d.rereg_merged_at:
                steps.append((1, d.rereg_merged_at, "关闭", 30, 30, "与原案件合并办理"))
        else:
            start = d.step_at(FlowAction.ACCEPT, Level.COUNTY) or s.registered_at
            steps = []
            for i, step in enumerate(d.steps):
                came_here = step.to_level == Level.COUNTY and step.at <= start
                if (step.at >= start or came_here) and step.at <= at:
                    to = int(step.to_level) if step.to_level is not None else int(step.level)
                    steps.append((i, step.at, step.action.value, int(step.level), to, step.note))
        for i, t, action, frm, to, note in steps:
            if i in s.logged:
                continue
            s.logged.add(i)
            org = "嘉善县矛调中心" if frm == 30 else ""
            self._pending.append(("flow", (self._next("flow"), s.id, action, frm, to, org, "",
                                           fmt(t), note)))

    # -- writing ------------------------------------------------------------------------
    def end_day(self, day: int, write: bool) -> None:
        pending, self._pending = self._pending, []
        if not write or not pending:
            return
        con = self._connect()
        with con:
            for kind, row in pending:
                if kind == "case":
                    cols = ", ".join(_CASE_COLUMNS)
                    marks = ", ".join("?" * len(_CASE_COLUMNS))
                    sets = ", ".join(f"{c} = excluded.{c}" for c in _CASE_COLUMNS[1:])
                    con.execute(f"INSERT INTO t_dispute_case ({cols}) VALUES ({marks}) "  # noqa: S608
                                f"ON CONFLICT (id) DO UPDATE SET {sets}", row)
                elif kind == "party":
                    con.execute("INSERT OR REPLACE INTO t_dispute_party VALUES "
                                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                else:
                    con.execute("INSERT INTO t_case_flow_log VALUES "
                                "(?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        con.close()

    def _connect(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path)
        if fresh:
            with con:
                con.executescript(DDL)
                con.executemany("INSERT INTO t_code VALUES (?, ?, ?)",
                                [("status", str(k), v) for k, v in STATUS.items()]
                                + [("channel", str(k), v) for k, v in CHANNEL.items()]
                                + [("satisfaction", str(v), k.value)
                                   for k, v in SATISFACTION.items()])
        return con

    def finish(self) -> None:
        for s in sorted(self.cases.values(), key=lambda s: s.id):
            if s.written_at is None:
                continue
            defect = Defect.NEAR_DUPLICATE if s.duplicate and not s.defect else s.defect
            field_ = "*" if defect == Defect.NEAR_DUPLICATE else s.defect_field
            self.key.record("county", "t_dispute_case", s.id, s.case_no, s.dispute_id,
                            s.written_at, defect, field_)
