"""The dispute pack's contract with the conform engine (conform.contract): what its
records must be to enter. (What it publishes for other departments is contract.py.)

A source record of a dispute conforms to one `DisputeCase` with its `Party`s and
`FlowEvent`s (models.py); this module says, once, what the engine cannot read off
those models: the parties come in several layouts per mapping file (`[[parties]]`) and
are persons or organisations, the flow log is one JSON array (`[events]`), which fields
messages never quote, the division and grid registry the lookups consult, and the SQL
forms of DisputeCase's own validators. The app layer hands `CONTRACT` to the engine with
the mapping files in `mappings/` beside this module.
"""

from __future__ import annotations

from conform.contract import (
    ChildGroup,
    CodeCheck,
    CodeList,
    Contract,
    Derived,
    Kinds,
    Lookup,
    Reference,
)
from schemas import checks
from schemas.model_sql import CASE_CHECKS, LAST_EVENT_AT

from .codes import CATEGORIES, CaseStatus
from .models import DIVISION_FIELDS, DisputeCase, FlowEvent, Party
from .reference import DivisionRegistry, load_reference, registry_views


def _divisions(level: str) -> str:
    return f"SELECT * FROM ref.divisions WHERE level = '{level}'"  # noqa: S608 - a constant


DIVISIONS = Reference(
    label="the division registry",
    tables=("ref.divisions", "ref.grids"),
    lookups={
        "village": Lookup(_divisions("village"),
                          ("村民委员会", "村委会", "社区居委会", "居委会", "社区", "村")),
        "township": Lookup(_divisions("township"),
                           ("街道办事处", "街道", "人民政府", "镇", "乡")),
    },
    # a county's registry covers its own townships, villages and grids; the province's
    # counties are all known
    checks={
        "grid": CodeCheck("SELECT code FROM ref.grids", covered=6),
        "village": CodeCheck(_divisions("village"), covered=6),
        "township": CodeCheck(_divisions("township"), covered=6),
        "county": CodeCheck(_divisions("county"), covered=2),
    },
    load=load_reference,
    registry=DivisionRegistry.from_warehouse,
    views=registry_views,
)

PARTIES = ChildGroup(
    Party, repeated=True, counted_by="name",
    sensitive=frozenset({"id_number", "id_number_masked", "credit_code", "phone"}),
    # legacy systems put organisations' credit codes in the ID column
    kinds=Kinds(field="kind", marked="organisation", other="person", marker="credit_code",
                shared="id", other_field="id_number", shape=checks.looks_like_credit_code,
                other_only=("gender",), aligned="persons"),
)
# the scope's future check reads the latest event beside the case
EVENTS = ChildGroup(FlowEvent, aggregates={LAST_EVENT_AT: 'max("at")'})

CONTRACT = Contract(
    root=DisputeCase,
    groups={"parties": PARTIES, "events": EVENTS},
    header=("source", "source_level"),
    derived=Derived("_wgs84_from_the_source_datum", inputs=("lon", "lat", "datum"),
                    outputs=("lon_wgs84", "lat_wgs84")),
    code_lists={checks.check_category: CodeList("the 28 categories", frozenset(CATEGORIES))},
    tables={"@resolved_status": {s.value: s.is_resolved for s in CaseStatus}},
    reference=DIVISIONS,
    model_checks={DisputeCase: CASE_CHECKS},
    scoped=DIVISION_FIELDS,
)
