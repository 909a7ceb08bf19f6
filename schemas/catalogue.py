"""What an analyst snapshot publishes: its tables, and every column's grade, mask and labels.

A pack declares its `Catalogue` (packs/<name>/catalogue.py): the tables it publishes, its
code lists, its canonical models and the derived columns its tables share. The engine
finds a published column's metadata, in this order, in
1. the table's own declarations (columns the warehouse derives: counts, rates, ids);
2. the field of the same name in the table's model, so that a core table's column is
   graded and masked exactly as the model's field;
3. the protected fields of that model: `<field>_masked` is published with the field's
   labels, while `<field>_cipher` and `<field>_link` are never published;
4. a field of the same name in the catalogue's canonical models (a mart's division code
   is the canonical record's), then the derived columns its tables share (`shared`).
A column found in none of them stops the publication (CatalogueError): a new column never
reaches analysts without a grade.

A column holding codes names what decodes them (`codes`): a code list of the catalogue
(taken from the enum a model field is typed with, or declared), or the divisions and
grids. Beside each such column the snapshot publishes its labels (`decodings`): a code's
Chinese and English label (`x` → `x_zh`, `x_en`, and the code's group where the
catalogue asks for it), a division's or grid's name (`x_code` → `x_name`).
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from .grades import Grade, grade_of, labels_of, mask_of, protected_fields
from .labelled import CodeList


class CatalogueError(ValueError):
    """A column of a published table that the catalogue does not grade."""


#: what decodes a column that is not a code list: the divisions, the grids (reference
#: data the engine loads for every pack)
DIVISIONS, GRIDS = "ref.divisions", "ref.grids"


@dataclass(frozen=True)
class Column:
    grade: Grade
    zh: str
    en: str
    mask: str | None = None
    #: what decodes its values: a code list's name (ref.codes), DIVISIONS or GRIDS
    codes: str | None = None


#: never published: the ciphertext and link key of a protected field
WITHHELD = Column(Grade.L4, "", "", mask="withheld")


def col(grade: str, zh: str, en: str, mask: str | None = None,
        codes: str | None = None) -> Column:
    return Column(Grade(grade), zh, en, mask, codes)


@dataclass(frozen=True)
class Decoding:
    """A label column published beside a coded column."""

    name: str
    column: Column
    #: what it takes from the code's row: label_zh, label_en or group_code of ref.codes,
    #: name of ref.divisions or ref.grids
    takes: str


@dataclass(frozen=True)
class PublishedTable:
    name: str                      # schema.table, in the warehouse and in the snapshot
    zh: str
    en: str
    model: type[BaseModel] | None = None
    columns: dict[str, Column] = field(default_factory=dict)


@dataclass(frozen=True)
class Hidden:
    """Values that free text must not show: a name or address column of a table, and
    which of its rows count (an SQL condition, or all of them)."""

    table: str
    column: str
    mask: str  # "name" or "address": how the value is shown where it was found
    where: str | None = None


@dataclass(frozen=True)
class FreeText:
    """How free text (mask "text") is masked beyond its ID and phone numbers: with the
    names and addresses (`hidden`) that the rows of the same `key` hold."""

    key: str
    hidden: tuple[Hidden, ...]


@dataclass(frozen=True)
class Catalogue:
    """A pack's part of the snapshot: what it publishes, and where its columns' grades,
    masks and labels come from (see the module's docstring for the order)."""

    tables: tuple[PublishedTable, ...]
    #: the pack's code lists (as in ref.codes): what a coded column's labels come from
    code_lists: tuple[CodeList, ...] = ()
    #: where a column of any table finds its metadata when its own model has no such field
    canonical: tuple[type[BaseModel], ...] = ()
    #: derived columns many tables share
    shared: Mapping[str, Column] = field(default_factory=dict)
    #: the lists whose groups get a column of their own beside the code's labels:
    #: list name → (the column name's ending, its Chinese and English labels)
    group_columns: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    #: model fields whose codes no enum declares: field → code list name, DIVISIONS or GRIDS
    coded_fields: Mapping[str, str] = field(default_factory=dict)
    #: what free text is masked with; None: the catalogue publishes no free text
    free_text: FreeText | None = None
    #: (published table, column): how current the data is, meta.snapshot.data_as_of
    clock: tuple[str, str] | None = None

    def column(self, table: PublishedTable, name: str) -> Column:
        """The metadata of `table`'s column `name`; CatalogueError if none grades it."""
        if name in table.columns:
            return table.columns[name]
        model = table.model
        if model is not None:
            if name in model.model_fields:
                return self._from_field(model, name)
            for protected in protected_fields(model):
                if name in (f"{protected}_cipher", f"{protected}_link"):
                    return WITHHELD
                if name == f"{protected}_masked":
                    zh, en = labels_of(model.model_fields[protected])
                    return Column(Grade.L2, f"{zh}(脱敏)", f"{en}, masked", None)
        for canonical in self.canonical:
            if name in canonical.model_fields:
                return self._from_field(canonical, name)
        if name in self.shared:
            return self.shared[name]
        raise CatalogueError(f"column {name!r} of {table.name} has no grade: declare it in "
                             "the pack's catalogue before it is published")

    def decodings(self, name: str, meta: Column) -> list[Decoding]:
        """The label columns published beside the column `name` (none if it holds no
        codes). A group column holds codes itself: its own decodings follow it."""
        if meta.codes is None:
            return []
        base = name.removesuffix("_code")
        if meta.codes in (DIVISIONS, GRIDS):
            zh = meta.zh.removesuffix("代码").removesuffix("编码")
            en = meta.en.split(" (")[0].removesuffix(" code")
            return [Decoding(f"{base}_name", Column(meta.grade, f"{zh}名称", f"{en} name"),
                             "name")]
        out = [Decoding(f"{base}_zh", Column(meta.grade, f"{meta.zh}(中文)",
                                             f"{meta.en}: Chinese label"), "label_zh"),
               Decoding(f"{base}_en", Column(meta.grade, f"{meta.zh}(英文)",
                                             f"{meta.en}: English label"), "label_en")]
        code_list = self._code_list[meta.codes]
        if code_list.name in self.group_columns:
            ending, zh, en = self.group_columns[code_list.name]
            out.append(Decoding(f"{base}_{ending}", Column(meta.grade, zh, en,
                                                           codes=code_list.group),
                                "group_code"))
        return out

    @cached_property
    def _code_list(self) -> dict[str, CodeList]:
        return {cl.name: cl for cl in self.code_lists}

    @cached_property
    def _list_of_enum(self) -> dict[type[Enum], str]:
        return {cl.enum: cl.name for cl in self.code_lists if cl.enum}

    def _from_field(self, model: type[BaseModel], name: str) -> Column:
        info = model.model_fields[name]
        zh, en = labels_of(info)
        return Column(grade_of(info), zh, en, mask_of(info), self._codes_of(name, info.annotation))

    def _codes_of(self, name: str, annotation: Any) -> str | None:
        if name in self.coded_fields:
            return self.coded_fields[name]
        origin = get_origin(annotation)
        if origin is Annotated:
            return self._codes_of(name, get_args(annotation)[0])
        if origin in (Union, types.UnionType):
            found = [c for a in get_args(annotation) if (c := self._codes_of(name, a))]
            return found[0] if found else None
        return self._list_of_enum.get(annotation) if isinstance(annotation, type) else None


def combined(catalogues: Sequence[Catalogue]) -> Catalogue:
    """One snapshot's catalogue of several packs' parts: every pack's tables and code
    lists; a column no table describes itself is looked up in the packs' models and
    shared columns in the packs' order. Free text and the data clock are the first
    pack's that declares them (one snapshot, one "as of")."""
    if len(catalogues) == 1:
        return catalogues[0]
    if not catalogues:
        raise CatalogueError("no catalogue to publish")
    tables = [t.name for c in catalogues for t in c.tables]
    twice = sorted({t for t in tables if tables.count(t) > 1})
    if twice:
        raise CatalogueError(f"tables published by two packs: {', '.join(twice)}")
    merged: dict[str, dict[str, Any]] = {"shared": {}, "group_columns": {}, "coded_fields": {}}
    for c in reversed(catalogues):  # the first pack's word wins
        for name, found in merged.items():
            found.update(getattr(c, name))
    return Catalogue(
        tuple(t for c in catalogues for t in c.tables),
        tuple(cl for c in catalogues for cl in c.code_lists),
        canonical=tuple(m for c in catalogues for m in c.canonical),
        **merged,
        free_text=next((c.free_text for c in catalogues if c.free_text), None),
        clock=next((c.clock for c in catalogues if c.clock), None))


#: the data dictionary the snapshot writes about itself
META = (
    PublishedTable("meta.tables", "表目录", "every table of the snapshot, with its labels", None, {
        "table_name": col("L1", "表名", "schema.table"),
        "view_name": col("L1", "视图名", "the same table in the main schema (SHOW TABLES)"),
        "label_zh": col("L1", "中文名称", "Chinese label"),
        "label_en": col("L1", "英文名称", "English label"),
        "row_count": col("L1", "行数", "rows"),
    }),
    PublishedTable("meta.columns", "字段目录", "every column of every table: labels, grade, "
                   "mask, what decodes it", None, {
                       "table_name": col("L1", "表名", "schema.table"),
                       "column_name": col("L1", "字段名", "column"),
                       "grade": col("L1", "分级", "data grade (DB33/T 2350: L1–L4)"),
                       "mask": col("L1", "脱敏方式", "how it is masked in the snapshot"),
                       "label_zh": col("L1", "中文名称", "Chinese label"),
                       "label_en": col("L1", "英文名称", "English label"),
                       "code_list": col("L1", "代码表", "what decodes its values: a list of "
                                        "ref.codes, ref.divisions or ref.grids"),
                       "decodes": col("L1", "解码字段", "the code column a label column decodes"),
                   }),
    PublishedTable("meta.snapshot", "快照信息", "this snapshot: its id, when it was published, "
                   "how current its data is", None, {
                       "snapshot_id": col("L1", "快照编号", "snapshot version id"),
                       "published_at": col("L1", "发布时间", "published at"),
                       "data_as_of": col("L1", "数据时点", "newest state in the data"),
                       "storage_version": col("L1", "存储格式", "DuckDB storage format: the "
                                              "oldest DuckDB that opens the file"),
                   }),
)
