"""What the meters' analyst snapshot publishes: the merged readings and the mart; the
columns are graded and labelled by the model (the mart's by the shared columns)."""

from __future__ import annotations

from schemas.catalogue import Catalogue, PublishedTable, col

from .models import MeterReading

CATALOGUE = Catalogue(
    tables=(
        PublishedTable("core.meter_readings", "水表小时读数", "hourly meter readings",
                       MeterReading),
        PublishedTable("marts.daily_use", "每表每日用水量", "water used per meter and day"),
    ),
    canonical=(MeterReading,),
    shared={
        "day": col("L1", "日期", "day (Beijing time)"),
        "hours": col("L1", "有读数的小时数", "hours with a reading"),
        "batch_id": col("L1", "批次号", "batch the value came in"),
        "row_no": col("L1", "行号", "row of its batch"),
        "run_id": col("L1", "合并运行号", "merge run that wrote it"),
    },
)
