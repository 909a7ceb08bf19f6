"""The app layer reads what a pack declares in Python (its snapshot catalogue, its
published contract) from the pack's package, and says so when a pack lacks one."""

from __future__ import annotations

from pathlib import Path

import pytest

from packs.disputes.catalogue import CATALOGUE
from packs.disputes.contract import CONTRACT
from schemas.pack import PackError
from silobridge.packs import catalogue, contract, only, pack


def test_the_dispute_packs_declarations_are_found_through_its_declaration() -> None:
    disputes = pack("disputes")
    assert catalogue(disputes) is CATALOGUE
    assert contract(disputes) is CONTRACT
    assert only(None) == disputes == only("disputes")


def test_a_pack_without_a_declaration_says_which(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "toypack").mkdir()
    (tmp_path / "toypack" / "__init__.py").write_text("")
    (tmp_path / "toypack" / "catalogue.py").write_text("CATALOGUE = 'not a catalogue'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    toy = pack("disputes").model_copy(update={"name": "toy", "package": "toypack"})
    with pytest.raises(PackError, match=r"toypack.catalogue declares no CATALOGUE"):
        catalogue(toy)
    with pytest.raises(PackError, match=r"'toy' has no module toypack.contract"):
        contract(toy)
