"""The pack's one model: a meter's reading for an hour."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel

from schemas.grades import Grade, contract_field


class MeterReading(BaseModel):
    """What a meter measured in one hour."""

    source: str = contract_field(Grade.L1, "来源系统", "source system")
    meter_id: str = contract_field(Grade.L1, "水表编号", "meter id",
                                   pattern=r"^M\d{6}$")
    read_at: AwareDatetime = contract_field(Grade.L1, "读数时段", "hour read (start)")
    volume_m3: float = contract_field(Grade.L1, "用水量(立方米)", "volume used (m³)",
                                      ge=0, le=1000)
