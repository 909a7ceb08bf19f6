"""The grid app's daily exports: UTF-8 JSON Lines, one file per day.

Quirks, as the real patrol app has them: camelCase keys, epoch-millisecond times, GCJ-02
coordinates, free-text categories, raw names and phones, and the same dispute reported
again on later patrols under a new report id (sometimes pointing back, mostly not).
From the app update on the drift day, `occurTime` is sent as `happenTime`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from schemas.geo import wgs84_to_gcj02

from .answer_key import AnswerKey
from .clock import epoch_ms
from .defects import Defect, draw, mojibake_for_utf8_file
from .disputes import Dispute, Observation
from .rng import stream
from .spec import WorldSpec
from .texts import GRID_WORDS, grid_description

KINDS = (Defect.IMPOSSIBLE_DATE, Defect.DATE_ORDER, Defect.UNKNOWN_CODE,
         Defect.MISSING_REQUIRED, Defect.MOJIBAKE, Defect.EXACT_DUPLICATE)
_RESOLVED_TEXT = ("双方已达成和解", "经调解双方握手言和", "问题已解决", "当事人表示满意")
_UNKNOWN_TYPES = ("待定", "其它情况", "未分类", "无")


@dataclass(frozen=True)
class GridFile:
    day: int
    name: str
    lines: list[str]


class GridRenderer:
    source = "grid"

    def __init__(self, folder: Path, spec: WorldSpec, key: AnswerKey) -> None:
        self.folder = folder
        self.spec = spec
        self.key = key
        self.drift_day = int(spec.days * 0.6)
        self._today: list[Observation] = []

    def report_id(self, d: Dispute, k: int) -> str:
        r = stream(self.spec.seed, "grid-id", d.id, k)
        return f"WG{r.getrandbits(64):016x}"

    def record(self, o: Observation, k: int, status: str) -> dict:
        d = o.dispute
        r = stream(self.spec.seed, "grid-report", d.id, k)
        grid = d.grid
        assert grid is not None
        lng, lat = wgs84_to_gcj02(d.lon + r.uniform(-2e-4, 2e-4), d.lat + r.uniform(-2e-4, 2e-4))
        parties = []
        for p in d.parties:
            if p.person:
                entry = {"name": p.person.name, "phone": p.person.phone, "role": "当事人"}
                if r.random() < 0.3:
                    entry["idCard"] = p.person.id_number
            else:
                entry = {"name": p.org.name, "phone": None, "role": "当事单位"}  # type: ignore[union-attr]
            parties.append(entry)
        a, b = d.parties[0].name, d.parties[-1].name
        if k == 0:
            desc = grid_description(r, d.address, a, b, d.cause)
        elif status == "已上报":
            desc = f"{a}与{b}{d.cause}问题村级调解未果，已上报镇街"
        else:
            desc = f"回访：{a}与{b}{d.cause}问题，{r.choice(_RESOLVED_TEXT)}"
        related = self.report_id(d, k - 1) if k > 0 and r.random() < 0.5 else None
        occur_key = "happenTime" if o.at >= self.spec.day_start(self.drift_day) else "occurTime"
        return {
            "reportId": self.report_id(d, k),
            "gridCode": grid.code,
            "gridName": grid.name,
            "reporter": grid.worker,
            "reporterPhone": grid.worker_phone,
            "reportTime": epoch_ms(o.at),
            occur_key: epoch_ms(d.occurred_at),
            "eventType": r.choice(GRID_WORDS[d.category]),
            "eventDesc": desc,
            "address": d.address,
            "lng": round(lng, 6),
            "lat": round(lat, 6),
            "coordSys": "GCJ02",
            "partyCount": d.people,
            "parties": parties,
            "status": status,
            "handleResult": "当场化解" if status == "已化解" and d.path == "grid-spot" else "",
            "relatedReportId": related,
            "appVersion": "3.3.0" if occur_key == "happenTime" else "3.2.1",
        }

    def observe(self, o: Observation) -> None:
        self._today.append(o)

    def end_day(self, day: int, write: bool) -> None:
        obs, self._today = self._today, []
        name = f"{self.spec.day_start(day):%Y%m%d}.jsonl"
        written_at = self.spec.day_start(day + 1) - timedelta(minutes=1)
        lines: list[str] = []
        resend: list[tuple[str, Observation, str]] = []
        for o in obs:
            _, k_text, status = o.stage.split(":")
            k = int(k_text)
            rec = self.record(o, k, status)
            defect = draw(self.spec.seed, self.spec.defect_rate_for("grid"), KINDS,
                          "grid", rec["reportId"])
            field = self._inject(rec, defect, o) if defect else ""
            line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
            lines.append(line)
            self.key.record("grid", name, len(lines), rec["reportId"], o.dispute.id, written_at,
                            None if defect == Defect.EXACT_DUPLICATE else defect, field)
            if defect == Defect.EXACT_DUPLICATE:  # the app resent it after a timeout
                resend.append((line, o, rec["reportId"]))
        for line, o, rid in resend:
            lines.append(line)
            self.key.record("grid", name, len(lines), rid, o.dispute.id, written_at,
                            Defect.EXACT_DUPLICATE, "*")
        if day >= self.drift_day:
            self.key.drift("grid", name, "occurTime", "happenTime")
        if write:
            self.folder.mkdir(parents=True, exist_ok=True)
            text = "".join(line + "\n" for line in lines)
            (self.folder / name).write_text(text, encoding="utf-8")

    def _inject(self, rec: dict, defect: Defect, o: Observation) -> str:
        r = stream(self.spec.seed, "grid-defect", rec["reportId"])
        occur_key = "happenTime" if "happenTime" in rec else "occurTime"
        if defect == Defect.IMPOSSIBLE_DATE:  # seconds sent where milliseconds belong
            rec["reportTime"] //= 1000
            return "reportTime"
        if defect == Defect.DATE_ORDER:  # reported days before it happened
            rec["reportTime"] = rec[occur_key] - int(r.uniform(2, 9) * 86_400_000)
            return "reportTime"
        if defect == Defect.UNKNOWN_CODE:
            if r.random() < 0.5:
                rec["eventType"] = r.choice(_UNKNOWN_TYPES)
                return "eventType"
            rec["gridCode"] = rec["gridCode"][:12] + "9" + rec["gridCode"][13:]
            return "gridCode"
        if defect == Defect.MISSING_REQUIRED:
            field = r.choice(["gridCode", occur_key, "eventType"])
            if r.random() < 0.5:
                del rec[field]
            else:
                rec[field] = None if field != "eventType" else ""
            return field
        if defect == Defect.MOJIBAKE:
            party = rec["parties"][0]
            party["name"] = mojibake_for_utf8_file(party["name"])
            return "parties.name"
        return "*"  # exact duplicate: the whole line
