"""The analyst snapshot: a read-only DuckDB file and Parquet files of the tables a pack's
catalogue names, masked, published atomically next to the warehouse.

Analysts never open the warehouse itself: DuckDB lets one process write a file and no
other process open it meanwhile, so an analyst holding it open would stop the pipeline,
and the pipeline would lock analysts out for every merge. Instead, after each merge the
pipeline writes a fresh snapshot version in a folder of its own and swaps it in with
ONE atomic step, repointing the `current` link:

    published/versions/<id>/silobridge.duckdb     a version: the DuckDB snapshot and its
    published/versions/<id>/parquet/              Parquet files (a folder per table)
    published/current -> versions/<id>           swapped by os.replace of a symlink
    published/silobridge.duckdb -> current/silobridge.duckdb    the names analysts use,
    published/parquet -> current/parquet                         links made once

So the DuckDB file and the Parquet files always come from the same version, whenever
the publishing process dies: before the swap the old version stands, after it the new
one. meta.snapshot.snapshot_id names the version, in the DuckDB file, in
parquet/meta/snapshot/ and in every Parquet file's key-value metadata (`snapshot_id`).
Readers that opened the old version keep it: the previous version is kept until the
next publication; older ones and versions a crash left unfinished are removed. (A
reader that wants several Parquet files of one version resolves `published/current`
once.)

What a version holds, and how each table is masked and labelled on its way into it:
warehouse.snapshot_copy.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from schemas.catalogue import Catalogue

from .db import LockWait
from .faults import fault_point
from .snapshot_copy import PARQUET, SNAPSHOT, SnapshotError, write_version

__all__ = ["CURRENT", "PARQUET", "PUBLISH_POINTS", "SNAPSHOT", "VERSIONS", "PublishSummary",
           "SnapshotError", "publish"]

VERSIONS = "versions"
CURRENT = "current"
#: the fault points of a publication (warehouse.faults), in order
PUBLISH_POINTS = ("publish:written", "publish:link-made", "publish:linked-snapshot",
                  "publish:linked-parquet", "publish:switched", "publish:tidied")


@dataclass
class PublishSummary:
    path: Path
    parquet: Path
    version: str = ""
    tables: dict[str, int] = field(default_factory=dict)
    withheld: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "parquet": str(self.parquet), "version": self.version,
                "tables": self.tables, "withheld_columns": self.withheld}


def publish(warehouse: Path, out_dir: Path, pseudonym_key: str, catalogue: Catalogue,
            wait: LockWait | None = None) -> PublishSummary:
    """Write a new version of the tables `catalogue` publishes in its own folder, then
    swap it in (see the module's docstring). `wait`: how long to wait for another
    process holding the warehouse."""
    if not re.fullmatch(r"[0-9a-f]{16,}", pseudonym_key):
        raise SnapshotError("the pseudonym key must be lowercase hex")
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(2)}"
    folder = out_dir / VERSIONS / version
    folder.mkdir(parents=True)
    try:
        copied = write_version(warehouse, folder, version, pseudonym_key, catalogue, wait)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    fault_point("publish:written")
    summary = PublishSummary(out_dir / SNAPSHOT, out_dir / PARQUET, version, copied.tables,
                             copied.withheld)
    # the names analysts use go through `current`: made once, before the first `current`
    # exists (so they show nothing rather than half), or once over the layout of earlier
    # releases (a file, and a link straight to a Parquet folder)
    _point(out_dir / SNAPSHOT, f"{CURRENT}/{SNAPSHOT}", version)
    fault_point("publish:linked-snapshot")
    _point(out_dir / PARQUET, f"{CURRENT}/{PARQUET}", version)
    fault_point("publish:linked-parquet")
    previous = _current(out_dir)
    _point(out_dir / CURRENT, f"{VERSIONS}/{version}", version)  # the one swap
    fault_point("publish:switched")
    _tidy(out_dir, keep={version, previous})
    fault_point("publish:tidied")
    return summary


def _current(out_dir: Path) -> str | None:
    """The version `current` points to, if any."""
    try:
        return Path(os.readlink(out_dir / CURRENT)).name
    except OSError:
        return None


def _point(link: Path, target: str, version: str) -> None:
    """Make `link` a symlink to `target`, atomically (a link beside it, renamed over)."""
    try:
        if os.readlink(link) == target:
            return
    except OSError:
        pass  # not a link yet (absent, or a file of the earlier layout)
    aside = link.with_name(f".{link.name}.{version}")
    aside.unlink(missing_ok=True)
    aside.symlink_to(target)
    fault_point("publish:link-made")
    os.replace(aside, link)


def _tidy(out_dir: Path, keep: set[str | None]) -> None:
    """Drop every version but `keep` (the new one and the one readers may still have
    open), links a crash left aside, and the folders of the earlier layout."""
    for old in (out_dir / VERSIONS).iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for left in out_dir.glob(".*"):
        if left.is_symlink():
            left.unlink(missing_ok=True)
    # the layout of earlier releases: snapshots written aside, versioned Parquet folders
    for left in out_dir.glob(f".{SNAPSHOT}.*"):
        left.unlink(missing_ok=True)
    for left in out_dir.glob(f"{PARQUET}-*"):
        shutil.rmtree(left, ignore_errors=True)

