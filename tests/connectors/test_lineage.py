"""Lineage columns: the raw hash identifies a record's content wherever it comes from."""

from __future__ import annotations

import hashlib

import pytest

from connectors.base import LINEAGE_COLUMNS
from connectors.file_cursor import unique_columns
from connectors.lineage import build_table, to_text, to_texts


def test_raw_hash_ignores_which_other_columns_a_batch_has() -> None:
    one = build_table("grid", "a", ["x", "y"], {"x": ["1", None], "y": [None, None]}, [1, 2])
    two = build_table("grid", "b", ["y", "x", "z"], {"x": ["1"], "y": [None], "z": [None]}, [1])
    assert one.num_rows == 2
    assert one.column("_raw_hash")[0] == two.column("_raw_hash")[0]
    assert one.column("_raw_hash")[1] != one.column("_raw_hash")[0]


def test_raw_hash_is_md5_of_sorted_pairs() -> None:
    # landed hashes must stay comparable across releases: pin the exact text hashed
    table = build_table("grid", "a", ["b", "a", "c"],
                        {"a": ["1", None], "b": ["2", None], "c": [None, None]}, [1, 2])
    assert table.column("_raw_hash").to_pylist() == [
        hashlib.md5(b"a\x1f1\x1eb\x1f2\x1e").hexdigest(),
        hashlib.md5(b"").hexdigest(),
    ]


def test_unparsed_records_hash_their_text() -> None:
    table = build_table("grid", "a", ["x"], {"x": [None, "1"]}, [1, 2],
                        ["invalid JSON", None], ["{oops", None])
    assert table.column("_raw_hash").to_pylist() == [
        hashlib.md5(b"{oops").hexdigest(), hashlib.md5(b"x\x1f1\x1e").hexdigest()]
    assert table.column("_parse_error").to_pylist() == ["invalid JSON", None]
    assert table.column("_raw_text").to_pylist() == ["{oops", None]


def test_unparsed_file_lines_hash_their_place_too() -> None:
    # the "}," lines of a broken pretty-printed file: two rejects, not one and a duplicate;
    # the same file read again gives the same hashes (its rejects are then duplicates)
    def table() -> list[str]:
        return build_table("grid", "f.jsonl", [], {}, [3, 5], ["e", "e"], ["},", "},"],
                           errors_by_position=True).column("_raw_hash").to_pylist()
    first = table()
    assert first[0] != first[1]
    assert first == table()
    assert first[0] == hashlib.md5(b"f.jsonl\x1f3\x1e},").hexdigest()
    other = build_table("grid", "g.jsonl", [], {}, [3], ["e"], ["},"],
                        errors_by_position=True).column("_raw_hash").to_pylist()
    assert other[0] != first[0]


def test_record_without_columns_has_a_hash() -> None:
    # `{}` is a record: it hashes the empty text, like a record whose values are all null
    table = build_table("grid", "a", [], {}, [1, 2])
    assert table.column("_raw_hash").to_pylist() == [hashlib.md5(b"").hexdigest()] * 2


def test_table_layout_and_lineage_columns() -> None:
    table = build_table("township", ["f.csv", "g.csv"], ["b", "a"],
                        {"a": ["1", "2"], "b": [None, "3"]}, [2, 3])
    assert table.column_names == ["b", "a", *LINEAGE_COLUMNS]
    assert table.column("a").to_pylist() == ["1", "2"]
    assert table.column("b").to_pylist() == [None, "3"]
    assert table.column("_origin").to_pylist() == ["f.csv", "g.csv"]
    assert table.column("_source").to_pylist() == ["township"] * 2
    assert table.column("_row").to_pylist() == [2, 3]
    assert table.column("_parse_error").null_count == 2


def test_a_column_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="'b' has 1 values for 2 rows"):
        build_table("grid", "a", ["a", "b"], {"a": ["1", "2"], "b": ["3"]}, [1, 2])


def test_to_texts_matches_to_text() -> None:
    values = [None, "", "x", 3, 2.5, True, {"k": [1, "二"]}, [None]]
    assert to_texts(values) == [to_text(v) for v in values]


@pytest.mark.parametrize(("names", "columns"), [
    (["id", "ID", "Id"], ("id", "ID_2", "Id_3")),  # SQL names ignore case
    (["", "a", ""], ("column_1", "a", "column_3")),
    (["_row", "_ROW"], ("_row_2", "_ROW_3")),
    (["a\x00b"], ("a\ufffdb",)),
])
def test_unique_columns(names: list[str], columns: tuple[str, ...]) -> None:
    got, notes = unique_columns(names)
    assert got == columns
    assert len(notes) == sum(n != c for n, c in zip(names, columns, strict=True))
