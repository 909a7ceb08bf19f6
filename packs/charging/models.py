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
