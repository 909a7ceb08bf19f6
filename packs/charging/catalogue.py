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
