"""The canonical models: a good record round-trips, each bad one fails with its reason code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError

from packs.disputes.models import MODELS, DisputeCase, FlowEvent, Grid, Party
from schemas.export import reasons_raised
from schemas.geo import gcj02_to_wgs84
from schemas.grades import Grade, grade_of, labels_of
from schemas.scope import Scope

COUNTY, TOWN, VILLAGE, GRID = "330421", "330421001", "330421001201", "330421001201003"


def good_case(**changes: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "source": "county", "source_record_id": "C-2024-0007",
        "display_no": "2403153304210007", "title": "宅基地界址纠纷",
        "summary": "两户因宅基地界址发生争执，村调委会介入调解。", "category_code": "14",
        "scale": "individual", "people_count": 2, "amount": "12000.50",
        "county_code": COUNTY, "town_code": TOWN, "village_code": VILLAGE, "grid_code": GRID,
        "address": "魏塘街道某村3组", "lon": 120.9214, "lat": 30.8407, "datum": "GCJ02",
        "occurred_at": "2024-03-05T09:30:00+08:00", "reported_at": "2024-03-05T10:00:00+08:00",
        "accepted_at": "2024-03-05T11:00:00+08:00", "resolved_at": "2024-03-08T16:00:00+08:00",
        "closed_at": "2024-03-09T09:00:00+08:00", "channel": "网格员巡查", "source_level": 30,
        "handling_level": 20, "status": "closed", "source_status": "1100",
        "handling_org": "魏塘街道人民调解委员会", "handler": "李调解", "method": "调解",
        "resolved": True, "satisfaction": "满意", "supervision": "普通", "major": False,
        "urgent": False,
        "parties": [
            {"seq": 0, "role": "申请方", "kind": "person", "name": "张三", "gender": 1,
             "id_number": "11010519491231002x", "phone": "+86 138 1234 5678",
             "address": "魏塘街道某村3组12号"},
            {"seq": 1, "role": "被申请方", "kind": "organisation", "name": "某某建材有限公司",
             "credit_code": "91350100M000100Y43", "phone": "0573-84123456"},
        ],
        "events": [
            {"seq": 0, "action": "上报", "at": "2024-03-05T10:00:00+08:00", "from_level": 0,
             "to_level": 20},
            {"seq": 1, "action": "办结", "at": "2024-03-08T16:00:00+08:00", "org": "调委会",
             "note": "双方签订调解协议"},
        ],
    }
    return {**case, **changes}


def errors(data: dict[str, Any], model: type[BaseModel] = DisputeCase,
           context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data, context=context)
    return caught.value.errors()


def only_error(data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    found = errors(data, **kwargs)
    assert len(found) == 1, found
    return found[0]


# -- a good record ------------------------------------------------------------------------
def test_valid_case_round_trips() -> None:
    case = DisputeCase.model_validate(good_case())
    assert case.parties[0].id_number == "11010519491231002X"
    assert case.parties[0].phone == "13812345678"
    assert case.amount == Decimal("12000.50")
    assert DisputeCase.model_validate(case.model_dump()) == case
    assert DisputeCase.model_validate(case.model_dump(mode="json")) == case
    assert DisputeCase.model_validate_json(case.model_dump_json()) == case


def test_minimal_case_is_enough() -> None:
    keep = ("source", "source_record_id", "category_code", "county_code", "town_code",
            "occurred_at", "source_level")
    case = DisputeCase.model_validate({k: good_case()[k] for k in keep})
    assert case.parties == () and case.lon_wgs84 is None


def test_legacy_id_is_upgraded_inside_a_party() -> None:
    party = Party.model_validate({"seq": 0, "role": "其他", "kind": "person", "name": "张三",
                                  "id_number": "110105491231002"})
    assert party.id_number == "11010519491231002X"


# -- coordinates --------------------------------------------------------------------------
def test_wgs84_is_computed_from_gcj02() -> None:
    case = DisputeCase.model_validate(good_case())
    lon, lat = gcj02_to_wgs84(120.9214, 30.8407)
    assert (case.lon_wgs84, case.lat_wgs84) == (round(lon, 7), round(lat, 7))
    assert (case.lon, case.lat) == (120.9214, 30.8407)  # what the source said is kept
    assert abs(case.lon_wgs84 - case.lon) > 1e-3  # GCJ-02 is hundreds of metres off


@pytest.mark.parametrize("datum", ["WGS84", "CGCS2000", None])
def test_wgs84_and_cgcs2000_are_taken_as_they_are(datum: str | None) -> None:
    case = DisputeCase.model_validate(good_case(datum=datum))
    assert (case.lon_wgs84, case.lat_wgs84) == (120.9214, 30.8407)


def test_given_wgs84_is_kept() -> None:
    case = DisputeCase.model_validate(good_case(lon_wgs84=120.9, lat_wgs84=30.8))
    assert (case.lon_wgs84, case.lat_wgs84) == (120.9, 30.8)


# -- each reason from a minimal bad record ------------------------------------------------
class Registry:
    """Reference data holding one township, village and grid, and every village of Jiashan."""

    def has_township(self, code: str) -> bool:
        return code == TOWN

    def has_village(self, code: str) -> bool:
        return code == VILLAGE

    def has_grid(self, code: str) -> bool:
        return code == GRID

    def covers_villages_of(self, county: str) -> bool:
        return county == COUNTY


def _without(key: str) -> dict[str, Any]:
    case = good_case()
    del case[key]
    return case


def _party(**changes: Any) -> dict[str, Any]:
    return good_case(parties=[{**good_case()["parties"][0], **changes}])


BAD_RECORDS: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = [
    ("missing", _without("category_code"), ("category_code",)),
    ("missing", _without("occurred_at"), ("occurred_at",)),
    ("unknown_code", good_case(category_code="99"), ("category_code",)),
    ("enum", good_case(status="done"), ("status",)),
    ("enum", good_case(source_level=25), ("source_level",)),
    ("date_order", good_case(accepted_at="2024-03-04T09:00:00+08:00", reported_at=None), ()),
    ("bad_division", good_case(village_code="330421002201", grid_code=None), ()),
    ("bad_division", good_case(town_code="330422001", village_code=None, grid_code=None), ()),
    ("bad_division", good_case(grid_code="330421001202003"), ()),
    ("bad_division", good_case(county_code="33042"), ("county_code",)),
    ("string_too_long", good_case(source_status="9" * 51), ("source_status",)),
    ("string_too_long", _party(name="张" * 201), ("parties", 0, "name")),
    # optional text keeps its length inside the type, so it fails the same way
    ("string_too_long", good_case(title="纠" * 201), ("title",)),
    ("greater_than_equal", good_case(amount="-1"), ("amount",)),
    ("greater_than_equal", good_case(people_count=0), ("people_count",)),
    ("less_than_equal", good_case(lon=150.0, datum="WGS84"), ("lon",)),
    ("decimal_max_places", good_case(amount="1.005"), ("amount",)),
    ("impossible_date", good_case(occurred_at="1999-12-31T09:00:00+08:00"), ("occurred_at",)),
    ("timezone_aware", good_case(occurred_at="2024-03-05T09:30:00"), ("occurred_at",)),
    ("mojibake", good_case(title="寮犱笁"), ("title",)),
    ("mojibake", good_case(handler="ÕÅÈý"), ("handler",)),
    ("bad_check_digit", _party(id_number="110105194912310021"), ("parties", 0, "id_number")),
    ("bad_identifier", _party(id_number="11010519491331002X"), ("parties", 0, "id_number")),
    ("bad_identifier", _party(phone="1381234567"), ("parties", 0, "phone")),
    ("bad_check_digit", _party(credit_code="91350100M000100Y44"), ("parties", 0, "credit_code")),
    ("extra_forbidden", good_case(sfzh="11010519491231002X"), ("sfzh",)),
]


@pytest.mark.parametrize(("reason", "data", "loc"), BAD_RECORDS,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BAD_RECORDS)])
def test_bad_record_fails_with_its_reason(reason: str, data: dict[str, Any],
                                          loc: tuple[Any, ...]) -> None:
    error = only_error(data)
    assert error["type"] == reason
    assert error["loc"] == loc


def test_date_order_names_the_later_field() -> None:
    error = only_error(good_case(accepted_at="2024-03-04T09:00:00+08:00", reported_at=None))
    assert error["ctx"]["field"] == "accepted_at"
    assert error["ctx"]["earlier"] == "occurred_at"


def test_date_order_looks_past_missing_times() -> None:
    error = only_error(good_case(resolved_at=None, closed_at="2024-03-05T10:30:00+08:00"))
    assert (error["type"], error["ctx"]["field"]) == ("date_order", "closed_at")


def test_village_outside_town_names_the_village() -> None:
    error = only_error(good_case(village_code="330421002201", grid_code=None))
    assert error["ctx"]["field"] == "village_code"


def test_valid_record_passes_the_registry() -> None:
    assert DisputeCase.model_validate(good_case(), context={"registry": Registry()})


@pytest.mark.parametrize(("changes", "field"), [
    ({"town_code": "330421002", "village_code": None, "grid_code": None}, "town_code"),
    ({"village_code": "330421001299", "grid_code": None}, "village_code"),
    ({"grid_code": "330421001201999"}, "grid_code"),
])
def test_registry_rejects_unknown_divisions(changes: dict[str, Any], field: str) -> None:
    error = only_error(good_case(**changes), context={"registry": Registry()})
    assert (error["type"], error["ctx"]["field"]) == ("unknown_code", field)
    # without reference data only the structure is checked
    assert DisputeCase.model_validate(good_case(**changes))


def test_registry_skips_villages_of_counties_it_does_not_cover() -> None:
    case = good_case(county_code="330402", town_code="330402001",
                     village_code="330402001201", grid_code=None)
    with pytest.raises(ValidationError) as caught:
        DisputeCase.model_validate(case, context={"registry": Registry()})
    assert caught.value.errors()[0]["ctx"]["field"] == "town_code"  # township, not village


def test_another_provinces_township_is_unknown_to_the_registry() -> None:
    # it used to pass: the registry looked only at Zhejiang's townships (town_code[:2] ==
    # "33") and county codes only had to have six digits
    case = good_case(county_code="110101", town_code="110101001", village_code=None,
                     grid_code=None)
    error = only_error(case, context={"registry": Registry()})
    assert (error["type"], error["ctx"]["field"]) == ("unknown_code", "town_code")


# -- scope: the deployment's divisions, and times past the record's receipt ---------------
# good_case's last time is closed_at 2024-03-09 09:00 (+08:00)
RECEIVED = datetime(2024, 3, 8, 9, 0, tzinfo=UTC)  # 17:00 in Zhejiang
ZHEJIANG = Scope(("33",), timedelta(days=1))
BEIJING = {"county_code": "110101", "town_code": "110101001", "village_code": None,
           "grid_code": None}


def scoped(scope: Scope = ZHEJIANG, received: datetime | None = RECEIVED,
           registry: bool = False) -> dict[str, Any]:
    return {"scope": scope, "received_at": received,
            **({"registry": Registry()} if registry else {})}


SCOPED_RECORDS: list[tuple[str, dict[str, Any], str]] = [
    ("out_of_scope", good_case(**BEIJING), "county_code"),
    # nests badly too, and no registry knows it: out of scope says why
    ("out_of_scope", good_case(county_code="110101", village_code=None, grid_code=None),
     "county_code"),
    ("out_of_scope", good_case(village_code=None, grid_code="110101001001001"), "grid_code"),
    ("out_of_scope", good_case(grid_code="440101001001001"), "grid_code"),
    ("in_future", good_case(closed_at="2027-03-09T09:00:00+08:00"), "closed_at"),
    ("in_future", good_case(source_updated_at="2024-03-09T17:00:01+08:00"),
     "source_updated_at"),
    ("in_future", good_case(events=[{**good_case()["events"][0]},
                                    {**good_case()["events"][1],
                                     "at": "2027-03-08T16:00:00+08:00"}]), "events[1].at"),
]


@pytest.mark.parametrize(("reason", "data", "field"), SCOPED_RECORDS,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(SCOPED_RECORDS)])
@pytest.mark.parametrize("registry", [False, True], ids=["alone", "with-registry"])
def test_scoped_record_fails_with_its_reason(reason: str, data: dict[str, Any], field: str,
                                             registry: bool) -> None:
    error = only_error(data, context=scoped(registry=registry))
    assert (error["type"], error["ctx"]["field"]) == (reason, field)
    # without a scope, or without a receipt for the future check, it is not judged so
    unjudged: list[dict[str, Any] | None] = [{"received_at": RECEIVED}, None]
    if reason == "in_future":
        unjudged += [{"scope": ZHEJIANG}, scoped(Scope(("33",), None))]
    else:
        unjudged += [scoped(Scope(None, timedelta(days=1)))]
    for context in unjudged:
        try:
            DisputeCase.model_validate(data, context=context)
        except ValidationError as e:
            assert reason not in {x["type"] for x in e.errors()}


def test_a_time_exactly_at_the_tolerance_passes_and_one_second_more_fails() -> None:
    at_edge = "2024-03-09T17:00:00+08:00"  # RECEIVED + 1 day
    assert DisputeCase.model_validate(good_case(closed_at=at_edge), context=scoped())
    assert DisputeCase.model_validate(good_case(source_updated_at=at_edge), context=scoped())
    error = only_error(good_case(closed_at="2024-03-09T17:00:01+08:00"), context=scoped())
    assert (error["type"], error["ctx"]["field"]) == ("in_future", "closed_at")
    # a deployment that widens the tolerance takes it
    wider = Scope(("33",), timedelta(days=1, seconds=1))
    assert DisputeCase.model_validate(good_case(closed_at="2024-03-09T17:00:01+08:00"),
                                      context=scoped(wider))


@pytest.mark.parametrize(("divisions", "changes", "field"), [
    (("330421",), {}, None),
    (("330421",), {"county_code": "330402", "town_code": "330402001", "village_code": None,
                   "grid_code": None}, "county_code"),
    # a county code that merely starts like the prefix's province is not inside it
    (("330421",), {"county_code": "330420", "town_code": "330420001", "village_code": None,
                   "grid_code": None}, "county_code"),
    # a township deployment: its records name their county, which contains it
    (("330421001",), {}, None),
    (("330421001",), {"town_code": "330421002", "village_code": None, "grid_code": None},
     "town_code"),
    (("330421001201",), {"village_code": "330421001202", "grid_code": None}, "village_code"),
    (("33", "11"), BEIJING, None),
])
def test_the_prefix_boundary(divisions: tuple[str, ...], changes: dict[str, Any],
                             field: str | None) -> None:
    context = scoped(Scope(divisions, None))
    if field is None:
        assert DisputeCase.model_validate(good_case(**changes), context=context)
    else:
        error = only_error(good_case(**changes), context=context)
        assert (error["type"], error["ctx"]["field"]) == ("out_of_scope", field)


def test_grid_must_lie_inside_its_village() -> None:
    assert Grid(code=GRID, name="一网格", village_code=VILLAGE)
    error = only_error({"code": "330421001202003", "name": "一网格", "village_code": VILLAGE},
                       model=Grid)
    assert (error["type"], error["ctx"]["field"]) == ("bad_division", "code")


def test_flow_event_time_before_2000_is_impossible() -> None:
    error = only_error({"seq": 0, "action": "受理", "at": "1970-01-01T08:00:00+08:00"},
                       model=FlowEvent)
    assert (error["type"], error["loc"]) == ("impossible_date", ("at",))


def _contract_reasons() -> set[str]:
    """Every reason code a validator of the models names, found by walking the models."""
    found: set[str] = set()
    for model in MODELS:
        for decorator in model.__pydantic_decorators__.model_validators.values():
            found.update(reasons_raised(decorator.func))
        for info in model.model_fields.values():
            found.update(r for m in _all_metadata(info.annotation, info.metadata)
                         if isinstance(m, AfterValidator | BeforeValidator)
                         for r in reasons_raised(m.func))
    return found


def _all_metadata(tp: Any, metadata: list[Any]) -> list[Any]:
    out = list(metadata)
    for arg in getattr(tp, "__args__", ()):
        out += _all_metadata(arg, [])
    return out + list(getattr(tp, "__metadata__", ()))


def test_every_reason_the_models_raise_is_exercised() -> None:
    raised = _contract_reasons()
    assert raised >= {"unknown_code", "bad_division", "date_order", "bad_check_digit",
                      "bad_identifier", "impossible_date", "mojibake", "out_of_scope",
                      "in_future"}
    assert raised <= {reason for reason, _, _ in [*BAD_RECORDS, *SCOPED_RECORDS]}


# -- field metadata -----------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_is_graded_and_labelled(model: type[BaseModel]) -> None:
    properties = model.model_json_schema()["properties"]
    for name, info in model.model_fields.items():
        zh, en = labels_of(info)
        assert grade_of(info) in Grade, name
        assert zh.strip() and en.strip(), name
        assert any("\u4e00" <= c <= "\u9fff" for c in zh), name
        assert properties[name]["x-grade"] == grade_of(info).value
        assert (properties[name]["x-label-zh"], properties[name]["x-label-en"]) == (zh, en)


def test_exactly_id_number_and_phone_are_l4() -> None:
    l4 = {(model.__name__, name) for model in MODELS for name, info in model.model_fields.items()
          if grade_of(info) is Grade.L4}
    assert l4 == {("Party", "id_number"), ("Party", "phone")}
