"""A source's settings section: the pack's defaults under what the user sets, old
variable names still read."""

from __future__ import annotations

from pathlib import Path

import pytest

from silobridge.settings import load_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SILOBRIDGE_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .env of the working tree
    return tmp_path


def test_the_dispute_packs_defaults_and_cursor(home: Path) -> None:
    settings = load_settings()
    province, county = settings.source_config("province"), settings.source_config("county")
    assert (province.resource_path, province.updated_field, province.scope_param,
            province.upload_key) == ("/api/v1/mdjf/cases", "zjgxsj", "qxdm", "ysjbh")
    assert province.scope_value is None
    assert (county.table, county.updated_column) == ("t_dispute_case", "updated_at")
    assert set(county.children) == {"parties", "flows"}
    assert str(home) in county.url


def test_county_code_is_still_read_as_the_scope(home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILOBRIDGE_PROVINCE__COUNTY_CODE", "330421")
    assert load_settings().source_config("province").scope_value == "330421"
    monkeypatch.setenv("SILOBRIDGE_PROVINCE__SCOPE_VALUE", "330402")
    assert load_settings().source_config("province").scope_value == "330402"
    monkeypatch.delenv("SILOBRIDGE_PROVINCE__COUNTY_CODE")
    monkeypatch.setenv("SILOBRIDGE_COUNTY__UPDATED_COLUMN", "modified_at")
    settings = load_settings()
    assert settings.source_config("province").scope_value == "330402"
    assert settings.source_config("county").updated_column == "modified_at"
    assert settings.source_config("county").table == "t_dispute_case"
