"""The charging domain's canonical records, one model per kind of record (each its own
conform contract, conforming.CONTRACTS). Units are the warehouse's: kW, kWh, km/h;
times are zoned (the sources' local times are Beijing time)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, model_validator

from schemas.checks import fail
from schemas.grades import Grade, contract_field
from schemas.reasons import Reason

from .status_codes import ConnectorState, LockStatus, ParkStatus

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


# --- the operators' feeds (互联互通): connector statuses and charge orders ---------------


#: an operator's organisation code (GB 11714: 8 characters and a check character)
_OPERATOR = r"^[0-9A-Z]{9}$"
#: ConnectorID: up to 26 characters (T/CEC 102.3); StartChargeSeq: up to 27
_CONNECTOR = r"^[0-9A-Za-z]{1,26}$"
_ORDER = r"^[0-9A-Za-z]{1,27}$"
#: ISO 3779 (GB 16735): 17 characters, no I, O or Q
_VIN = r"^[A-HJ-NPR-Z0-9]{17}$"
#: a Chinese plate: the province's character, the issuing office's letter, 5 characters
#: (6 for new-energy vehicles)
_PLATE = r"^[一-龥][A-Z][A-Z0-9]{5,6}$"
#: ISO 3779's value of each VIN character and the weight of each position (the 9th is
#: the check character: weight 0)
VIN_CHARACTERS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
VIN_VALUES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9,
              2, 3, 4, 5, 6, 7, 8, 9)
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
#: how far an order's total energy may lie from the sum of its periods' (each period is
#: rounded to 0.001 kWh, the total too)
PERIODS_TOLERANCE_KWH = 0.05
_Amount = Decimal


def vin_check_character(vin: str) -> str:
    """ISO 3779's check character (position 9) of a well-formed VIN. python-stdnum has no
    VIN module."""
    value = dict(zip(VIN_CHARACTERS, VIN_VALUES, strict=True))
    total = sum(value[c] * w for c, w in zip(vin, VIN_WEIGHTS, strict=True))
    return "0123456789X"[total % 11]


class ConnectorStatus(BaseModel):
    """A connector's status in one 5-minute slot, as its operator's platform kept it."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    operator_code: str = contract_field(Grade.L1, "运营商编号", "operator (organisation code)",
                                        pattern=_OPERATOR)
    connector_id: str = contract_field(Grade.L1, "充电接口编码", "connector",
                                       pattern=_CONNECTOR)
    status_at: AwareDatetime = contract_field(Grade.L1, "状态时段(起)",
                                              "5-minute slot of the status (start)")
    status: ConnectorState = contract_field(Grade.L1, "接口状态", "connector status")
    park_status: ParkStatus | None = contract_field(Grade.L1, "车位状态", "bay occupancy",
                                                    None)
    lock_status: LockStatus | None = contract_field(Grade.L1, "地锁状态", "ground lock", None)


class ChargePeriod(BaseModel):
    """One time-of-use period of a charge order (ChargeDetails: 尖/峰/平/谷)."""

    seq: int = contract_field(Grade.L1, "明细序号", "period of the order (from 0)", ge=0)
    period_start: AwareDatetime = contract_field(Grade.L2, "时段开始", "period start")
    period_end: AwareDatetime = contract_field(Grade.L2, "时段结束", "period end")
    energy_kwh: float = contract_field(Grade.L1, "时段电量(kWh)", "energy in the period (kWh)",
                                       ge=0, le=2000)
    #: tariffs have four decimals (1.3514 yuan/kWh): not amounts
    elec_price: float | None = contract_field(Grade.L1, "电价(元/kWh)",
                                              "electricity price (yuan/kWh)", None, ge=0, le=100)
    service_price: float | None = contract_field(Grade.L1, "服务费价格(元/kWh)",
                                                 "service price (yuan/kWh)", None, ge=0, le=100)
    elec_money: _Amount | None = contract_field(Grade.L2, "时段电费(元)",
                                                "electricity charge (yuan)", None, ge=0,
                                                max_digits=14, decimal_places=2)
    service_money: _Amount | None = contract_field(Grade.L2, "时段服务费(元)",
                                                   "service charge (yuan)", None, ge=0,
                                                   max_digits=14, decimal_places=2)


class ChargeSession(BaseModel):
    """A charge order (notification_charge_order_info): one session at one connector.

    The vehicle's VIN and plate are personal data (grade L4): staged only encrypted, as a
    keyed link and masked; messages never quote them."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    operator_code: str = contract_field(Grade.L1, "运营商编号", "operator (organisation code)",
                                        pattern=_OPERATOR)
    order_seq: str = contract_field(Grade.L1, "充电订单号", "charge order (StartChargeSeq)",
                                    pattern=_ORDER)
    connector_id: str = contract_field(Grade.L1, "充电接口编码", "connector",
                                       pattern=_CONNECTOR)
    started_on: AwareDatetime = contract_field(Grade.L2, "开始充电时间", "charging started")
    ended_on: AwareDatetime = contract_field(Grade.L2, "结束充电时间", "charging ended")
    energy_kwh: float = contract_field(Grade.L1, "充电电量(kWh)", "energy charged (kWh)",
                                       ge=0, le=2000)
    elec_money: _Amount | None = contract_field(Grade.L2, "总电费(元)",
                                                "electricity charge (yuan)", None, ge=0,
                                                max_digits=14, decimal_places=2)
    service_money: _Amount | None = contract_field(Grade.L2, "总服务费(元)",
                                                   "service charge (yuan)", None, ge=0,
                                                   max_digits=14, decimal_places=2)
    total_money: _Amount | None = contract_field(Grade.L2, "总金额(元)", "amount paid (yuan)",
                                                 None, ge=0, max_digits=14, decimal_places=2)
    #: 0–4 the standard's reasons, 5–99 the operator's own
    stop_reason: int | None = contract_field(Grade.L1, "充电结束原因", "why charging stopped",
                                             None, ge=0, le=99)
    car_vin: str | None = contract_field(Grade.L4, "车辆识别代号(VIN)", "vehicle VIN", None,
                                         mask="id", pattern=_VIN)
    plate_number: str | None = contract_field(Grade.L4, "车牌号", "plate number", None,
                                              mask="id", pattern=_PLATE)
    charge_periods: tuple[ChargePeriod, ...] = contract_field(
        Grade.L1, "分时段明细", "time-of-use periods", ())

    @model_validator(mode="after")
    def _vin_check_character(self) -> ChargeSession:
        if self.car_vin is not None and self.car_vin[8] != vin_check_character(self.car_vin):
            raise fail(Reason.BAD_CHECK_DIGIT, "the VIN's check character (ISO 3779, "
                       "position 9) is wrong", field="car_vin")
        return self

    @model_validator(mode="after")
    def _periods_add_up(self) -> ChargeSession:
        if not self.charge_periods:
            return self
        periods = sum(p.energy_kwh for p in self.charge_periods)
        if abs(periods - self.energy_kwh) > PERIODS_TOLERANCE_KWH:
            raise fail(Reason.BAD_VALUE, "the periods' energies add up to {periods} kWh, "
                       "the order's total is {total} kWh", periods=round(periods, 3),
                       total=self.energy_kwh, field="energy_kwh")
        return self

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
