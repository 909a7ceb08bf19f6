"""Every code list is declared once with Chinese and English labels, and CODE_LISTS (what
the warehouse's ref.codes and the snapshot's label columns come from) holds all of them."""

from __future__ import annotations

from enum import Enum

import pytest

from packs.disputes import codes
from packs.disputes.codes import CODE_LISTS, CaseStatus, StatusFamily
from schemas.labelled import CodeList, labelled_enums


def _labelled_enums() -> list[type[Enum]]:
    return list(labelled_enums(codes))


def test_every_list_is_in_code_lists_once() -> None:
    names = [cl.name for cl in CODE_LISTS]
    assert len(names) == len(set(names))
    listed = {tuple(c.code for c in cl.codes) for cl in CODE_LISTS}
    for enum in _labelled_enums():
        assert tuple(str(m.value) for m in enum) in listed, enum.__name__
    assert tuple(codes.CATEGORIES) in listed


@pytest.mark.parametrize("code_list", CODE_LISTS, ids=lambda cl: cl.name)
def test_every_code_has_both_labels(code_list: CodeList) -> None:
    assert code_list.zh and code_list.en
    assert code_list.codes
    for code in code_list.codes:
        assert code.zh.strip() and code.en.strip(), code
        assert code.en.isascii(), code  # English, not a copy of the Chinese
    if code_list.group:  # groups name codes of the list they come from
        group = next(cl for cl in CODE_LISTS if cl.name == code_list.group)
        assert {c.group for c in code_list.codes} <= {c.code for c in group.codes}


def test_one_status_family_per_status() -> None:
    # the three families analysts count by, and the statuses no mart counts
    assert {s.value for s in CaseStatus if s.family is StatusFamily.OPEN} == {
        "registered", "accepted", "assigned", "in_progress", "verify_failed"}
    assert {s.value for s in CaseStatus if s.family is StatusFamily.ESCALATED} == {"escalated"}
    assert {s.value for s in CaseStatus if s.is_resolved} == {
        "resolved", "verifying", "verified", "closed"}
    assert {s.value for s in CaseStatus if s.family is StatusFamily.VOID} == {
        "merged", "rejected"}


def test_labels_travel_with_the_codes() -> None:
    assert CaseStatus("escalated").zh == "已上报"
    assert codes.Level(20).en == "township"
    assert codes.Channel("浙里办").en == "Zheliban app"
    assert codes.PROVINCE_STATUS[800] == "待验证"
    assert codes.CATEGORY_BUCKET["14"] is codes.Bucket.PROPERTY
