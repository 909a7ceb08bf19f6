"""What the conform engine needs of each charging contract beyond its model: the mapping
header sets the source (and, for the operators' feeds, the operator); each model's own
validators in SQL for the set-based checks; the child groups."""

from __future__ import annotations

from conform.contract import ChildGroup, Contract

from .models import (
    _VIN,
    VIN_CHARACTERS,
    VIN_VALUES,
    VIN_WEIGHTS,
    CarParkOccupancy,
    ChargePeriod,
    ChargeSession,
    ConnectorStatus,
    ListedEquipment,
    LoadPoint,
    RoadSegment,
    SegmentFlow,
    StationListing,
    StationTransformer,
    Transformer,
    TransformerDay,
)
from .models import PERIODS_TOLERANCE_KWH as _TOLERANCE

#: the sum of an order's period energies, beside the order for its check
_PERIODS_KWH = "_periods_kwh"


def _vin_check_sql(_scope: object, _registry: object) -> str:
    """ChargeSession._vin_check_character in SQL: ISO 3779's weighted sum mod 11, judged
    on well-formed VINs only (a malformed one fails its pattern)."""
    values = "[" + ", ".join(map(str, VIN_VALUES)) + "]"
    terms = " + ".join(
        f"{w} * list_extract({values}, instr('{VIN_CHARACTERS}', substr(car_vin, {i + 1}, 1)))"
        for i, w in enumerate(VIN_WEIGHTS) if w)
    return (f"car_vin IS NULL OR NOT regexp_full_match(car_vin, '{_VIN.strip('^$')}') "
            f"OR substr(car_vin, 9, 1) = substr('0123456789X', (({terms}) % 11) + 1, 1)")


CONTRACTS = {
    # the departments' series
    "flows": Contract(root=SegmentFlow, header=("source",)),
    "occupancy": Contract(
        root=CarParkOccupancy, header=("source",),
        model_checks={CarParkOccupancy: {
            "_free_within_total": lambda _scope, _registry: "free_berths <= total_berths"}}),
    "loads": Contract(root=TransformerDay, groups={"load_points": ChildGroup(LoadPoint)},
                      header=("source",)),
    # one connector's status in one 5-minute slot; the operator's id comes with the mapping
    "statuses": Contract(root=ConnectorStatus, header=("source", "operator_code")),
    # one charge order with its time-of-use periods; VIN and plate never in a message
    "sessions": Contract(
        root=ChargeSession,
        groups={"charge_periods": ChildGroup(
            ChargePeriod, aggregates={_PERIODS_KWH: 'sum("energy_kwh")'})},
        header=("source", "operator_code"),
        sensitive=frozenset({"car_vin", "plate_number"}),
        model_checks={ChargeSession: {
            "_vin_check_character": _vin_check_sql,
            "_periods_add_up": lambda _scope, _registry: (
                f"{_PERIODS_KWH} IS NULL OR abs({_PERIODS_KWH} - energy_kwh) <= {_TOLERANCE}"),
        }}),
    # stations and what they stand by: the listings (an operator's StationInfos and the
    # register's filings, their piles as a child group), the road segments, the
    # transformers and the hand-kept station → transformer table
    "listings": Contract(root=StationListing,
                         groups={"listing_equipment": ChildGroup(ListedEquipment)},
                         header=("source",)),
    "road_segments": Contract(root=RoadSegment, header=("source",)),
    "transformers": Contract(root=Transformer, header=("source",)),
    "station_transformers": Contract(root=StationTransformer, header=("source",)),
}
