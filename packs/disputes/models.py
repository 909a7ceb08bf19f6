"""The canonical models: what every level's record of a dispute must look like to be shared.

A source record conforms to one `DisputeCase` (with its `Party`s and `FlowEvent`s); the
warehouse links the records of the same real dispute into one case later. Reference
divisions and grids come as `Division` (the engine's registry row, schemas.divisions) and
`Grid`; `SourceRecord` is the lineage every loaded row keeps. Field metadata (grade,
labels) comes from `contract_field`.

Validation needs reference data for some checks (does this township, village or grid
exist?), and the deployment's scope for others (are these divisions ours? are these times
past the record's receipt?). Pass them as the validation context:
`DisputeCase.model_validate(data, context={"registry": registry, "scope": scope,
"received_at": when})`; without them only the structural checks run.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Any, Protocol

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from schemas import checks
from schemas.checks import fail
from schemas.divisions import Division
from schemas.geo import gcj02_to_wgs84
from schemas.grades import Grade, contract_field
from schemas.reasons import Reason
from schemas.scope import UNSCOPED, Scope

from .codes import (
    CATEGORIES,
    CaseStatus,
    Channel,
    Datum,
    FlowAction,
    Gender,
    Level,
    PartyKind,
    Role,
    Satisfaction,
    Scale,
    SourceName,
    Supervision,
)

SCHEMA_VERSION = "1.0.0"

# -- field types ------------------------------------------------------------------------
def _text(max_length: int) -> Any:
    # The length sits inside the type so that optional text still fails as
    # string_too_long with a message about characters.
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=max_length),
                     AfterValidator(checks.check_text)]


# trimmed, non-empty text of at most N characters, checked for mojibake
Text50, Text100, Text200, Text500, Text2000 = (_text(n) for n in (50, 100, 200, 500, 2000))

ResidentId = Annotated[str, BeforeValidator(checks.normalize_resident_id),
                       AfterValidator(checks.check_resident_id)]
CreditCode = Annotated[str, BeforeValidator(checks.normalize_credit_code),
                       AfterValidator(checks.check_credit_code)]
Phone = Annotated[str, BeforeValidator(checks.normalize_phone), AfterValidator(checks.check_phone)]


def check_category(value: str) -> str:
    if value not in CATEGORIES:
        raise fail(Reason.UNKNOWN_CODE, "category {code} is not one of the 28 codes",
                   code=value)
    return value


CategoryCode = Annotated[str, AfterValidator(check_category)]
CountyCode = Annotated[str, AfterValidator(checks.division_checker(6, "county"))]
TownCode = Annotated[str, AfterValidator(checks.division_checker(9, "township"))]
VillageCode = Annotated[str, AfterValidator(checks.division_checker(12, "village"))]
GridCode = Annotated[str, AfterValidator(checks.division_checker(15, "grid"))]
Moment = Annotated[AwareDatetime, AfterValidator(checks.check_moment)]


class Registry(Protocol):
    """Reference data the validators may consult (see warehouse.reference)."""

    def has_township(self, code: str) -> bool: ...
    def has_village(self, code: str) -> bool: ...
    def has_grid(self, code: str) -> bool: ...
    def covers_villages_of(self, county: str) -> bool: ...


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=4000)


# -- reference data ---------------------------------------------------------------------
class Grid(_Model):
    """A grid (网格): the smallest unit of grassroots management, inside one village."""

    code: GridCode = contract_field(Grade.L1, "网格编码", "grid code")
    name: str = contract_field(Grade.L1, "网格名称", "grid name")
    village_code: VillageCode = contract_field(Grade.L1, "所属村社", "village code")

    @model_validator(mode="after")
    def _inside_its_village(self) -> Grid:
        if not self.code.startswith(self.village_code):
            raise fail(Reason.BAD_DIVISION, "grid {grid} is not inside village {village}",
                       grid=self.code, village=self.village_code, field="code")
        return self


# -- a dispute's parts ------------------------------------------------------------------
class Party(_Model):
    """A party to a dispute: a person or an organisation."""

    seq: int = contract_field(Grade.L1, "序号", "sequence in the record", ge=0)
    role: Role = contract_field(Grade.L1, "角色", "role")
    kind: PartyKind = contract_field(Grade.L1, "类型", "person or organisation")
    name: Text200 = contract_field(Grade.L3, "姓名/名称", "name", mask="name")
    gender: Gender | None = contract_field(Grade.L2, "性别", "gender (GB/T 2261.1)", None)
    id_number: ResidentId | None = contract_field(Grade.L4, "身份证号", "resident ID number",
                                                  None, mask="id")
    id_number_masked: str | None = contract_field(
        Grade.L2, "身份证号(脱敏)", "resident ID as the source shows it masked", None,
        pattern=r"^\d{6}\*+[\dX]{4}$")
    credit_code: CreditCode | None = contract_field(Grade.L2, "统一社会信用代码",
                                                    "unified social credit code", None)
    phone: Phone | None = contract_field(Grade.L4, "联系电话", "phone number", None,
                                         mask="phone")
    address: Text500 | None = contract_field(Grade.L3, "住址", "address", None,
                                            mask="address")


class FlowEvent(_Model):
    """One step in a case's handling, as a source's flow log records it."""

    seq: int = contract_field(Grade.L1, "序号", "sequence in the record", ge=0)
    action: FlowAction = contract_field(Grade.L1, "动作", "action")
    at: Moment = contract_field(Grade.L2, "时间", "time")
    from_level: Level | None = contract_field(Grade.L1, "来自层级", "from level", None)
    to_level: Level | None = contract_field(Grade.L1, "去往层级", "to level", None)
    org: Text200 | None = contract_field(Grade.L2, "处理机构", "organisation", None)
    operator: Text100 | None = contract_field(Grade.L3, "经办人", "operator", None,
                                              mask="name")
    # free text: whatever a clerk typed may name people or carry their numbers
    note: Text2000 | None = contract_field(Grade.L2, "备注", "note", None, mask="text")


TIME_ORDER = ("occurred_at", "reported_at", "accepted_at", "resolved_at", "closed_at")
#: a case's own times (its events carry one more each)
TIMES = (*TIME_ORDER, "source_updated_at")
#: a case's division codes, widest first
DIVISION_FIELDS = ("county_code", "town_code", "village_code", "grid_code")


class DisputeCase(_Model):
    """One source record of a dispute, in the shared language (GB/T 31000-2015 fields)."""

    # identity
    source: SourceName = contract_field(Grade.L1, "来源系统", "source system")
    source_record_id: str = contract_field(Grade.L1, "来源记录号", "the source's record id",
                                           min_length=1, max_length=200)
    display_no: str | None = contract_field(Grade.L1, "事件编号", "display number", None)
    grid_report_ref: str | None = contract_field(Grade.L1, "网格事件编号",
                                                 "grid report it came from", None)
    township_ref: str | None = contract_field(Grade.L1, "镇街事件编号",
                                              "township record it came from", None)
    county_ref: str | None = contract_field(Grade.L1, "县级案件编号", "county case number", None)
    province_ref: str | None = contract_field(Grade.L1, "省平台编号", "province case id", None)
    related_ref: str | None = contract_field(Grade.L1, "关联记录号",
                                             "earlier record of the same dispute", None)
    # what
    title: Text200 | None = contract_field(Grade.L3, "事件名称", "title", None, mask="text")
    summary: Text2000 | None = contract_field(Grade.L3, "事件描述", "summary", None,
                                              mask="text")
    category_code: CategoryCode = contract_field(Grade.L1, "事件类别", "category (28 codes)")
    scale: Scale | None = contract_field(Grade.L1, "事件规模", "individual or group", None)
    people_count: int | None = contract_field(Grade.L1, "涉及人数", "people involved", None,
                                              ge=1, le=100_000)
    amount: Decimal | None = contract_field(Grade.L2, "涉及金额", "amount in dispute (yuan)",
                                            None, ge=0, max_digits=14, decimal_places=2)
    # where
    county_code: CountyCode = contract_field(Grade.L1, "县级代码", "county code (GB/T 2260)")
    town_code: TownCode = contract_field(Grade.L1, "乡镇街道代码", "township code")
    village_code: VillageCode | None = contract_field(Grade.L1, "村社代码", "village code", None)
    grid_code: GridCode | None = contract_field(Grade.L1, "网格编码", "grid code", None)
    address: Text500 | None = contract_field(Grade.L3, "发生地点", "address", None,
                                            mask="address")
    lon: float | None = contract_field(Grade.L3, "经度", "longitude as the source gave it",
                                       None, ge=73, le=136, mask="coordinate")
    lat: float | None = contract_field(Grade.L3, "纬度", "latitude as the source gave it", None,
                                       ge=3, le=54, mask="coordinate")
    datum: Datum | None = contract_field(Grade.L1, "坐标系", "datum of lon/lat", None)
    lon_wgs84: float | None = contract_field(Grade.L3, "经度(WGS84)", "longitude, WGS84", None,
                                             mask="coordinate")
    lat_wgs84: float | None = contract_field(Grade.L3, "纬度(WGS84)", "latitude, WGS84", None,
                                             mask="coordinate")
    # when
    occurred_at: Moment = contract_field(Grade.L2, "发生时间", "occurred at")
    reported_at: Moment | None = contract_field(Grade.L2, "上报时间", "reported at", None)
    accepted_at: Moment | None = contract_field(Grade.L2, "受理时间", "accepted at", None)
    resolved_at: Moment | None = contract_field(Grade.L2, "化解时间", "resolved at", None)
    closed_at: Moment | None = contract_field(Grade.L2, "办结时间", "closed at", None)
    source_updated_at: Moment | None = contract_field(Grade.L2, "来源更新时间",
                                                      "when the source last changed it", None)
    # intake and handling
    channel: Channel | None = contract_field(Grade.L1, "来源渠道", "intake channel", None)
    source_level: Level = contract_field(Grade.L1, "来源层级", "level of the recording system")
    handling_level: Level | None = contract_field(Grade.L1, "当前层级", "level handling it now",
                                                  None)
    status: CaseStatus | None = contract_field(Grade.L1, "状态", "canonical status", None)
    source_status: str | None = contract_field(Grade.L1, "来源状态码", "status as the source "
                                               "wrote it", None, max_length=50)
    handling_org: Text200 | None = contract_field(Grade.L2, "处理机构", "handling organisation",
                                               None)
    handler: Text100 | None = contract_field(Grade.L3, "经办人", "handler", None, mask="name")
    method: Text50 | None = contract_field(Grade.L1, "化解方式", "method", None)
    resolved: bool | None = contract_field(Grade.L1, "是否化解", "resolved", None)
    satisfaction: Satisfaction | None = contract_field(Grade.L1, "满意度", "satisfaction", None)
    supervision: Supervision | None = contract_field(Grade.L1, "督办级别", "supervision", None)
    major: bool | None = contract_field(Grade.L1, "重大", "major", None)
    urgent: bool | None = contract_field(Grade.L1, "紧急", "urgent", None)
    parties: tuple[Party, ...] = contract_field(Grade.L3, "当事人", "parties", (),
                                                mask="nested")
    events: tuple[FlowEvent, ...] = contract_field(Grade.L2, "流转记录", "flow events", ())

    # the scope checks come first: a record that is not ours, or not yet, fails for that
    # and not for what follows from it (an unknown township of another province)
    @model_validator(mode="after")
    def _divisions_in_scope(self, info: ValidationInfo) -> DisputeCase:
        scope: Scope = (info.context or {}).get("scope") or UNSCOPED
        if scope.divisions is None or not scope.quarantines(Reason.OUT_OF_SCOPE):
            return self
        for name in DIVISION_FIELDS:
            code = getattr(self, name)
            if code is not None and not scope.covers(code):
                raise fail(Reason.OUT_OF_SCOPE, "{field} {code} lies outside the deployment's "
                           "divisions ({divisions})", field=name, code=code,
                           divisions=", ".join(scope.divisions))
        return self

    @model_validator(mode="after")
    def _times_not_in_future(self, info: ValidationInfo) -> DisputeCase:
        context = info.context or {}
        scope: Scope = context.get("scope") or UNSCOPED
        received: datetime | None = context.get("received_at")
        if scope.future_tolerance is None or received is None \
                or not scope.quarantines(Reason.IN_FUTURE):
            return self
        latest = received + scope.future_tolerance
        times = [(name, getattr(self, name)) for name in TIMES]
        times += [(f"events[{i}].at", e.at) for i, e in enumerate(self.events)]
        for name, t in times:
            if t is not None and t > latest:
                raise fail(Reason.IN_FUTURE, "{field} ({t}) is later than the record's receipt "
                           "({received}) plus the tolerance ({tolerance})", field=name,
                           t=t.isoformat(), received=received.isoformat(),
                           tolerance=str(scope.future_tolerance))
        return self

    @model_validator(mode="after")
    def _times_in_order(self) -> DisputeCase:
        present = [(name, getattr(self, name)) for name in TIME_ORDER
                   if getattr(self, name) is not None]
        for (a, ta), (b, tb) in pairwise(present):
            if tb < ta:
                raise fail(Reason.DATE_ORDER, "{later} ({tb}) is before {earlier} ({ta})",
                           later=b, earlier=a, tb=tb.isoformat(), ta=ta.isoformat(), field=b)
        return self

    @model_validator(mode="after")
    def _divisions_nest(self, info: ValidationInfo) -> DisputeCase:
        if not self.town_code.startswith(self.county_code):
            raise fail(Reason.BAD_DIVISION, "township {town} is not in county {county}",
                       town=self.town_code, county=self.county_code, field="town_code")
        if self.village_code and not self.village_code.startswith(self.town_code):
            raise fail(Reason.BAD_DIVISION, "village {village} is not in township {town}",
                       village=self.village_code, town=self.town_code, field="village_code")
        if self.grid_code and self.village_code and \
                not self.grid_code.startswith(self.village_code):
            raise fail(Reason.BAD_DIVISION, "grid {grid} is not in village {village}",
                       grid=self.grid_code, village=self.village_code, field="grid_code")
        # the registry judges the deployment's divisions; outside them the scope check
        # decides (quarantined as out_of_scope before this runs, or flagged)
        context = info.context or {}
        registry: Registry | None = context.get("registry")
        scope: Scope = context.get("scope") or UNSCOPED
        if registry is not None:
            if scope.covers(self.town_code) and not registry.has_township(self.town_code):
                raise fail(Reason.UNKNOWN_CODE, "township {town} is not in the division "
                           "reference", town=self.town_code, field="town_code")
            if self.village_code and scope.covers(self.village_code) \
                    and registry.covers_villages_of(self.county_code) \
                    and not registry.has_village(self.village_code):
                raise fail(Reason.UNKNOWN_CODE, "village {village} is not in the registry",
                           village=self.village_code, field="village_code")
            if self.grid_code and scope.covers(self.grid_code) \
                    and not registry.has_grid(self.grid_code):
                raise fail(Reason.UNKNOWN_CODE, "grid {grid} is not in the registry",
                           grid=self.grid_code, field="grid_code")
        return self

    @model_validator(mode="before")
    @classmethod
    def _wgs84_from_the_source_datum(cls, data: object) -> object:
        # keep what the source said and add WGS84; CGCS2000 is within centimetres of it
        if not isinstance(data, dict) or data.get("lon") is None or data.get("lat") is None:
            return data
        if data.get("lon_wgs84") is not None:
            return data
        lon, lat = float(data["lon"]), float(data["lat"])
        if data.get("datum") in (Datum.GCJ02, "GCJ02"):
            lon, lat = gcj02_to_wgs84(lon, lat)
        return {**data, "lon_wgs84": round(lon, 7), "lat_wgs84": round(lat, 7)}


class SourceRecord(_Model):
    """Lineage of a loaded row: the raw record it came from."""

    source: SourceName = contract_field(Grade.L1, "来源系统", "source system")
    batch_id: int = contract_field(Grade.L1, "批次号", "raw batch id")
    origin: str = contract_field(Grade.L1, "来源位置", "file, table or page")
    row_no: int | None = contract_field(Grade.L1, "行号", "row in the origin", None)
    raw_hash: str = contract_field(Grade.L1, "原始记录摘要", "md5 of the raw record",
                                   pattern=r"^[0-9a-f]{32}$")
    extracted_at: datetime = contract_field(Grade.L1, "抽取时间", "landed at")


MODELS: tuple[type[BaseModel], ...] = (DisputeCase, Party, FlowEvent, Division, Grid,
                                       SourceRecord)
