"""Lineage columns: the raw hash identifies a record's content wherever it comes from."""

from __future__ import annotations

from connectors.lineage import build_table


def test_raw_hash_ignores_which_other_columns_a_batch_has() -> None:
    one = build_table("grid", "a", ["x", "y"], {"x": ["1", None], "y": [None, None]}, [1, 2])
    two = build_table("grid", "b", ["y", "x", "z"], {"x": ["1"], "y": [None], "z": [None]}, [1])
    assert one.num_rows == 2
    assert one.column("_raw_hash")[0] == two.column("_raw_hash")[0]
    assert one.column("_raw_hash")[1] != one.column("_raw_hash")[0]
