"""What a quarantine example may show follows the grades of the contract it is handed:
any pack's models, not the dispute's (a charging station with its connectors here)."""

from __future__ import annotations

from pydantic import BaseModel

from conform.contract import ChildGroup, Contract
from quality.masking import disclosure, mask_message
from schemas.grades import Grade, contract_field


class Connector(BaseModel):
    seq: int = contract_field(Grade.L1, "序号", "position")
    standard: str = contract_field(Grade.L1, "标准", "standard")
    owner_phone: str | None = contract_field(Grade.L4, "车主电话", "owner's phone", None,
                                             mask="phone")


class Station(BaseModel):
    source: str = contract_field(Grade.L1, "来源", "source")
    station_id: str = contract_field(Grade.L1, "站点编号", "station id")
    opened_at: str | None = contract_field(Grade.L2, "投运时间", "opened at", None)
    keeper: str | None = contract_field(Grade.L3, "管理员", "keeper", None, mask="name")
    connectors: tuple[Connector, ...] = contract_field(Grade.L1, "枪", "connectors", (),
                                                       mask="nested")


CONTRACT = Contract(root=Station, groups={"connectors": ChildGroup(Connector)})


def test_the_public_fields_are_the_roots_low_grades_without_its_child_groups() -> None:
    shown = disclosure(CONTRACT)
    # a child group's column holds whole rows of another model: never shown, whatever
    # its own grade says
    assert shown.public == {"source", "station_id", "opened_at"}
    # what messages must not quote comes from every model of the contract
    assert shown.sensitive == {"keeper", "owner_phone"}


def test_a_message_about_a_sensitive_child_field_withholds_the_quoted_value() -> None:
    sensitive = disclosure(CONTRACT).sensitive
    message = "'13800001111' is not a valid number"
    assert mask_message("connectors[1].owner_phone", message, sensitive) == \
        "'‹withheld›' is not a valid number"
    assert mask_message("connectors[1].standard", "'CCS9' is unknown", sensitive) == \
        "'CCS9' is unknown"
