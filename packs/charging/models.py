"""The charging domain's canonical records, one model per kind of record (each its own
conform contract, conforming.CONTRACTS). Units are the warehouse's: kW, kWh, km/h;
times are zoned (the sources' local times are Beijing time)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, model_validator

from schemas.checks import fail
from schemas.grades import Grade, contract_field
from schemas.reasons import Reason

_SEGMENT = r"^[A-Z]{3}\d{5}$"
_CAR_PARK = r"^P\d{10}$"
_TRANSFORMER = r"^TQ\d{11}$"


class SegmentFlow(BaseModel):
    """What a road segment's detector counted in one 5-minute interval."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    segment_id: str = contract_field(Grade.L1, "路段编号", "road segment", pattern=_SEGMENT)
    starts_at: AwareDatetime = contract_field(Grade.L1, "统计时段(起)", "interval start")
    vehicles: int = contract_field(Grade.L1, "流量(辆)", "vehicles counted", ge=0, le=2000)
    speed_kmh: float | None = contract_field(Grade.L1, "平均车速(km/h)", "mean speed (km/h)",
                                             default=None, ge=0, le=200)
    #: the detector's running total: a drop is a counter reset (an audit finds them)
    running_total: int | None = contract_field(Grade.L1, "累计计数", "running total",
                                         default=None, ge=0)


class CarParkOccupancy(BaseModel):
    """A car park's berths at one 15-minute report."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    car_park_id: str = contract_field(Grade.L1, "停车场编号", "car park", pattern=_CAR_PARK)
    name: str = contract_field(Grade.L1, "停车场名称", "car park name", max_length=100)
    reported_at: AwareDatetime = contract_field(Grade.L1, "采集时间", "reported at")
    #: when the car park's own system last changed its figures: long behind `reported_at`, the
    #: feed is frozen (an audit finds them)
    updated_at: AwareDatetime = contract_field(Grade.L1, "更新时间", "figures updated at")
    total_berths: int = contract_field(Grade.L1, "总泊位", "berths", ge=0, le=20000)
    free_berths: int = contract_field(Grade.L1, "空余泊位", "free berths", ge=0, le=20000)
    #: where the car park is (the feed's BD-09 turned WGS-84): core.car_parks keeps it
    lon: float | None = contract_field(Grade.L1, "经度(WGS-84)", "longitude (WGS-84)", None,
                                       ge=-180, le=180)
    lat: float | None = contract_field(Grade.L1, "纬度(WGS-84)", "latitude (WGS-84)", None,
                                       ge=-90, le=90)

    @model_validator(mode="after")
    def _free_within_total(self) -> CarParkOccupancy:
        if self.free_berths > self.total_berths:
            raise fail(Reason.OUT_OF_RANGE, "free berths ({free}) exceed berths ({total})",
                       free=self.free_berths, total=self.total_berths, field="free_berths")
        return self


class LoadPoint(BaseModel):
    """A distribution transformer's (台区) load over one quarter hour, charging included."""

    seq: int = contract_field(Grade.L1, "点序", "point in the day (0 = 00:00)", ge=0, le=95)
    transformer_id: str = contract_field(Grade.L1, "台区编号", "transformer",
                                         pattern=_TRANSFORMER)
    starts_at: AwareDatetime = contract_field(Grade.L1, "时段(起)", "quarter hour (start)")
    #: as exported: a blank (None), negative or implausible point is refused by the facts
    #: merge on its own (facts.toml `refuse`), so the transformer keeps the rest of its day
    load_kw: float | None = contract_field(Grade.L1, "负荷(kW)", "load (kW)", None)
    #: the transformer's rating, beside each point for the merge's sanity rule
    rated_kva: int = contract_field(Grade.L1, "额定容量(kVA)", "rated capacity (kVA)",
                                    gt=0, le=10000)


