"""Issue 4 acceptance on the default mock world: linking scored against the answer key,
idempotent reruns, a merge killed with SIGKILL, and new data for existing disputes."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from ops.scoring import score_home
from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import advance, generate
from silobridge.run import merge_step, run_pipeline
from silobridge.settings import Settings

#: the `checksums` and `killed_at` fixtures (tests/warehouse/conftest.py)
Checksums = Callable[..., dict[str, str]]
KilledAt = Callable[[str, str, Path], str]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, ingest_all: Callable[[Path], None]) -> Path:
    """A home with the default world ingested but not yet merged (copy it to use it)."""
    home = tmp_path_factory.mktemp("lifecycle") / "home"
    generate(home / "world", WorldSpec())
    ingest_all(home)
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "home"
    shutil.copytree(template, copy)
    yield copy


def test_linking_precision_and_recall(home: Path) -> None:
    settings = Settings(home=home)
    merge_step(settings)
    score = score_home(settings)
    assert score is not None
    print(score.to_dict())
    assert score.precision >= 0.98 and score.recall >= 0.98


def test_running_twice_on_unchanged_sources_changes_nothing(home: Path,
                                                            checksums: Checksums) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = Settings(home=home, province={"base_url": gateway.url})
        first = run_pipeline(settings)
        after_first = checksums(home)
        second = run_pipeline(settings)
    assert not first.failures and not second.failures
    assert all(i.read == 0 for i in second.ingests.values())
    assert checksums(home) == after_first
    assert second.merge.cases_changed == second.merge.timeline_added == 0


def test_a_merge_killed_halfway_leaves_the_warehouse_as_it_was(home: Path, tmp_path: Path,
                                                               checksums: Checksums,
                                                               killed_at: KilledAt) -> None:
    before = checksums(home)
    assert before["cases"] == "empty"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from silobridge.run import merge_step\n"
        "from silobridge.settings import Settings\n"
        f"settings = Settings(home=Path({str(home)!r}))\n"
        "merge_step(settings)\n"
        "print('merged', flush=True)\n")
    # the merge stops inside its transaction, all its work done but the COMMIT, and is
    # killed there (warehouse.faults)
    assert "merged" not in killed_at("merge:commit", script, tmp_path / "inside-the-merge")
    assert checksums(home) == before

    # the next run converges to what an uninterrupted merge gives
    uninterrupted = tmp_path / "uninterrupted"
    shutil.copytree(home, uninterrupted)
    merge_step(Settings(home=uninterrupted))
    merge_step(Settings(home=home))
    assert checksums(home, with_runs=False) == checksums(uninterrupted, with_runs=False)



def test_new_data_updates_golden_timeline_and_history(home: Path) -> None:
    settings = Settings(home=home)
    merge_step(settings)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    state = dict(con.execute("SELECT case_id, status FROM core.cases").fetchall())
    events = dict(con.execute("SELECT case_id, count(*) FROM core.timeline GROUP BY ALL")
                  .fetchall())
    con.close()
    advance(home / "world", 5)
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        summary = run_pipeline(Settings(home=home, province={"base_url": gateway.url}))
    assert not summary.failures and summary.merge.cases_changed > 0
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        changed = con.execute("""
            SELECT case_id, status, updated_run FROM core.cases
            WHERE updated_run <> created_run AND status IN ('closed', 'verified')""").fetchall()
        moved = [(c, s) for c, s, _ in changed if c in state and state[c] != s]
        assert moved, "some dispute should have been closed or verified in five days"
        for case_id, status in moved[:20]:
            history = con.execute("""
                SELECT status, valid_from, valid_to FROM core.case_history
                WHERE case_id = ? ORDER BY valid_from""", [case_id]).fetchall()
            assert history[-1][0] == status and history[-1][2] is None
            # the previous row is closed where the new one begins
            assert history[-2][2] == history[-1][1]
            (n,) = con.execute("SELECT count(*) FROM core.timeline WHERE case_id = ?",
                               [case_id]).fetchall()[0]
            assert n > events.get(case_id, 0)
        # the province closing a county case: its record now says closed
        (closed_by_province,) = con.execute("""
            SELECT count(*) FROM core.cases WHERE status_source = 'province'
              AND status = 'closed' AND updated_run <> created_run""").fetchall()[0]
        assert closed_by_province > 0
    finally:
        con.close()
