"""What the conform engine needs of each charging contract beyond its model: the mapping
header sets the source; each model's own validators in SQL for the set-based checks."""

from __future__ import annotations

from conform.contract import ChildGroup, Contract

from .models import CarParkOccupancy, LoadPoint, SegmentFlow, TransformerDay

CONTRACTS = {
    "flows": Contract(root=SegmentFlow, header=("source",)),
    "occupancy": Contract(
        root=CarParkOccupancy, header=("source",),
        model_checks={CarParkOccupancy: {
            "_free_within_total": lambda _scope, _registry: "free_berths <= total_berths"}}),
    "loads": Contract(root=TransformerDay, groups={"load_points": ChildGroup(LoadPoint)},
                      header=("source",)),
}