class TransformerDay(BaseModel):
    """A row of the grid office's daily export: a transformer, its rating, the day's 96
    quarter-hour loads (P001 … P096)."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    transformer_id: str = contract_field(Grade.L1, "台区编号", "transformer",
                                         pattern=_TRANSFORMER)
    transformer_name: str = contract_field(Grade.L1, "台区名称", "transformer name",
                                           max_length=100)
    rated_kva: int = contract_field(Grade.L1, "额定容量(kVA)", "rated capacity (kVA)",
                                    gt=0, le=10000)
    day: AwareDatetime = contract_field(Grade.L1, "日期", "day (00:00 Beijing time)")
    #: 96 of them: a point the export lacks fails the row at that point (and is drift)
    load_points: tuple[LoadPoint, ...] = contract_field(
        Grade.L1, "96点负荷", "quarter-hour loads", ())


# -- stations: the operators' listings and the register's filings, and what they stand by

_LISTING = r"^[A-Z0-9]{4,32}$"
_OPERATOR = r"^[0-9A-Z]{9}$"


class ListedEquipment(BaseModel):
    """A charging pile (桩) as a listing gives it; its guns counted (the protocol nests
    them one level further: ConnectorInfos)."""

    seq: int = contract_field(Grade.L1, "序号", "element of its listing", ge=0)
    listing_id: str = contract_field(Grade.L1, "站点编号", "listing", pattern=_LISTING)
    equipment_id: str = contract_field(Grade.L1, "设备编号", "equipment",
                                       pattern=r"^[A-Za-z0-9]{1,40}$")
    #: 1 DC, 2 AC, 3 AC/DC, 4 wireless, 5 other (T/CEC 102)
    equipment_type: int | None = contract_field(Grade.L1, "设备类型", "equipment type",
                                                None, ge=1, le=5)
    power_kw: float | None = contract_field(Grade.L1, "额定功率(kW)", "rated power (kW)",
                                            None, ge=0, le=2000)
    connector_count: int = contract_field(Grade.L1, "枪数", "connectors", ge=0, le=64)


class StationListing(BaseModel):
    """One source's listing of a charging station: an operator's StationInfo or a filing
    in the city's register. Several listings may be one physical station (core.stations)."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    listing_id: str = contract_field(Grade.L1, "站点编号", "listing (StationID or 登记编号)",
                                     pattern=_LISTING)
    operator_code: str | None = contract_field(Grade.L1, "运营商编号", "operator (OperatorID)",
                                             None, pattern=_OPERATOR)
    #: the register names the operating companies ('、' between two)
    operator_name: str | None = contract_field(Grade.L1, "运营单位", "operating company",
                                               None, max_length=200)
    name: str = contract_field(Grade.L1, "站点名称", "station name", max_length=100)
    address: str | None = contract_field(Grade.L1, "地址", "address", None, max_length=200)
    #: GB/T 2260 division: the district (6 digits) from operators, the town (9) from the
    #: register
    area_code: str | None = contract_field(Grade.L1, "区划代码", "division code", None,
                                           pattern=r"^\d{6}(\d{3})?$")
    lon: float | None = contract_field(Grade.L1, "经度(WGS-84)", "longitude (WGS-84)", None,
                                       ge=-180, le=180)
    lat: float | None = contract_field(Grade.L1, "纬度(WGS-84)", "latitude (WGS-84)", None,
                                       ge=-90, le=90)
    station_type: int | None = contract_field(Grade.L1, "站点类型", "station type", None,
                                              ge=1, le=255)
    equipment_count: int | None = contract_field(Grade.L1, "桩数", "piles", None,
                                                 ge=0, le=500)
    #: the register's own count; an operator's is its equipment's guns, summed
    connector_count: int | None = contract_field(Grade.L1, "枪数", "connectors", None,
                                                 ge=0, le=2000)
    total_power_kw: float | None = contract_field(Grade.L1, "总功率(kW)", "total power (kW)",
                                                  None, ge=0, le=100000)
    listing_equipment: tuple[ListedEquipment, ...] = contract_field(
        Grade.L1, "充电设备", "equipment (piles)", ())


class RoadSegment(BaseModel):
    """A road segment of the transport department's list (WGS-84 ends)."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    segment_id: str = contract_field(Grade.L1, "路段编号", "road segment", pattern=_SEGMENT)
    segment_name: str = contract_field(Grade.L1, "路段名称", "segment name", max_length=100)
    lon: float = contract_field(Grade.L1, "起点经度(WGS-84)", "start longitude (WGS-84)")
    lat: float = contract_field(Grade.L1, "起点纬度(WGS-84)", "start latitude (WGS-84)")
    lon_end: float = contract_field(Grade.L1, "终点经度(WGS-84)", "end longitude (WGS-84)")
    lat_end: float = contract_field(Grade.L1, "终点纬度(WGS-84)", "end latitude (WGS-84)")
    lanes: int | None = contract_field(Grade.L1, "车道数", "lanes", None, ge=1, le=12)
    speed_limit_kmh: int | None = contract_field(Grade.L1, "限速(km/h)", "speed limit (km/h)",
                                                 None, ge=5, le=130)


class Transformer(BaseModel):
    """A distribution transformer (台区) of the grid office's list, at its GIS position."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    transformer_id: str = contract_field(Grade.L1, "台区编号", "transformer",
                                         pattern=_TRANSFORMER)
    transformer_name: str = contract_field(Grade.L1, "台区名称", "transformer name",
                                           max_length=100)
    rated_kva: int = contract_field(Grade.L1, "额定容量(kVA)", "rated capacity (kVA)",
                                    gt=0, le=10000)
    lon: float = contract_field(Grade.L1, "经度(WGS-84)", "longitude (WGS-84)")
    lat: float = contract_field(Grade.L1, "纬度(WGS-84)", "latitude (WGS-84)")


class StationTransformer(BaseModel):
    """A line of the grid office's hand-kept table: which transformer feeds a station. A
    mistyped transformer number fails the pattern and is quarantined."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    line_no: int = contract_field(Grade.L1, "序号", "line of the table", ge=1)
    station_name: str = contract_field(Grade.L1, "充电站名称", "station name",
                                       max_length=100)
    reg_no: str | None = contract_field(Grade.L1, "登记编号", "register number", None,
                                        pattern=_LISTING)
    transformer_id: str = contract_field(Grade.L1, "台区编号", "transformer",
                                         pattern=_TRANSFORMER)
    note: str | None = contract_field(Grade.L1, "备注", "note", None, max_length=200)
