"""The truth: disputes and their life cycles across levels, and what each source sees.

A dispute is drawn whole when its day comes: where it happened, who is involved, which
path it takes through the levels (小事不出村、大事不出镇: most stay in the village or the
town) and when every step happens, including steps after the world's current clock.
`observations` then lists every moment a source system records something about it;
the renderers turn those moments into records in each source's own dialect.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.divisions import JIASHAN

from ..codes import CATEGORIES, Channel, FlowAction, Level, Role, Satisfaction
from .geography import Geography, Grid, Village
from .people import Organisation, Person, Population, make_person
from .rng import stream, weighted
from .spec import WorldSpec
from .texts import cause

# Paths a Jiashan dispute takes, with their shares.
PATHS = (
    ("grid-spot", 0.26),        # grid worker settles it on the spot: grid app only
    ("grid-village", 0.24),     # grid report, settled by the village mediation committee
    ("grid-town", 0.14),        # grid report, village fails, the town settles it
    ("grid-county", 0.04),      # grid report, escalated through village and town to the county
    ("town-walkin", 0.14),      # walk-in at the township office, settled there
    ("town-county", 0.03),      # walk-in at the township, escalated to the county
    ("county-direct", 0.09),    # hotline / visit / police referral straight to the county
    ("county-assigned", 0.04),  # registered at the county, assigned down to the town
    ("province-direct", 0.02),  # filed on 浙里办, assigned down to the county
)
GRID_PATHS = frozenset({"grid-spot", "grid-village", "grid-town", "grid-county"})
TOWNSHIP_PATHS = frozenset({"grid-village", "grid-town", "grid-county", "town-walkin",
                            "town-county", "county-assigned"})
COUNTY_PATHS = frozenset({"grid-county", "town-county", "county-direct", "county-assigned",
                          "province-direct"})

_CATEGORY_WEIGHTS = (
    ("04", 20), ("03", 12), ("11", 10), ("14", 9), ("27", 7), ("07", 6), ("25", 6),
    ("19", 5), ("05", 5), ("28", 4), ("20", 3), ("12", 3), ("06", 3), ("21", 2), ("22", 2),
    ("01", 1), ("02", 0.5), ("08", 0.3), ("09", 0.5), ("10", 0.3), ("13", 0.2), ("15", 0.5),
    ("16", 0.2), ("17", 0.5), ("18", 0.1), ("23", 0.5), ("24", 0.3), ("26", 0.1),
)
_MONEY_CATEGORIES = frozenset({"11", "19", "27", "25", "21", "12", "06", "14", "03"})
_ORG_CATEGORIES = frozenset({"11", "27", "19", "07", "05", "06"})


@dataclass(slots=True)
class Party:
    role: Role
    person: Person | None = None
    org: Organisation | None = None

    @property
    def name(self) -> str:
        return self.person.name if self.person else self.org.name  # type: ignore[union-attr]


@dataclass(slots=True)
class Step:
    at: datetime
    level: Level
    action: FlowAction
    org: str
    to_level: Level | None = None
    note: str = ""


@dataclass(slots=True)
class Dispute:
    id: str
    seq: int
    county: str
    town: str
    village: str
    village_name: str
    grid: Grid | None
    category: str
    cause: str
    path: str
    channel: Channel
    occurred_at: datetime
    reported_at: datetime
    parties: list[Party]
    people: int
    amount: str | None
    lon: float
    lat: float
    address: str
    major: bool
    urgent: bool
    steps: list[Step] = field(default_factory=list)
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    satisfaction: Satisfaction = Satisfaction.NOT_RATED
    #: the level that settled it
    final_level: Level = Level.VILLAGE
    #: a late correction of the recorded amount/phone, long after the fact
    corrected_at: datetime | None = None
    #: the county registered it a second time when a party walked in
    reregistered_at: datetime | None = None
    rereg_merged_at: datetime | None = None
    #: province platform quirks for this case
    sync_lag: timedelta = timedelta(hours=6)
    never_synced: bool = False
    retry_duplicate: bool = False
    #: re-report moments of the grid worker: (time, status)
    grid_reports: list[tuple[datetime, str]] = field(default_factory=list)
    #: ids each source gave it, assigned as the records appear
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def is_group(self) -> bool:
        return self.people >= 5

    def step_at(self, action: FlowAction, level: Level | None = None) -> datetime | None:
        for s in self.steps:
            if s.action == action and (level is None or s.level == level):
                return s.at
        return None

    def level_at(self, t: datetime) -> Level:
        level = Level.GRID
        for s in self.steps:
            if s.at > t:
                break
            if s.action == FlowAction.ACCEPT:
                level = s.level
        return level


@dataclass(frozen=True, slots=True)
class Observation:
    """A moment at which `source` records something about `dispute`."""

    at: datetime
    source: str
    stage: str
    dispute: Dispute
    order: int = 0  # breaks ties deterministically

    def sort_key(self) -> tuple[datetime, int, int]:
        return (self.at, self.dispute.seq, self.order)


def _work_time(t: datetime, r: random.Random) -> datetime:
    """Move t into office hours (08:30–17:30) of the same or next day."""
    if t.hour < 8:
        return t.replace(hour=8, minute=30 + r.randrange(0, 29), second=r.randrange(60))
    if t.hour >= 17 or (t.hour == 17 and t.minute > 30):
        nxt = t + timedelta(days=1)
        return nxt.replace(hour=8, minute=30 + r.randrange(0, 29), second=r.randrange(60))
    return t


class Simulation:
    """Draws every day's disputes for a spec: a pure function of (seed, day)."""

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self.geo = Geography(spec.seed, population_scale=max(1.0, spec.cases / 30000))
        self.pop = Population(self.geo)
        self._other_counties = self.geo.other_counties()
        self._village_weights = [v.population for v in self.geo.villages]

    def day_range(self, day: int) -> range:
        """Sequence numbers of the disputes that start on `day` (same average rate forever)."""
        n, d = self.spec.cases, self.spec.days
        return range(day * n // d, (day + 1) * n // d)

    def disputes_of_day(self, day: int) -> list[Dispute]:
        return [self.dispute(seq, day) for seq in self.day_range(day)]

    # -- one dispute --------------------------------------------------------------------
    def dispute(self, seq: int, day: int) -> Dispute:
        r = stream(self.spec.seed, "dispute", seq)
        did = f"D{seq + 1:08d}"
        occurred = self.spec.day_start(day) + timedelta(
            seconds=int(r.triangular(6 * 3600, 23 * 3600, 15 * 3600)))
        category = weighted(r, _CATEGORY_WEIGHTS)
        if r.random() < self.spec.other_county_share:
            return self._other_county(r, did, seq, occurred, category)
        path = weighted(r, PATHS)
        village = r.choices(self.geo.villages, weights=self._village_weights)[0]
        grids = self.geo.grids_by_village[village.code]
        grid = r.choice(grids)
        parties = self._parties(r, village, category)
        people = len(parties) if r.random() < 0.9 else r.randint(5, 40)
        d = Dispute(
            id=did, seq=seq, county=JIASHAN, town=village.town, village=village.code,
            village_name=village.name, grid=grid if path in GRID_PATHS else None,
            category=category, cause=cause(r, category), path=path,
            channel=self._channel(r, path), occurred_at=occurred, reported_at=occurred,
            parties=parties, people=max(people, len(parties)),
            amount=self._amount(r, category), lon=round(village.lon + r.uniform(-0.004, 0.004), 6),
            lat=round(village.lat + r.uniform(-0.004, 0.004), 6),
            address=f"{village.name}{r.randint(1, 12)}组{r.randint(1, 180)}号",
            major=r.random() < 0.03, urgent=r.random() < 0.05,
        )
        d.sync_lag = timedelta(hours=r.uniform(2, 72))
        self._life_cycle(r, d, village)
        return d

    def _other_county(self, r: random.Random, did: str, seq: int, occurred: datetime,
                      category: str) -> Dispute:
        county = r.choice(self._other_counties)
        town = r.choice(self._towns_of(county))
        vnum = r.randint(1, 12) if r.random() < 0.3 else r.randint(201, 230)
        village_code = f"{town.code}{vnum:03d}"
        vname = f"第{vnum % 200}{'社区' if vnum < 200 else '村'}"
        areas = ((county, 0.85), (JIASHAN, 0.15))
        parties = [Party(role, person=make_person(r, -1, village_code, vname, areas))
                   for role in (Role.APPLICANT, Role.RESPONDENT)]
        level = Level.COUNTY if r.random() < 0.4 else Level.TOWN
        d = Dispute(
            id=did, seq=seq, county=county, town=town.code, village=village_code,
            village_name=vname, grid=None, category=category, cause=cause(r, category),
            path="other-county", channel=r.choice(list(Channel)[:6]), occurred_at=occurred,
            reported_at=occurred + timedelta(hours=r.uniform(1, 48)), parties=parties,
            people=2, amount=self._amount(r, category), lon=round(120.2 + r.uniform(-1, 1), 6),
            lat=round(29.5 + r.uniform(-1, 1), 6), address=f"{town.name}{vname}",
            major=False, urgent=r.random() < 0.05, final_level=level,
            sync_lag=timedelta(hours=r.uniform(1, 30)),
        )
        org = f"{self.geo.divs.counties[county].name}矛调中心"
        t = _work_time(d.reported_at + timedelta(hours=r.uniform(1, 30)), r)
        d.steps.append(Step(t, level, FlowAction.ACCEPT, org))
        t += timedelta(days=r.uniform(1, 6))
        d.steps.append(Step(t, level, FlowAction.MEDIATE, org))
        self._finish(r, d, t, level, org, province_verifies=True)
        return d

    @functools.cache  # noqa: B019 - one Simulation per run, bounded by the county count
    def _towns_of(self, county: str) -> list:
        return self.geo.divs.townships_of(county)

    def _parties(self, r: random.Random, village: Village, category: str) -> list[Party]:
        people = self.pop.village_range(village)
        if r.random() < 0.06:  # one of the village's long-running feuds flares up again
            feuds = stream(self.spec.seed, "feuds", village.code)
            pick = r.randrange(5)
            for _ in range(pick + 1):
                a, b = feuds.sample(people, 2)
        else:
            a, b = r.sample(people, 2)
        parties = [Party(Role.APPLICANT, person=self.pop.person(a))]
        if category in _ORG_CATEGORIES and r.random() < 0.5:
            org = self.pop.organisation(village.town, r.randrange(40))
            parties.append(Party(Role.RESPONDENT, org=org))
        else:
            parties.append(Party(Role.RESPONDENT, person=self.pop.person(b)))
        if r.random() < 0.12:  # a co-applicant (family member, fellow worker)
            c = r.choice(people)
            if c not in (a, b):
                parties.insert(1, Party(Role.APPLICANT, person=self.pop.person(c)))
        return parties

    @staticmethod
    def _amount(r: random.Random, category: str) -> str | None:
        if category not in _MONEY_CATEGORIES or r.random() < 0.3:
            return None
        return f"{round(r.lognormvariate(9.5, 1.1), -1):.2f}"

    @staticmethod
    def _channel(r: random.Random, path: str) -> Channel:
        if path in GRID_PATHS:
            return Channel.GRID_PATROL
        if path.startswith("town"):
            return weighted(r, ((Channel.VISIT, 0.7), (Channel.MANUAL, 0.3)))
        if path == "province-direct":
            return weighted(r, ((Channel.ZHELIBAN, 0.8), (Channel.WEBSITE, 0.2)))
        return weighted(r, ((Channel.HOTLINE, 0.45), (Channel.VISIT, 0.35), (Channel.POLICE, 0.2)))

    # -- life cycle ---------------------------------------------------------------------
    def _life_cycle(self, r: random.Random, d: Dispute, village: Village) -> None:
        town_name = self.geo.towns[d.town].name
        v_org, t_org, c_org = f"{village.name}调委会", f"{town_name}矛调中心", "嘉善县矛调中心"
        path = d.path
        hours = timedelta(hours=1)
        if path in GRID_PATHS:
            d.reported_at = d.occurred_at + hours * r.uniform(0.3, 30)
            grid = d.grid
            assert grid is not None
            d.steps.append(Step(d.reported_at, Level.GRID, FlowAction.REPORT_UP, grid.name,
                                to_level=Level.VILLAGE))
            if path == "grid-spot":
                t = d.reported_at + timedelta(minutes=r.uniform(10, 90))
                d.steps.append(Step(t, Level.GRID, FlowAction.MEDIATE, grid.name, note="当场化解"))
                d.final_level = Level.GRID
                self._finish(r, d, t, Level.GRID, grid.name)
                if r.random() < 0.3:
                    d.grid_reports = [(d.reported_at, "待处理"),
                                      (self._patrol(r, t), "已化解")]
                else:
                    d.grid_reports = [(t, "已化解")]
                return
            t = _work_time(d.reported_at + hours * r.uniform(1, 20), r)
            d.steps.append(Step(t, Level.VILLAGE, FlowAction.ACCEPT, v_org))
            d.grid_reports = [(d.reported_at, "待处理")]
            t += timedelta(days=r.uniform(0.5, 4))
            d.steps.append(Step(t, Level.VILLAGE, FlowAction.MEDIATE, v_org,
                                note="" if path == "grid-village" else "调解未成功"))
            if path == "grid-village":
                d.final_level = Level.VILLAGE
                self._finish(r, d, t, Level.VILLAGE, v_org)
                if r.random() < 0.6:
                    d.grid_reports.append((self._patrol(r, t), "已化解"))
                return
            t += hours * r.uniform(2, 48)
            d.steps.append(Step(t, Level.VILLAGE, FlowAction.REPORT_UP, v_org, to_level=Level.TOWN))
            if r.random() < 0.5:
                d.grid_reports.append((self._patrol(r, t), "已上报"))
        elif path.startswith("town"):
            d.reported_at = _work_time(d.occurred_at + hours * r.uniform(2, 72), r)
            t = d.reported_at
        elif path == "province-direct":
            d.reported_at = d.occurred_at + hours * r.uniform(1, 72)
            t = _work_time(d.reported_at + hours * r.uniform(2, 40), r)
            d.steps.append(Step(t, Level.PROVINCE, FlowAction.ASSIGN_DOWN, "浙江省矛调平台",
                                to_level=Level.COUNTY))
        else:  # county-direct, county-assigned
            d.reported_at = d.occurred_at + hours * r.uniform(0.5, 48)
            t = d.reported_at

        if path in ("grid-town", "grid-county", "town-walkin", "town-county"):
            t = _work_time(t + hours * r.uniform(0.5, 24), r)
            d.steps.append(Step(t, Level.TOWN, FlowAction.ACCEPT, t_org))
            t += timedelta(days=r.uniform(1, 10))
            escalate = path in ("grid-county", "town-county")
            d.steps.append(Step(t, Level.TOWN, FlowAction.MEDIATE, t_org,
                                note="调解未成功" if escalate else ""))
            if not escalate:
                d.final_level = Level.TOWN
                self._finish(r, d, t, Level.TOWN, t_org)
                if path == "grid-town" and r.random() < 0.4:
                    d.grid_reports.append((self._patrol(r, t), "已化解"))
                return
            t += hours * r.uniform(4, 96)
            d.steps.append(Step(t, Level.TOWN, FlowAction.REPORT_UP, t_org, to_level=Level.COUNTY))

        # the county
        t = _work_time(t + hours * r.uniform(1, 30), r)
        d.steps.append(Step(t, Level.COUNTY, FlowAction.ACCEPT, c_org))
        if path == "county-assigned":
            t += hours * r.uniform(2, 30)
            d.steps.append(Step(t, Level.COUNTY, FlowAction.ASSIGN_DOWN, c_org,
                                to_level=Level.TOWN))
            t = _work_time(t + hours * r.uniform(1, 24), r)
            d.steps.append(Step(t, Level.TOWN, FlowAction.ACCEPT, t_org))
            t += timedelta(days=r.uniform(2, 12))
            d.steps.append(Step(t, Level.TOWN, FlowAction.MEDIATE, t_org))
            d.final_level = Level.TOWN
            self._finish(r, d, t, Level.TOWN, t_org, province_verifies=True)
            return
        if r.random() < 0.1:
            t += timedelta(days=r.uniform(2, 8))
            d.steps.append(Step(t, Level.COUNTY, FlowAction.SUPERVISE, c_org, note="黄牌督办"))
        t += timedelta(days=r.uniform(3, 35))
        d.steps.append(Step(t, Level.COUNTY, FlowAction.MEDIATE, c_org))
        d.final_level = Level.COUNTY
        if path in ("grid-county", "town-county") and r.random() < 0.12:
            d.reregistered_at = _work_time(
                d.step_at(FlowAction.ACCEPT, Level.COUNTY) + timedelta(days=r.uniform(1, 7)), r)
            if r.random() < 0.7:
                d.rereg_merged_at = d.reregistered_at + timedelta(days=r.uniform(2, 12))
        self._finish(r, d, t, Level.COUNTY, c_org, province_verifies=True)

    def _finish(self, r: random.Random, d: Dispute, t: datetime, level: Level, org: str,
                province_verifies: bool = False) -> None:
        d.resolved_at = t
        d.steps.append(Step(t, level, FlowAction.RESOLVE, org))
        if province_verifies:  # the province can only verify what has synced up to it
            t += d.sync_lag + timedelta(days=r.uniform(0.5, 5))
            if r.random() < 0.05:
                d.steps.append(Step(t, Level.PROVINCE, FlowAction.VERIFY_FAIL, "浙江省矛调平台"))
                t += timedelta(days=r.uniform(2, 8))
                d.steps.append(Step(t, level, FlowAction.MEDIATE, org, note="重新调处"))
                d.resolved_at = t
                d.steps.append(Step(t, level, FlowAction.RESOLVE, org))
                t += d.sync_lag + timedelta(days=r.uniform(0.5, 4))
            d.steps.append(Step(t, Level.PROVINCE, FlowAction.VERIFY_PASS, "浙江省矛调平台"))
        t += timedelta(days=r.uniform(0.2, 6))
        d.satisfaction = weighted(r, ((Satisfaction.SATISFIED, 0.62),
                                      (Satisfaction.FAIRLY_SATISFIED, 0.22),
                                      (Satisfaction.DISSATISFIED, 0.06),
                                      (Satisfaction.NOT_RATED, 0.10)))
        d.steps.append(Step(t, level, FlowAction.REVIEW, org, note=d.satisfaction.value))
        d.steps.append(Step(t, level, FlowAction.CLOSE, org))
        d.closed_at = t
        if r.random() < 0.08:
            d.corrected_at = _work_time(t + timedelta(days=r.uniform(3, 30)), r)
        d.never_synced = r.random() < 0.03
        d.retry_duplicate = r.random() < 0.02

    @staticmethod
    def _patrol(r: random.Random, after: datetime) -> datetime:
        t = after + timedelta(days=r.uniform(0.5, 3))
        return t.replace(hour=r.randint(8, 17), minute=r.randrange(60), second=r.randrange(60))


def observations(d: Dispute) -> list[Observation]:
    """Every moment a source system records (a new version of) something about `d`."""
    obs: list[Observation] = []
    add = obs.append
    if d.path in GRID_PATHS:
        for k, (t, status) in enumerate(d.grid_reports):
            add(Observation(t, "grid", f"report:{k}:{status}", d, k))
    if d.path in TOWNSHIP_PATHS:
        for t, stage in township_versions(d):
            add(Observation(t, "township", stage, d))
    if d.path in COUNTY_PATHS:
        for t, stage in county_versions(d):
            add(Observation(t, "county", stage, d))
        if d.reregistered_at is not None:
            add(Observation(d.reregistered_at, "county", "rereg:open", d, 1))
            if d.rereg_merged_at is not None:
                add(Observation(d.rereg_merged_at, "county", "rereg:merged", d, 1))
    if d.path in COUNTY_PATHS or d.path == "other-county":
        for k, (t, stage) in enumerate(province_versions(d)):
            add(Observation(t, "province", stage, d, k))
    return obs


def township_versions(d: Dispute) -> list[tuple[datetime, str]]:
    """When the township's record of `d` is created or changes."""
    out = []
    if d.path.startswith("grid"):
        out.append((d.step_at(FlowAction.ACCEPT, Level.VILLAGE), "accepted"))
        town_accept = d.step_at(FlowAction.ACCEPT, Level.TOWN)
        if town_accept:
            out.append((town_accept, "town"))
    elif d.path == "county-assigned":
        out.append((d.step_at(FlowAction.ACCEPT, Level.TOWN), "assigned"))
    else:
        out.append((d.step_at(FlowAction.ACCEPT, Level.TOWN), "accepted"))
    if d.path in ("grid-county", "town-county"):
        out.append((d.step_at(FlowAction.REPORT_UP, Level.TOWN), "escalated"))
    else:
        assert d.resolved_at is not None
        out.append((d.resolved_at, "resolved"))
        if d.corrected_at is not None:
            out.append((d.corrected_at, "corrected"))
    return out


def county_versions(d: Dispute) -> list[tuple[datetime, str]]:
    """When the county database's case row for `d` is inserted or updated."""
    out: list[tuple[datetime, str]] = []
    accept = d.step_at(FlowAction.ACCEPT, Level.COUNTY)
    assert accept is not None
    if d.path in ("county-direct", "province-direct"):
        registered = d.reported_at if d.path == "county-direct" else accept - timedelta(hours=1)
        out.append((registered, "registered"))
    out.append((accept, "accepted"))
    for s in d.steps:
        if s.at <= accept:
            continue
        if s.action in (FlowAction.ASSIGN_DOWN, FlowAction.SUPERVISE, FlowAction.MEDIATE,
                        FlowAction.RESOLVE, FlowAction.CLOSE, FlowAction.VERIFY_FAIL):
            out.append((s.at, s.action.value))
    if d.corrected_at is not None:
        out.append((d.corrected_at, "corrected"))
    return out


def province_versions(d: Dispute) -> list[tuple[datetime, str]]:
    """When the provincial platform's record of `d` is created or changes (with sync lag)."""
    if d.path == "other-county":
        accept = d.steps[0].at
        out = [(d.reported_at + d.sync_lag, "created"), (accept + d.sync_lag, "accepted")]
    elif d.path == "province-direct":
        out = [(d.reported_at, "filed"), (d.steps[0].at, "assigned")]
        if d.never_synced:
            return out
        accept = d.step_at(FlowAction.ACCEPT, Level.COUNTY)
        out.append((accept + d.sync_lag, "accepted"))
    else:
        if d.never_synced:
            return []
        accept = d.step_at(FlowAction.ACCEPT, Level.COUNTY)
        out = [(accept + d.sync_lag, "created")]
    for s in d.steps:
        if s.at <= accept:
            continue
        if s.action == FlowAction.RESOLVE:
            out.append((s.at + d.sync_lag, "resolved"))
        elif s.action in (FlowAction.VERIFY_PASS, FlowAction.VERIFY_FAIL):
            out.append((s.at, s.action.value))  # the province's own act: no lag
        elif s.action == FlowAction.CLOSE:
            out.append((s.at + d.sync_lag, "closed"))
    if d.corrected_at is not None:
        out.append((d.corrected_at + d.sync_lag, "corrected"))
    if d.retry_duplicate and d.path != "other-county":
        # the legacy sync retried after a timeout and the province stored the case twice
        out.append((out[0][0] + timedelta(minutes=3), "retrydup"))
    if d.reregistered_at is not None:
        out.append((d.reregistered_at + d.sync_lag, "rereg:created"))
        if d.rereg_merged_at is not None:
            out.append((d.rereg_merged_at + d.sync_lag, "rereg:merged"))
    out.sort(key=lambda x: x[0])
    return out


def category_name(code: str) -> str:
    return CATEGORIES[code]
