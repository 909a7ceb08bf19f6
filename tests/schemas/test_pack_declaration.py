"""pack.toml's staging: one contract under [pack], or several in a [staging] table with
each source naming its own; anything else is one PackError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.pack import MAIN, PackError, load_pack

_SOURCE = """
[sources.{name}]
title_zh = "甲"
title_en = "a"
level = "county"
department = "甲局"
connector = "file_drop"
schedule = "0 * * * *"
why = "hourly files"
freshness = "PT1H"
cursor = "file"
{extra}
"""


def _pack(folder: Path, head: str, *sources: tuple[str, str]) -> Path:
    text = ('[pack]\nname = "toy"\ntitle_zh = "玩具"\ntitle_en = "toy"\npackage = "toy"\n'
            + head + "".join(_SOURCE.format(name=n, extra=e) for n, e in sources))
    folder.mkdir(exist_ok=True)
    (folder / "pack.toml").write_text(text, encoding="utf-8")
    return folder


def test_one_contract_is_named_main(tmp_path: Path) -> None:
    decl = load_pack(_pack(tmp_path, 'staging = "staging.things"\n', ("a", "")))
    assert decl.staging == {MAIN: "staging.things"} and decl.single_contract
    assert decl.contract_name("a") == MAIN


def test_several_contracts_each_source_names_its_own(tmp_path: Path) -> None:
    head = '[staging]\nsites = "staging.sites"\nreadings = "staging.readings"\n'
    decl = load_pack(_pack(tmp_path, head, ("a", 'contract = "sites"'),
                           ("b", 'contract = "readings"')))
    assert not decl.single_contract
    assert [decl.contract_name(s) for s in ("a", "b")] == ["sites", "readings"]


@pytest.mark.parametrize(("head", "extra", "problem"), [
    ("", "", "give `staging` under \\[pack\\]"),
    ('staging = "staging.x"\n[staging]\nx = "staging.x"\n', "", "not both or neither"),
    ('[staging]\nx = "staging.x"\n', "", "source 'a' must name its contract, one of x"),
    ('[staging]\nx = "staging.x"\n', 'contract = "y"', "must name its contract"),
    ('staging = "staging.x"\n', 'contract = "x"', "the pack has one contract"),
    ('[staging]\nx = "nodot"\n', 'contract = "x"', "staging.x: String should match"),
])
def test_a_wrong_staging_says_what(tmp_path: Path, head: str, extra: str,
                                   problem: str) -> None:
    with pytest.raises(PackError, match=problem) as e:
        load_pack(_pack(tmp_path, head, ("a", extra)))
    assert str(tmp_path / "pack.toml") in str(e.value)


def test_sources_of_one_system_share_its_declaration(tmp_path: Path) -> None:
    """[systems.<name>]: what an operator's platform's sources share, declared once."""
    head = ('staging = "staging.x"\n'
            '[systems.op]\ndepartment = "运营商"\nconnector = "file_drop"\n'
            '[systems.op.defaults]\npath = "/data/op"\npatterns = ["*.csv"]\n')
    text = _pack(tmp_path, head).joinpath("pack.toml").read_text(encoding="utf-8")
    for name, extra in (("a", ""), ("b", '[sources.b.defaults]\npatterns = ["*.json"]')):
        text += ("\n[sources." + name + ']\nsystem = "op"\ntitle_zh = "甲"\ntitle_en = "a"\n'
                 'level = "county"\nschedule = "0 * * * *"\nwhy = "hourly"\n'
                 'freshness = "PT1H"\ncursor = "file"\n' + extra + "\n")
    (tmp_path / "pack.toml").write_text(text, encoding="utf-8")
    decl = load_pack(tmp_path)
    a, b = decl.source("a"), decl.source("b")
    assert (a.department, a.connector, b.department) == ("运营商", "file_drop", "运营商")
    assert a.defaults == {"path": "/data/op", "patterns": ["*.csv"]}
    assert b.defaults == {"path": "/data/op", "patterns": ["*.json"]}  # its own wins
    (tmp_path / "pack.toml").write_text(text.replace('system = "op"', 'system = "no"', 1),
                                        encoding="utf-8")
    with pytest.raises(PackError, match=r"sources.a.system: no \[systems.no\]"):
        load_pack(tmp_path)
