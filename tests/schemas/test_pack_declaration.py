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
