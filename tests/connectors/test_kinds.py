"""Connector kinds: a source's settings start from its pack's defaults and its cursor."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.kinds import KINDS
from schemas.pack import PackError, SourceDeclaration
from silobridge.packs import installed


def _source(connector: str, cursor: str, **defaults: object) -> SourceDeclaration:
    return SourceDeclaration(name="meter", title_zh="电表", title_en="meters", level="city",
                             department="供电公司", connector=connector, schedule="0 * * * *",
                             why="hourly", freshness="PT1H", cursor=cursor,
                             defaults=dict(defaults))


@pytest.mark.parametrize("source", [s for p in installed().values() for s in p.sources],
                         ids=lambda s: s.name)
def test_every_installed_source_has_valid_connector_settings(source: SourceDeclaration
                                                             ) -> None:
    kind = KINDS[source.connector]
    config = kind.config(**kind.defaults(source))
    if kind.cursor_setting is not None:  # the declared cursor is what extraction follows
        assert getattr(config, kind.cursor_setting) == source.cursor
    kind.build(config, source.name)


def test_the_declared_cursor_fills_the_kinds_setting() -> None:
    sql = _source("sql", "modified", table="readings")
    assert KINDS["sql"].defaults(sql) == {"table": "readings", "updated_column": "modified"}
    api = _source("signed_api", "gxsj", resource_path="/v1/readings")
    assert KINDS["signed_api"].defaults(api)["updated_field"] == "gxsj"
    # file drops keep their own position: their cursor is no setting
    drop = _source("file_drop", "file", path=str(Path("/srv/drop")))
    assert KINDS["file_drop"].defaults(drop) == {"path": "/srv/drop"}


def test_a_cursor_declared_twice_is_a_pack_error() -> None:
    twice = _source("sql", "modified", table="readings", updated_column="changed")
    with pytest.raises(PackError, match="meter: `updated_column` is its declared `cursor`"):
        KINDS["sql"].defaults(twice)


def test_renamed_settings_are_read_under_their_old_names() -> None:
    source = _source("signed_api", "gxsj").model_copy(
        update={"renamed": {"region_code": "scope_value"}})
    assert source.under_current_names({"region_code": "330402", "page_size": 5}) == {
        "scope_value": "330402", "page_size": 5}
    # given under both names, the name now wins
    assert source.under_current_names({"region_code": "1", "scope_value": "2"}) == {
        "scope_value": "2"}
