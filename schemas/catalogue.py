"""What the analyst snapshot publishes: its tables, and every column's grade, mask and labels.

A published column takes its metadata, in this order, from
1. the table's own declarations below (columns the warehouse derives: counts, rates, ids);
2. the field of the same name in the table's canonical model (schemas.models), so that
   `core.cases.title` is graded and masked exactly as `DisputeCase.title`;
3. the protected fields of that model: `<field>_masked` is published with the field's
   labels, while `<field>_cipher` and `<field>_link` are never published;
4. a field of the same name in the canonical models (a mart's `town_code` is the
   case's), then the derived columns shared by many tables (SHARED).
A column found in none of them stops the publication (CatalogueError): a new column never
reaches analysts without a grade.

A column holding codes names what decodes them (`codes`): a code list of schemas.codes
(taken from the enum a model field is typed with, or declared), or the divisions and
grids. Beside each such column the snapshot publishes its labels (`decodings`): a code's
Chinese and English label (`status` → `status_zh`, `status_en`, and a status's family),
a division's or grid's name (`village_code` → `village_name`).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from .codes import CODE_LISTS, CodeList
from .grades import Grade, grade_of, labels_of, mask_of, protected_fields
from .models import DisputeCase, Division, FlowEvent, Grid, Party, SourceRecord


class CatalogueError(ValueError):
    """A column of a published table that the catalogue does not grade."""


#: what decodes a column that is not a code list: the divisions, the grids
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


#: the lists whose groups get a column of their own beside the code's labels, with its
#: name's ending and labels (a category's group, its report bucket, is a column already)
GROUP_COLUMNS = {"case_status": ("family", "状态族", "status family: open, escalated "
                                 "(handed up, in flight), resolved or void (never counted)")}


def decodings(name: str, meta: Column) -> list[Decoding]:
    """The label columns published beside the column `name` (none if it holds no codes).
    A group column holds codes itself: its own decodings follow it."""
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
    code_list = CODE_LIST[meta.codes]
    if code_list.name in GROUP_COLUMNS:
        ending, zh, en = GROUP_COLUMNS[code_list.name]
        out.append(Decoding(f"{base}_{ending}", Column(meta.grade, zh, en,
                                                       codes=code_list.group), "group_code"))
    return out


CODE_LIST: dict[str, CodeList] = {cl.name: cl for cl in CODE_LISTS}
_LIST_OF_ENUM: dict[type[Enum], str] = {cl.enum: cl.name for cl in CODE_LISTS if cl.enum}
#: model fields whose codes no enum declares
_CODED_FIELDS = {"category_code": "categories", "county_code": DIVISIONS,
                 "town_code": DIVISIONS, "village_code": DIVISIONS, "grid_code": GRIDS,
                 "parent_code": DIVISIONS}


def _codes_of(name: str, annotation: Any) -> str | None:
    if name in _CODED_FIELDS:
        return _CODED_FIELDS[name]
    origin = get_origin(annotation)
    if origin is Annotated:
        return _codes_of(name, get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        found = [c for a in get_args(annotation) if (c := _codes_of(name, a))]
        return found[0] if found else None
    return _LIST_OF_ENUM.get(annotation) if isinstance(annotation, type) else None


@dataclass(frozen=True)
class PublishedTable:
    name: str                      # schema.table, in the warehouse and in the snapshot
    zh: str
    en: str
    model: type[BaseModel] | None = None
    columns: dict[str, Column] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        if name in self.columns:
            return self.columns[name]
        if self.model is not None:
            if name in self.model.model_fields:
                return _from_field(self.model, name)
            for protected in protected_fields(self.model):
                if name in (f"{protected}_cipher", f"{protected}_link"):
                    return WITHHELD
                if name == f"{protected}_masked":
                    zh, en = labels_of(self.model.model_fields[protected])
                    return Column(Grade.L2, f"{zh}(脱敏)", f"{en}, masked", None)
        for model in CANONICAL:
            if name in model.model_fields:
                return _from_field(model, name)
        if name in SHARED:
            return SHARED[name]
        raise CatalogueError(f"column {name!r} of {self.name} has no grade: declare it in "
                             "schemas/catalogue.py before it is published")


def _from_field(model: type[BaseModel], name: str) -> Column:
    info = model.model_fields[name]
    zh, en = labels_of(info)
    return Column(grade_of(info), zh, en, mask_of(info), _codes_of(name, info.annotation))


#: where a column of any table finds its metadata when its own model has no such field
CANONICAL: tuple[type[BaseModel], ...] = (DisputeCase, Party, FlowEvent)

SHARED = {
    "case_id": col("L1", "案件编号", "case id: one per real dispute across levels"),
    "county_name": col("L1", "县(市、区)", "county name"),
    "town_name": col("L1", "乡镇街道", "township name"),
    "status_family": col("L1", "状态族", "status family: open, escalated (handed up, in "
                         "flight), resolved or void (never counted)", codes="status_family"),
    "category_name": col("L1", "事件类别名称", "category name"),
    "bucket": col("L1", "报表大类", "report bucket (8 families of categories)",
                  codes="bucket"),
    "level": col("L1", "层级", "level: 0 grid, 10 village, 20 township, 30 county, 50 province",
                 codes="level"),
    "sources": col("L1", "来源系统", "source systems that recorded it"),
    "cases": col("L1", "案件数", "number of cases"),
    "month": col("L1", "月份", "month"),
    "run_id": col("L1", "运行编号", "pipeline run that wrote the row"),
    "updated_run": col("L1", "更新运行", "merge run that last changed it"),
    "county_case_no": col("L1", "县级案件编号", "county case number"),
    "record_uid": col("L1", "来源记录键", "source:source_record_id"),
    "batch_id": col("L1", "批次号", "raw batch id"),
    "row_no": col("L1", "行号", "row in the batch's origin"),
}

#: what ref.code_lists and ref.codes both say of a list
_CODE_LIST_COLUMNS = {
    "list_name": col("L1", "代码表名", "code list name"),
    "label_zh": col("L1", "中文名称", "Chinese label"),
    "label_en": col("L1", "英文名称", "English label"),
}

TABLES = (
    PublishedTable("core.cases", "案件黄金记录", "cases: one golden record per real dispute, "
                   "merged across levels", DisputeCase, {
                       "status_source": col("L1", "状态来源", "source the status was taken from",
                                            codes="source_name"),
                       "status_at": col("L2", "状态时间", "when that source stated the status"),
                       "highest_level": col("L1", "最高层级", "highest level that handled it",
                                            codes="level"),
                       "records": col("L1", "来源记录数", "source records linked to the case"),
                       "grid_report_ids": col("L1", "网格事件编号", "grid report ids"),
                       "township_ids": col("L1", "镇街事件编号", "township record ids"),
                       "county_ids": col("L1", "县级案件编号", "county case numbers"),
                       "province_ids": col("L1", "省平台编号", "province case ids"),
                       "province_status": col("L1", "省平台状态", "the status the province "
                                              "platform holds (its own word: verification "
                                              "verdicts, filing)", codes="case_status"),
                       "province_status_at": col("L2", "省平台状态时间", "when the province "
                                                 "last stated it"),
                       "content_hash": col("L1", "内容摘要", "hash of the golden record"),
                       "created_run": col("L1", "创建运行", "merge run that created it"),
                   }),
    PublishedTable("core.case_parties", "案件当事人", "parties of each case: the union over "
                   "its records", Party, {
                       "party_key": col("L3", "当事人键", "the party within the case "
                                        "(a pseudonym in the snapshot)", mask="pseudonym"),
                   }),
    PublishedTable("core.case_history", "案件状态历史", "case state history (SCD2)",
                   DisputeCase, {
                       "valid_from": col("L2", "生效时间", "valid from"),
                       "valid_to": col("L2", "失效时间", "valid to (null: current)"),
                   }),
    PublishedTable("core.timeline", "案件时间线", "every event of every level, per case",
                   FlowEvent, {
                       "event_key": col("L1", "事件键", "event key"),
                       "kind": col("L1", "事件种类", "state or flow event"),
                   }),
    PublishedTable("core.records", "来源记录", "lineage: each source record and its case",
                   SourceRecord, {
                       "link_rule": col("L1", "关联规则", "how the record joined its case"),
                       "versions": col("L1", "版本数", "versions of the record seen"),
                       "first_seen_at": col("L2", "首次出现", "first seen at"),
                   }),
    PublishedTable("core.case_merges", "案件合并", "cases merged into others by later evidence",
                   None, {
                       "old_case_id": col("L1", "原案件编号", "case id merged away"),
                       "new_case_id": col("L1", "并入案件编号", "case id it was merged into"),
                       "merged_at": col("L2", "合并时间", "merged at"),
                   }),
    PublishedTable("marts.as_of", "数据时点", "the data's clock: the newest state in core",
                   None, {"as_of": col("L2", "数据时点", "newest state time")}),
    PublishedTable("marts.backlog_by_township", "各镇街积案", "cases by township: open, in "
                   "flight (escalated) and overdue, beside all the township's cases", None, {
                       "open_cases": col("L1", "未结案件", "open cases (status family open)"),
                       "escalated_cases": col("L1", "上报中案件", "escalated cases in flight "
                                              "(status family escalated)"),
                       "overdue_cases": col("L1", "超期案件", "open or in-flight cases past "
                                            "the SLA of the level handling them"),
                       "oldest_open_days": col("L1", "最久未结天数", "age of the oldest open or "
                                               "in-flight case"),
                       "mean_open_days": col("L1", "平均未结天数", "mean age of open and in-flight "
                                             "cases"),
                   }),
    PublishedTable("marts.escalation_rate", "上报率", "share of cases escalated to the county, "
                   "by township and month, beside the count of cases (other counties' "
                   "cases are seen only once they reached the province)", None, {
                       "escalated_to_county": col("L1", "上报县级", "cases escalated to the "
                                                  "county"),
                       "escalation_rate": col("L1", "上报率", "escalated / cases"),
                   }),
    PublishedTable("marts.level_status", "各层级状态", "each level's latest statement of a "
                   "case's status", None, {
                       "stated_at": col("L2", "陈述时间", "when the level stated it"),
                   }),
    PublishedTable("marts.open_cases", "未结案件", "cases not resolved (open or escalated in "
                   "flight) with their age and SLA", None, {
        "open_since": col("L2", "未结起始", "open since"),
        "age_days": col("L1", "已开天数", "days open"),
        "sla_days": col("L1", "时限天数", "SLA of the handling level, days"),
        "overdue": col("L1", "是否超期", "past its SLA"),
    }),
    PublishedTable("marts.repeat_disputes", "重复纠纷", "the same two parties in more than one "
                   "dispute", None, {
                       "party_a": col("L3", "当事人甲", "party A (pseudonym)", mask="pseudonym"),
                       "party_b": col("L3", "当事人乙", "party B (pseudonym)", mask="pseudonym"),
                       "name_a": col("L3", "当事人甲姓名", "party A's name", mask="name"),
                       "name_b": col("L3", "当事人乙姓名", "party B's name", mask="name"),
                       "case_ids": col("L1", "案件编号", "their cases"),
                       "first_occurred_at": col("L2", "首次发生", "first occurred at"),
                       "last_occurred_at": col("L2", "最近发生", "last occurred at"),
                   }),
    PublishedTable("marts.resolution_by_category_level", "化解率", "resolution rate and days "
                   "to resolve by county, category and highest level reached", None, {
                       "resolved_cases": col("L1", "已化解", "resolved cases"),
                       "resolution_rate": col("L1", "化解率", "resolved / cases"),
                       "mean_days_to_resolve": col("L1", "平均化解天数", "mean days to resolve"),
                       "median_days_to_resolve": col("L1", "化解天数中位数",
                                                     "median days to resolve"),
                   }),
    PublishedTable("marts.status_conflicts", "层级状态冲突", "one level says resolved, another "
                   "open", None, {
                       "resolved_at_levels": col("L1", "称已化解的层级", "levels saying resolved"),
                       "open_at_levels": col("L1", "称未结的层级", "levels saying open"),
                       "resolved_stated_at": col("L2", "化解陈述时间", "when resolved was stated"),
                       "open_stated_at": col("L2", "未结陈述时间", "when open was stated"),
                   }),
    PublishedTable("marts.sync_gap", "省平台缺失", "county cases the province's data does not "
                   "show yet (the sync gap)", None, {
                       "registered_at": col("L2", "登记时间", "registered at the county"),
                       "county_updated_at": col("L2", "县级更新时间", "last updated at the county"),
                       "days_waiting": col("L1", "等待天数", "days since the county registered it"),
                   }),
    PublishedTable("ref.divisions", "行政区划", "divisions: the province, its cities, counties "
                   "and townships (NBS codes), and the deployment's villages and communities",
                   Division),
    PublishedTable("ref.grids", "网格", "the deployment's grids, each in one village or "
                   "community", Grid),
    PublishedTable("ref.code_lists", "代码表", "every code list, with its labels", None, {
        **_CODE_LIST_COLUMNS,
        "group_list": col("L1", "分组代码表", "the list its codes' groups come from"),
        "position": col("L1", "顺序", "position"),
    }),
    PublishedTable("ref.codes", "代码", "every code of every list, with its Chinese and "
                   "English labels", None, {
                       **_CODE_LIST_COLUMNS,
                       "code": col("L1", "代码", "code (integer codes as digits)"),
                       "group_code": col("L1", "分组", "the group it rolls up into: a "
                                         "category's report bucket, a status's family"),
                       "position": col("L1", "顺序", "position in its list"),
                   }),
    PublishedTable("ref.sla", "办理时限", "service levels: days a level has to resolve a case",
                   None, {"days": col("L1", "时限天数", "days")}),
    PublishedTable("marts.sync_status", "省平台同步状态", "each county case at the province, by "
                   "the newest reconciliation of the county → province sync", None, {
                       "state": col("L1", "同步状态", "in_sync, missing, stale or conflicting"),
                       "copies": col("L1", "省级副本数", "copies the province holds of the "
                                     "case, under any of its county numbers (>1: duplicates)"),
                       "duplicate": col("L1", "重复来源", "whose duplicate a second copy is: "
                                        "ours (our upload made it) or province (it was there "
                                        "before)"),
                       "differing_fields": col("L1", "不一致字段", "fields that differ (names "
                                               "only)"),
                       "since": col("L2", "状态起始", "since when the reconciliations "
                                    "have found it so"),
                   }),
)

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
