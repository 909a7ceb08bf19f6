"""What the conform engine needs of each charging contract beyond its model: the mapping
header sets the source; each model's own validators in SQL for the set-based checks."""

from __future__ import annotations

from conform.contract import ChildGroup, Contract

from .models import (
    CarParkOccupancy,
    ListedEquipment,
    LoadPoint,
    RoadSegment,
    SegmentFlow,
    StationListing,
    StationTransformer,
    Transformer,
    TransformerDay,
)

CONTRACTS = {
    "flows": Contract(root=SegmentFlow, header=("source",)),
    "occupancy": Contract(
        root=CarParkOccupancy, header=("source",),
        model_checks={CarParkOccupancy: {
            "_free_within_total": lambda _scope, _registry: "free_berths <= total_berths"}}),
    "loads": Contract(root=TransformerDay, groups={"load_points": ChildGroup(LoadPoint)},
                      header=("source",)),
}

# Stations and what they stand by: the listings (an operator's StationInfos and the
# register's filings, their piles as a child group), the road segments, the transformers
# and the hand-kept station → transformer table.
CONTRACTS |= {
    "listings": Contract(root=StationListing,
                         groups={"listing_equipment": ChildGroup(ListedEquipment)},
                         header=("source",)),
    "road_segments": Contract(root=RoadSegment, header=("source",)),
    "transformers": Contract(root=Transformer, header=("source",)),
    "station_transformers": Contract(root=StationTransformer, header=("source",)),
}
