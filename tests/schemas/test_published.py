"""The committed copy of the contract (schemas/published/) matches what the models export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from packs.disputes.codes import CATEGORIES, CaseStatus
from packs.disputes.contract import CONTRACT
from packs.disputes.models import MODELS, SCHEMA_VERSION
from schemas.contract import Contract
from schemas.export import export, snake_name
from schemas.grades import Grade, contract_field
from schemas.labelled import LabelledStrEnum
from schemas.reasons import Reason

PUBLISHED = Path(__file__).resolve().parents[2] / "schemas" / "published"
HOW_TO_FIX = "the contract changed: run `silobridge schemas export schemas/published`"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return export(tmp_path_factory.mktemp("published"), CONTRACT)


def test_published_copy_is_up_to_date(exported: list[Path]) -> None:
    assert sorted(p.name for p in PUBLISHED.iterdir()) == sorted(p.name for p in exported), \
        HOW_TO_FIX
    for path in exported:
        committed = (PUBLISHED / path.name).read_bytes()
        assert path.read_bytes() == committed, f"{path.name} differs: {HOW_TO_FIX}"


def test_export_is_deterministic(exported: list[Path], tmp_path: Path) -> None:
    again = export(tmp_path, CONTRACT)
    assert [p.name for p in again] == [p.name for p in exported]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(again, exported, strict=True))


def test_files_are_utf8_json_with_a_trailing_newline(exported: list[Path]) -> None:
    for path in exported:
        text = path.read_bytes().decode("utf-8")
        assert text.endswith("\n") and not text.endswith("\n\n"), path.name
        if path.suffix == ".json":
            json.loads(text)
            assert "\\u" not in text, path.name  # Chinese written as itself


def test_one_schema_per_model_with_the_version(exported: list[Path]) -> None:
    by_name = {p.name: p for p in exported}
    for model in MODELS:
        schema = json.loads(by_name[f"{snake_name(model.__name__)}.schema.json"].read_text())
        assert schema["x-schema-version"] == SCHEMA_VERSION
        assert "$id" not in schema
        assert schema["title"] == model.__name__
        assert list(schema["properties"]) == list(model.model_fields)


def test_code_lists_and_reasons(exported: list[Path]) -> None:
    folder = exported[0].parent
    lists = json.loads((folder / "code_lists.json").read_text(encoding="utf-8"))
    assert [c["code"] for c in lists["categories"]] == list(CATEGORIES)
    assert all(c["bucket"] for c in lists["categories"])
    assert [s["value"] for s in lists["case_status"]] == [s.value for s in CaseStatus]
    assert all(s["zh"] for s in lists["case_status"])
    for key in ("level", "channel", "satisfaction", "gender", "role", "flow_action",
                "province_status", "datum", "supervision", "scale", "party_kind"):
        assert lists[key], key
    reasons = json.loads((folder / "reasons.json").read_text(encoding="utf-8"))
    assert list(reasons) == [r.value for r in Reason]


def test_dictionary_mentions_every_field_and_reason(exported: list[Path]) -> None:
    text = (exported[0].parent / "data_dictionary.md").read_text(encoding="utf-8")
    assert SCHEMA_VERSION in text.splitlines()[0]
    sections = dict(re.findall(r"^### (\w+)\n(.*?)(?=^##)", text, flags=re.M | re.S))
    for model in MODELS:
        for name in model.model_fields:
            assert f"| `{name}` |" in sections[model.__name__], f"{model.__name__}.{name}"
    for reason in Reason:
        assert f"`{reason.value}`" in text
    for zh in CATEGORIES.values():
        assert zh in text


class Plug(LabelledStrEnum):
    """Charging plugs."""

    GBT = "gbt", "国标", "GB/T 20234"
    CCS = "ccs", "欧标", "CCS"


class Charger(BaseModel):
    """One charger of a station."""

    station_id: str = contract_field(Grade.L1, "站点编号", "station id")
    plug: Plug = contract_field(Grade.L1, "接口", "plug")


def test_another_domains_contract_exports_through_the_same_engine(tmp_path: Path) -> None:
    toy = Contract(title="充电设施数据共享 / Charging data sharing", version="0.1.0",
                   models=(Charger,), record="charger", enums=(Plug,))
    written = export(tmp_path, toy)
    assert [p.name for p in written] == ["charger.schema.json", "code_lists.json",
                                         "reasons.json", "data_dictionary.md"]
    lists = json.loads((tmp_path / "code_lists.json").read_text(encoding="utf-8"))
    assert lists == {"schema_version": "0.1.0", "plug": [
        {"name": "GBT", "value": "gbt", "zh": "国标", "en": "GB/T 20234"},
        {"name": "CCS", "value": "ccs", "zh": "欧标", "en": "CCS"}]}
    text = (tmp_path / "data_dictionary.md").read_text(encoding="utf-8")
    assert text.startswith("# 充电设施数据共享 / Charging data sharing (schema 0.1.0)\n")
    assert "Every charger record you send must fit one **Charger**." in text
    assert "codes must come from the code lists; unknown fields are refused" in text
    assert "### Plug\n\nCharging plugs.\n\n| code | name | 中文 | English |" in text
    assert "| `plug` | 接口 | plug | code (Plug) | yes | L1 | one of: gbt, ccs |" in text
