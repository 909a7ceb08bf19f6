"""What the charging pack's analyst snapshot publishes: the merged series and their
marts; the columns are graded and labelled by the models (the marts' by the shared
columns)."""

from __future__ import annotations

from schemas.catalogue import Catalogue, PublishedTable, col

from .models import CarParkOccupancy, SegmentFlow

CATALOGUE = Catalogue(
    tables=(
        PublishedTable("core.segment_flows", "路段5分钟流量", "5-minute traffic counts",
                       SegmentFlow),
        PublishedTable("core.car_park_occupancy", "停车场15分钟泊位", "car-park occupancy",
                       CarParkOccupancy),
        PublishedTable("marts.segment_hours", "路段每小时流量", "traffic per segment and hour"),
        PublishedTable("marts.car_park_hours", "停车场每小时占用率",
                       "car-park occupancy per hour"),
    ),
    canonical=(SegmentFlow, CarParkOccupancy),
    shared={
        "hour": col("L1", "小时(北京时间)", "hour (Beijing time)"),
        "mean_speed_kmh": col("L1", "平均车速(km/h)", "mean speed (km/h)"),
        "intervals": col("L1", "有数据的5分钟时段数", "5-minute intervals with a count"),
        "occupancy": col("L1", "平均占用率", "mean share of berths taken"),
        "reports": col("L1", "报告数", "reports in the hour"),
        "batch_id": col("L1", "批次号", "batch the value came in"),
        "row_no": col("L1", "行号", "row of its batch"),
        "run_id": col("L1", "合并运行号", "merge run that wrote it"),
    },
)


# --- the operators' feeds (互联互通): appended so the station listings' part merges beside
from dataclasses import replace as _replace  # noqa: E402

from .models import ChargePeriod, ChargeSession, ConnectorStatus  # noqa: E402
from .status_codes import STATUS_CODE_LISTS  # noqa: E402

_UTILIZATION = col("L1", "利用率(充电时段占比)", "utilization: share of the slots charging")
CATALOGUE = _replace(
    CATALOGUE,
    tables=(*CATALOGUE.tables,
            PublishedTable("core.connector_statuses", "充电接口5分钟状态",
                           "connector statuses per 5-minute slot", ConnectorStatus),
            # the vehicle: its masked VIN and plate only (the link keys stay inside)
            PublishedTable("core.charge_sessions", "充电订单", "charge sessions (orders)",
                           ChargeSession),
            PublishedTable("marts.status_freshness", "运营商接口状态新鲜度",
                           "status freshness per operator"),
            PublishedTable("marts.connector_hours", "充电接口每小时利用率",
                           "connector utilization per hour"),
            PublishedTable("marts.operator_hours", "运营商每小时利用率",
                           "utilization per operator and hour"),
            PublishedTable("marts.session_hours", "每小时充电次数", "charge sessions per hour")),
    code_lists=(*CATALOGUE.code_lists, *STATUS_CODE_LISTS),
    canonical=(*CATALOGUE.canonical, ConnectorStatus, ChargeSession, ChargePeriod),
    shared={**CATALOGUE.shared,
            "as_of": col("L1", "数据时钟(最新状态时段)", "data clock: the newest status slot"),
            "connectors": col("L1", "充电接口数", "connectors"),
            "reporting": col("L1", "近30分钟有状态的接口数",
                             "connectors with a status in the last 30 minutes"),
            "share_silent": col("L1", "近30分钟无状态的接口占比",
                                "share of connectors without a status in 30 minutes"),
            "slots": col("L1", "有状态的5分钟时段数", "5-minute slots with a status"),
            "charging_slots": col("L1", "充电中的时段数", "slots charging"),
            "utilization": _UTILIZATION,
            "sessions": col("L1", "充电次数", "charge sessions"),
            "amount_yuan": col("L2", "订单金额(元)", "amount paid (yuan)"),
            "vehicles": col("L1", "不同车辆数", "distinct vehicles (by the VIN link key)")},
)
