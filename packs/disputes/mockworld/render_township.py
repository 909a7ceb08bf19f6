"""Township (镇街) drop folders: one folder per township, one export per day.

Most townships run a legacy system that exports GBK CSV with pinyin-initial headers; two
keep village ledgers in XLSX (title row, merged two-row header, a sheet per month, a
totals row, names instead of codes). Quirks per feed: date styles, stale division names,
one township's own gender codes, one feed in GB18030 (rare characters in names), and one
whose header drifted after a system upgrade (fsrq → fssj).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import xlsxwriter

from schemas.divisions import load as load_divisions

from ..codes import FlowAction, Level
from .answer_key import AnswerKey
from .defects import Defect, break_check_char, draw, mojibake_for_gbk_file
from .disputes import Dispute, Observation, Party
from .geography import Geography
from .rng import stream, unit
from .spec import WorldSpec
from .texts import LEDGER_NAMES, township_summary, township_title


@dataclass(frozen=True)
class Feed:
    fmt: str  # csv | xlsx
    encoding: str = "gbk"
    #: "slash" → 2026/09/03 14:25, "compact" → 20260903
    date_style: str = "slash"
    #: "gbt" → GB/T 2261.1 (1 男, 2 女); "local" → this township's own table (1 男, 0 女)
    gender_table: str = "gbt"
    stale_names: bool = False
    #: fraction of the first window after which the header drifts (fsrq → fssj)
    drift_after: float | None = None


FEEDS: dict[str, Feed] = {
    "330421001": Feed("csv", stale_names=True),
    "330421002": Feed("csv"),
    "330421003": Feed("csv", encoding="gb18030", date_style="compact"),
    "330421102": Feed("csv", date_style="compact"),
    "330421103": Feed("csv", gender_table="local"),
    "330421105": Feed("csv", drift_after=0.5),
    "330421107": Feed("xlsx"),
    "330421111": Feed("xlsx"),
    "330421112": Feed("csv", date_style="compact", stale_names=True),
}

CSV_COLUMNS = ["sjbh", "wgsjbh", "sjmc", "sjms", "fsrq", "fsdd", "cjmc", "sjlb", "sjgm", "sjrs",
               "sjje", "sqrxm", "sqrxb", "sqrsfzh", "sqrdh", "bsqrxm", "bsqrxb", "bsqrsfzh",
               "bsqrdh", "slrq", "tjy", "hjfs", "sfHjcg", "hjrq", "clzt", "gxsj"]
LEDGER_COLUMNS = ["序号", "发生日期", "村（社区）", "纠纷类型", "纠纷简要情况", "姓名", "身份证号",
                  "联系电话", "是否化解", "化解日期", "调解员", "备注"]
CSV_KINDS = (Defect.BAD_CHECK_DIGIT, Defect.IMPOSSIBLE_DATE, Defect.DATE_ORDER,
             Defect.UNKNOWN_CODE, Defect.MISSING_REQUIRED, Defect.MOJIBAKE,
             Defect.EXACT_DUPLICATE)
LEDGER_KINDS = (Defect.BAD_CHECK_DIGIT, Defect.IMPOSSIBLE_DATE, Defect.DATE_ORDER,
                Defect.UNKNOWN_CODE, Defect.MISSING_REQUIRED, Defect.EXACT_DUPLICATE)
_STATUS = {"accepted": "已受理", "town": "镇级调处中", "assigned": "县级交办",
           "escalated": "已上报县级", "resolved": "化解成功", "corrected": "已更正"}
_METHODS = ("调解", "协商", "说服教育", "司法确认")
_RARE = "䶮𬌗𬍛"  # in GB18030 but not in GBK
_MEDIATORS = ("沈建国", "钱玉芳", "陆卫东", "徐美华", "朱晓峰", "顾月英", "俞志强", "蒋丽萍")


def _date(t: datetime | None, style: str) -> str:
    if t is None:
        return ""
    return t.strftime("%Y/%m/%d %H:%M") if style == "slash" else t.strftime("%Y%m%d")


class TownshipRenderer:
    source = "township"

    def __init__(self, folder: Path, spec: WorldSpec, geo: Geography, key: AnswerKey) -> None:
        self.folder = folder
        self.spec = spec
        self.geo = geo
        self.key = key
        self.rate = spec.defect_rate_for("township")
        self._former_town = {f.current_code: f.former_name for f in load_divisions().former_names}
        #: rows tomorrow's export repeats unchanged (the export window overlapped)
        self._carry: dict[str, list[tuple[dict[str, str], Observation]]] = {}
        self._today: dict[str, list[Observation]] = {code: [] for code in FEEDS}

    # -- shared content -----------------------------------------------------------------
    def case_no(self, d: Dispute) -> str:
        return township_case_no(self.spec.seed, d)

    def village_label(self, d: Dispute, r: random.Random) -> str:
        v = self.geo.village_by_code[d.village]
        roll = r.random()
        if FEEDS[d.town].stale_names and v.former_name and roll < 0.4:
            return v.former_name
        if v.is_community:
            return (v.name, v.base + "社区居委会", v.base + "居委会")[int(roll * 3)]
        return (v.name, v.base + "村委会", v.base + "村民委员会")[int(roll * 3)]

    def place(self, d: Dispute, r: random.Random) -> str:
        town = self.geo.towns[d.town].name
        if FEEDS[d.town].stale_names and r.random() < 0.5:
            town = self._former_town.get(d.town, town)
        return f"嘉善县{town}{self.village_label(d, r)}{d.address.removeprefix(d.village_name)}"

    def person_fields(self, parties: list[Party], feed: Feed, r: random.Random,
                      corrected: bool) -> tuple[str, str, str, str]:
        names, genders, ids, phones = [], [], [], []
        for i, p in enumerate(parties):
            if p.org:
                names.append(p.org.name)
                genders.append("")
                ids.append(p.org.credit_code)
                phones.append("")
                continue
            person = p.person
            assert person is not None
            name = person.name
            if r.random() < 0.01:
                name = name[:-1] + r.choice(_RARE)
                if feed.encoding == "gbk":  # the legacy system cannot store it
                    name = name[:-1] + "?"
            names.append(name)
            if feed.gender_table == "local":
                genders.append("1" if person.male else "0")
            else:
                genders.append("1" if person.male else "2")
            number = person.id_number
            if person.legacy_id and person.born.year < 1975 and r.random() < 0.25:
                number = person.legacy_id
            elif number.endswith("X") and r.random() < 0.5:
                number = number[:-1] + "x"
            ids.append(number)
            phone = person.phone
            if i == 0 and not corrected:  # the first clerk typed two digits the wrong way round
                phone = phone[:5] + phone[6] + phone[5] + phone[7:]
            roll = r.random()
            prefix = "+86 " if roll < 0.05 else "0086" if roll < 0.08 else ""
            phones.append(prefix + phone)
        return "、".join(names), "、".join(genders), "、".join(ids), "、".join(phones)

    # -- per day ------------------------------------------------------------------------
    def observe(self, o: Observation) -> None:
        self._today[o.dispute.town].append(o)

    def end_day(self, day: int, write: bool) -> None:
        by_town, self._today = self._today, {code: [] for code in FEEDS}
        for town, items in by_town.items():
            feed = FEEDS[town]
            if feed.fmt == "csv":
                self._csv_day(day, town, feed, items, write)
            elif items:
                self._ledger_day(day, town, items, write)

    def _csv_row(self, o: Observation, feed: Feed) -> dict[str, str]:
        d = o.dispute
        r = stream(self.spec.seed, "township-row", d.id, o.stage)
        applicants = [p for p in d.parties if p.role.value == "申请方"]
        respondents = [p for p in d.parties if p.role.value != "申请方"]
        corrected = d.corrected_at is None or o.at >= d.corrected_at
        sq = self.person_fields(applicants, feed, r, corrected)
        bsq = self.person_fields(respondents, feed, r, True)
        resolved = o.stage in ("resolved", "corrected")
        accepted = _first_version(d)
        grid_ref = ""
        if d.path.startswith("grid") and unit(self.spec.seed, "wgref", d.id) < 0.7:
            grid_ref = f"WG{stream(self.spec.seed, 'grid-id', d.id, 0).getrandbits(64):016x}"
        amount = d.amount or ""
        if amount and not corrected:
            amount = f"{float(amount) * 10:.2f}"
        a, b = d.parties[0].name, d.parties[-1].name
        return {
            "sjbh": self.case_no(d), "wgsjbh": grid_ref,
            "sjmc": township_title(a, b, d.cause),
            "sjms": township_summary(d.village_name, a, b, d.cause, d.people),
            "fsrq": _date(d.occurred_at, feed.date_style), "fsdd": self.place(d, r),
            "cjmc": self.village_label(d, r), "sjlb": d.category,
            "sjgm": "群体" if d.is_group else "个体", "sjrs": str(d.people), "sjje": amount,
            "sqrxm": sq[0], "sqrxb": sq[1], "sqrsfzh": sq[2], "sqrdh": sq[3],
            "bsqrxm": bsq[0], "bsqrxb": bsq[1], "bsqrsfzh": bsq[2], "bsqrdh": bsq[3],
            "slrq": _date(accepted, feed.date_style), "tjy": r.choice(_MEDIATORS),
            "hjfs": r.choice(_METHODS) if resolved else "", "sfHjcg": "是" if resolved else "否",
            "hjrq": _date(d.resolved_at, feed.date_style) if resolved else "",
            "clzt": _STATUS[o.stage], "gxsj": o.at.strftime("%Y-%m-%d %H:%M:%S"),
        }

    def _csv_day(self, day: int, town: str, feed: Feed, items: list[Observation],
                 write: bool) -> None:
        name = f"{town}/{self.spec.day_start(day):%Y%m%d}.csv"
        written_at = self.spec.day_start(day + 1) - timedelta(minutes=1)
        columns = list(CSV_COLUMNS)
        drifted = self._drifted(feed, day)
        # tomorrow's file can repeat today's rows only if it has today's header
        can_carry = drifted == self._drifted(feed, day + 1)
        if drifted:
            columns[columns.index("fsrq")] = "fssj"
            self.key.drift("township", name, "fsrq", "fssj")
        rows: list[dict[str, str]] = []
        repeats: list[tuple[dict[str, str], Observation]] = []
        for row, o in self._carry.pop(town, []):
            rows.append(dict(row))
            self.key.record("township", name, len(rows) + 1, row["sjbh"], o.dispute.id,
                            written_at, Defect.EXACT_DUPLICATE, "*")
        for o in items:
            row = self._csv_row(o, feed)
            defect = draw(self.spec.seed, self.rate, CSV_KINDS, "township", name, o.dispute.id,
                          o.stage)
            field = self._inject_csv(row, defect, feed, o) if defect else ""
            if field is None:  # this row cannot carry that defect (e.g. mojibake unencodable)
                defect, field = None, ""
            if drifted:
                row["fssj"] = row.pop("fsrq")
            rows.append(row)
            self.key.record("township", name, len(rows) + 1, row["sjbh"], o.dispute.id,
                            written_at, None if defect == Defect.EXACT_DUPLICATE else defect,
                            field)
            if defect == Defect.EXACT_DUPLICATE:
                if can_carry and unit(self.spec.seed, "carry", o.dispute.id, o.stage) < 0.5:
                    self._carry.setdefault(town, []).append((dict(row), o))
                else:
                    repeats.append((row, o))
        for row, o in repeats:  # the export job ran twice over the same rows
            rows.append(dict(row))
            self.key.record("township", name, len(rows) + 1, row["sjbh"], o.dispute.id,
                            written_at, Defect.EXACT_DUPLICATE, "*")
        if write:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")
            w.writeheader()
            w.writerows(rows)
            path = self.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(buf.getvalue().encode(feed.encoding, errors="replace"))

    def _drifted(self, feed: Feed, day: int) -> bool:
        return feed.drift_after is not None and day >= int(self.spec.days * feed.drift_after)

    def _inject_csv(self, row: dict[str, str], defect: Defect, feed: Feed,
                    o: Observation) -> str | None:
        r = stream(self.spec.seed, "township-defect", o.dispute.id, o.stage)
        if defect == Defect.BAD_CHECK_DIGIT:
            field = "sqrsfzh"
            ids = row[field].split("、")
            if len(ids[0]) != 18:  # a legacy 15-digit ID has no check character to break
                return None
            ids[0] = break_check_char(ids[0], r)
            row[field] = "、".join(ids)
            return field
        if defect == Defect.IMPOSSIBLE_DATE:
            y = o.dispute.occurred_at.year
            row["fsrq"] = (f"{y}/02/30 10:{r.randrange(60):02d}" if feed.date_style == "slash"
                           else f"{y}1{r.randint(3, 9)}{r.randint(10, 28)}")
            return "fsrq"
        if defect == Defect.DATE_ORDER:  # accepted days before it happened
            earlier = o.dispute.occurred_at - timedelta(days=r.randint(3, 20))
            row["slrq"] = _date(earlier, feed.date_style)
            return "slrq"
        if defect == Defect.UNKNOWN_CODE:
            row["sjlb"] = r.choice(["29", "35", "99", "0"])
            return "sjlb"
        if defect == Defect.MISSING_REQUIRED:
            field = r.choice(["fsrq", "sjlb", "sjbh"])
            row[field] = ""
            return field
        if defect == Defect.MOJIBAKE:
            garbled = mojibake_for_gbk_file(row["sqrxm"])
            if garbled is None:
                return None
            row["sqrxm"] = garbled
            return "sqrxm"
        return "*"

    # -- XLSX ledgers -------------------------------------------------------------------
    def _ledger_row(self, o: Observation, r: random.Random) -> list[object]:
        d = o.dispute
        style = r.random()
        if style < 0.4:
            occurred: object = f"{d.occurred_at.year}.{d.occurred_at.month}.{d.occurred_at.day}"
        elif style < 0.7:
            occurred = f"{d.occurred_at.month}月{d.occurred_at.day}日"
        else:
            occurred = d.occurred_at.replace(hour=0, minute=0, second=0)
        names, ids, phones = [], [], []
        corrected = d.corrected_at is None or o.at >= d.corrected_at
        for i, p in enumerate(d.parties):
            names.append(p.name)
            if p.person:
                ids.append(p.person.id_number)
                phone = p.person.phone
                if i == 0 and not corrected:
                    phone = phone[:5] + phone[6] + phone[5] + phone[7:]
                phones.append(phone)
            else:
                ids.append(p.org.credit_code)  # type: ignore[union-attr]
        resolved = o.stage in ("resolved", "corrected")
        done = r.choice(("是", "√", "1")) if resolved else r.choice(("否", ""))
        remark = {"escalated": "已上报县矛调中心", "town": "已上报镇", "corrected": "更正",
                  "assigned": "县交办"}.get(o.stage, "")
        a, b = d.parties[0].name, d.parties[-1].name
        return [
            0, occurred, self.village_label(d, r), r.choice(LEDGER_NAMES[d.category]),
            f"{a}与{b}因{d.cause}发生纠纷", "、".join(names), "、".join(ids), "、".join(phones),
            done, _midnight(d.resolved_at) if resolved else "",
            r.choice(_MEDIATORS), remark,
        ]

    def _ledger_day(self, day: int, town: str, items: list[Observation], write: bool) -> None:
        date = self.spec.day_start(day)
        fname = f"{town}/台账_{date:%Y%m%d}.xlsx"
        written_at = self.spec.day_start(day + 1) - timedelta(minutes=1)
        sheets: dict[str, list[tuple[list[object], Defect | None, str, Observation]]] = {}
        for o in items:
            d = o.dispute
            r = stream(self.spec.seed, "ledger-row", d.id, o.stage)
            row = self._ledger_row(o, r)
            sheet = f"{d.occurred_at.year}年{d.occurred_at.month}月"
            defect = draw(self.spec.seed, self.rate, LEDGER_KINDS, "township", fname, d.id,
                          o.stage)
            field = self._inject_ledger(row, defect, o, r) if defect else ""
            rows = sheets.setdefault(sheet, [])
            rows.append((row, None if defect == Defect.EXACT_DUPLICATE else defect, field, o))
            if defect == Defect.EXACT_DUPLICATE:
                # the clerk pasted the entry twice; it gets a 序号 of its own, so the two
                # rows differ in that cell: a near duplicate to load and link, not an exact one
                rows.append((list(row), Defect.NEAR_DUPLICATE, "*", o))
        header_rows = 3
        for sheet, rows in sheets.items():
            for i, (row, defect, field, o) in enumerate(rows, start=1):
                row[0] = i
                self.key.record("township", f"{fname}#{sheet}", header_rows + i, "",
                                o.dispute.id, written_at, defect, field)
        if write:
            self._write_ledger(self.folder / fname, town, sheets)

    def _inject_ledger(self, row: list[object], defect: Defect, o: Observation,
                       r: random.Random) -> str:
        if defect == Defect.BAD_CHECK_DIGIT:
            ids = str(row[6]).split("、")
            ids[0] = break_check_char(ids[0], r)
            row[6] = "、".join(ids)
            return "身份证号"
        if defect == Defect.IMPOSSIBLE_DATE:
            row[1] = f"{o.dispute.occurred_at.year}.{r.choice((2, 4, 6, 9, 11))}.31"
            return "发生日期"
        if defect == Defect.DATE_ORDER:  # written as settled before it happened
            row[8] = "是"
            row[9] = (o.dispute.occurred_at - timedelta(days=r.randint(3, 20))).replace(
                hour=0, minute=0, second=0)
            return "化解日期"
        if defect == Defect.UNKNOWN_CODE:
            row[3] = r.choice(("综合类", "待定", "其他类别X"))
            return "纠纷类型"
        if defect == Defect.MISSING_REQUIRED:
            row[1] = ""
            return "发生日期"
        return "*"

    def _write_ledger(self, path: Path, town: str, sheets: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        town_name = self.geo.towns[town].name
        # A fixed creation time keeps the file's bytes a function of the world alone.
        wb = xlsxwriter.Workbook(str(path), {"in_memory": True})
        wb.set_properties({"created": datetime(2020, 1, 1), "author": f"{town_name}综治办"})
        title = wb.add_format({"bold": True, "font_size": 14, "align": "center"})
        head = wb.add_format({"bold": True, "align": "center", "valign": "vcenter", "border": 1})
        cell = wb.add_format({"border": 1})
        day_fmt = wb.add_format({"border": 1, "num_format": "yyyy-mm-dd"})
        for sheet, rows in sheets.items():
            ws = wb.add_worksheet(sheet)
            ws.merge_range(0, 0, 0, 11, f"嘉善县{town_name}矛盾纠纷排查化解台账（{sheet}）", title)
            for c in (0, 1, 2, 3, 4, 10, 11):
                ws.merge_range(1, c, 2, c, LEDGER_COLUMNS[c], head)
            ws.merge_range(1, 5, 1, 7, "当事人", head)
            ws.merge_range(1, 8, 1, 9, "化解情况", head)
            for c in range(5, 10):
                ws.write(2, c, LEDGER_COLUMNS[c], head)
            for i, (row, _, _, _) in enumerate(rows):
                for c, value in enumerate(row):
                    if isinstance(value, datetime):
                        ws.write_datetime(3 + i, c, value, day_fmt)
                    else:
                        ws.write(3 + i, c, value, cell)
            ws.write(3 + len(rows), 0, "合计", head)
            ws.write(3 + len(rows), 1, f"共{len(rows)}件", head)
            ws.set_column(4, 4, 40)
        wb.close()


def _midnight(t: datetime | None) -> datetime | None:
    return None if t is None else datetime.combine(t.date(), datetime.min.time())


def township_case_no(seed: int, d: Dispute) -> str:
    """The township's event number: {9-digit town}-{yyyyMMddHHmmss}-{3 digits}."""
    r = stream(seed, "township-no", d.id)
    return f"{d.town}-{_first_version(d):%Y%m%d%H%M%S}-{r.randrange(1000):03d}"


def _first_version(d: Dispute) -> datetime:
    if d.path.startswith("grid"):
        t = d.step_at(FlowAction.ACCEPT, Level.VILLAGE)
    else:
        t = d.step_at(FlowAction.ACCEPT, Level.TOWN)
    assert t is not None
    return t
