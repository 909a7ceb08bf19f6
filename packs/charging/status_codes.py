"""The code lists of the operators' 互联互通 feeds (T/CEC 102 part 3): a connector's status
and its bay's parking and ground-lock sensors. Each code carries its Chinese label and,
in English, the OCPI 2.2 EVSE status it corresponds to (OCPI has no "occupied, not
charging": a plugged-in car is CHARGING there, so the label says which it is)."""

from __future__ import annotations

from schemas.labelled import CodeList, LabelledIntEnum


class ConnectorState(LabelledIntEnum):
    """Status of a charging connector (T/CEC 102.3 Status)."""

    OFFLINE = 0, "离网", "UNKNOWN (offline: no contact with the connector)"
    IDLE = 1, "空闲", "AVAILABLE"
    OCCUPIED = 2, "占用(未充电)", "CHARGING (occupied, not charging)"
    CHARGING = 3, "占用(充电中)", "CHARGING"
    RESERVED = 4, "占用(预约锁定)", "RESERVED"
    FAULT = 255, "故障", "OUTOFORDER (fault)"


class ParkStatus(LabelledIntEnum):
    """The bay's occupancy sensor (T/CEC 102.3 ParkStatus)."""

    UNKNOWN = 0, "未知", "unknown"
    FREE = 10, "空闲", "free"
    TAKEN = 50, "占用", "occupied"


class LockStatus(LabelledIntEnum):
    """The bay's ground lock (T/CEC 102.3 LockStatus)."""

    UNKNOWN = 0, "未知", "unknown"
    LOCKED = 10, "已上锁", "locked"
    UNLOCKED = 50, "未上锁", "unlocked"


STATUS_CODE_LISTS = (
    CodeList.of(ConnectorState, "充电接口状态", "connector status (T/CEC 102, OCPI names)"),
    CodeList.of(ParkStatus, "车位状态", "bay occupancy"),
    CodeList.of(LockStatus, "地锁状态", "ground lock"),
)
