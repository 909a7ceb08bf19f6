"""Same spec, same bytes: for generate, and for generate followed by advance."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from packs.disputes.mockworld.spec import Manifest, WorldSpec
from packs.disputes.mockworld.world import advance, generate


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_spec_writes_identical_bytes(tmp_path: Path) -> None:
    spec = WorldSpec(seed=3, cases=700, days=12)
    generate(tmp_path / "a", spec)
    generate(tmp_path / "b", spec)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert any(k.endswith(".xlsx") for k in a) and any(k.endswith(".sqlite") for k in a)


def test_another_seed_gives_another_world(tmp_path: Path) -> None:
    generate(tmp_path / "a", WorldSpec(seed=3, cases=300, days=5))
    generate(tmp_path / "b", WorldSpec(seed=4, cases=300, days=5))
    assert (tmp_path / "a/answer_key/records.csv").read_bytes() != \
        (tmp_path / "b/answer_key/records.csv").read_bytes()


def test_advance_is_deterministic_and_keeps_old_files(small_world: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(small_world, a)
    shutil.copytree(small_world, b)
    before = _tree(a)
    advance(a, 2)
    advance(b, 2)
    after_a, after_b = _tree(a), _tree(b)
    assert after_a == after_b
    assert Manifest.read(a).days_done == Manifest.read(small_world).days_done + 2
    # daily exports already delivered are never rewritten
    old_exports = [k for k in before if k.startswith(("grid/", "township/"))]
    assert old_exports and all(after_a[k] == before[k] for k in old_exports)
    new_exports = [k for k in after_a if k.startswith(("grid/", "township/")) and k not in before]
    assert new_exports


def test_generate_refuses_a_folder_that_is_not_a_world(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        generate(tmp_path, WorldSpec(cases=10, days=1))
    assert (tmp_path / "mine.txt").exists()


def test_regenerating_replaces_the_old_world(tmp_path: Path) -> None:
    generate(tmp_path / "w", WorldSpec(seed=1, cases=200, days=4))
    generate(tmp_path / "w", WorldSpec(seed=1, cases=200, days=3))
    generate(tmp_path / "x", WorldSpec(seed=1, cases=200, days=3))
    cmp = filecmp.dircmp(tmp_path / "w", tmp_path / "x")
    assert not cmp.left_only and not cmp.right_only
