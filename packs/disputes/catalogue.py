"""What the dispute's analyst snapshot publishes: its tables, and the grades, masks and
labels of the columns its models do not describe (the engine's lookup order:
schemas/catalogue.py).

A core table's columns are graded as the field of the same name in its model
(`core.cases.title` exactly as `DisputeCase.title`); any other column as the field of the
same name in the canonical models (a mart's `town_code` is the case's), then as the
derived columns the tables share (SHARED). A column found nowhere stops the publication.
"""

from __future__ import annotations

from schemas.catalogue import (
    DIVISIONS,
    GRIDS,
    Catalogue,
    FreeText,
    Hidden,
    PublishedTable,
    col,
)

from .codes import CODE_LISTS
from .models import DisputeCase, Division, FlowEvent, Grid, Party, SourceRecord

#: the lists whose groups get a column of their own beside the code's labels, with its
#: name's ending and labels (a category's group, its report bucket, is a column already)
GROUP_COLUMNS = {"case_status": ("family", "状态族", "status family: open, escalated "
                                 "(handed up, in flight), resolved or void (never counted)")}

#: model fields whose codes no enum declares
CODED_FIELDS = {"category_code": "categories", "county_code": DIVISIONS,
                "town_code": DIVISIONS, "village_code": DIVISIONS, "grid_code": GRIDS,
                "parent_code": DIVISIONS}

#: derived columns many tables share
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

#: a case's titles, summaries and notes are masked with the names of its people and the
#: addresses of its parties and of the case
FREE_TEXT = FreeText("case_id", (
    Hidden("core.case_parties", "name", "name", where="kind = 'person'"),
    Hidden("core.case_parties", "address", "address"),
    Hidden("core.cases", "address", "address"),
))

CATALOGUE = Catalogue(TABLES, CODE_LISTS, canonical=(DisputeCase, Party, FlowEvent),
                      shared=SHARED, group_columns=GROUP_COLUMNS, coded_fields=CODED_FIELDS,
                      free_text=FREE_TEXT, clock=("marts.as_of", "as_of"))
