"""Code lists shared by every level: dispute categories, levels, channels and the like.

Sources: the category list and level/status codes of a Zhejiang grassroots governance
system, GB/T 2261.1 for gender (see the project's domain notes). The roll-up of the 28
categories into the county report's 8 buckets is our assignment; counties differ. Each
list is declared once, with its labels (schemas.labelled); CODE_LISTS hands them all to
the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from schemas.labelled import Code, CodeList, LabelledIntEnum, LabelledStrEnum


class Bucket(LabelledStrEnum):
    """The eight buckets of the county's monthly report."""

    PROPERTY = "权属纠纷", "权属纠纷", "ownership disputes"
    DEMOLITION = '"三改一拆"', '"三改一拆"', "illegal building (three rebuilds, one demolition)"
    LAW_ENFORCEMENT = "执法司法", "执法司法", "law enforcement and justice"
    LABOUR_ECONOMY = "劳资经济", "劳资经济", "labour and economy"
    ENVIRONMENT = "环境污染", "环境污染", "environmental pollution"
    VILLAGE_AFFAIRS = "村(社)务", "村(社)务", "village (community) affairs"
    EDUCATION_HEALTH = "教育卫生", "教育卫生", "education and health"
    FAMILY_NEIGHBOURS = "婚姻家庭邻里", "婚姻家庭邻里", "marriage, family and neighbours"


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    zh: str
    en: str
    bucket: Bucket


#: The 28 dispute categories, each with its report bucket (the roll-up is ours).
CATEGORY_LIST: tuple[Category, ...] = tuple(Category(*c) for c in (
    ("01", "信访问题处理", "petition (xinfang) handling", Bucket.LAW_ENFORCEMENT),
    ("02", "不稳定因素报告", "reports of destabilising factors", Bucket.LAW_ENFORCEMENT),
    ("03", "婚姻家庭", "marriage and family", Bucket.FAMILY_NEIGHBOURS),
    ("04", "邻里纠纷", "neighbour disputes", Bucket.FAMILY_NEIGHBOURS),
    ("05", "环境生态", "environment and ecology", Bucket.ENVIRONMENT),
    ("06", "建筑工程", "construction works", Bucket.DEMOLITION),
    ("07", "物业管理", "property management", Bucket.VILLAGE_AFFAIRS),
    ("08", "企业改制", "enterprise restructuring", Bucket.LABOUR_ECONOMY),
    ("09", "司法活动", "judicial activity", Bucket.LAW_ENFORCEMENT),
    ("10", "干部作风", "conduct of officials", Bucket.LAW_ENFORCEMENT),
    ("11", "劳资纠纷", "labour disputes", Bucket.LABOUR_ECONOMY),
    ("12", "征地拆迁", "land requisition and demolition", Bucket.DEMOLITION),
    ("13", "军人安置", "resettlement of service members", Bucket.VILLAGE_AFFAIRS),
    ("14", "房屋和宅基地", "housing and homesteads", Bucket.PROPERTY),
    ("15", '农村"三资"', "rural collective funds, assets and resources", Bucket.VILLAGE_AFFAIRS),
    ("16", "农民负担", "farmers' burdens", Bucket.VILLAGE_AFFAIRS),
    ("17", "院校问题", "schools and colleges", Bucket.EDUCATION_HEALTH),
    ("18", "民族宗教", "ethnic and religious affairs", Bucket.VILLAGE_AFFAIRS),
    ("19", "经济活动", "economic activity", Bucket.LABOUR_ECONOMY),
    ("20", "山林土地", "forest and land", Bucket.PROPERTY),
    ("21", "医患纠纷", "doctor-patient disputes", Bucket.EDUCATION_HEALTH),
    ("22", "村(社区)务管理", "village (community) administration", Bucket.VILLAGE_AFFAIRS),
    ("23", "行政执法活动", "administrative law enforcement", Bucket.LAW_ENFORCEMENT),
    ("24", "海事渔事", "maritime and fishery affairs", Bucket.ENVIRONMENT),
    ("25", "交通及生产安全", "traffic and work safety", Bucket.LAW_ENFORCEMENT),
    ("26", "计划生育", "family planning", Bucket.VILLAGE_AFFAIRS),
    ("27", "合同履行", "contract performance", Bucket.LABOUR_ECONOMY),
    ("28", "其他", "other", Bucket.VILLAGE_AFFAIRS),
))

#: Category code → name.
CATEGORIES: MappingProxyType[str, str] = MappingProxyType(
    {c.code: c.zh for c in CATEGORY_LIST})

#: Category code → report bucket.
CATEGORY_BUCKET: MappingProxyType[str, Bucket] = MappingProxyType(
    {c.code: c.bucket for c in CATEGORY_LIST})


class Level(LabelledIntEnum):
    """Administrative level at which a case sits (codes of the provincial system)."""

    GRID = 0, "网格", "grid"
    VILLAGE = 10, "村(社区)", "village (community)"
    TOWN = 20, "乡镇(街道)", "township"
    COUNTY = 30, "县(市、区)", "county"
    CITY = 40, "市", "city"
    PROVINCE = 50, "省", "province"


class Channel(LabelledStrEnum):
    """How a dispute came in (来源渠道)."""

    MANUAL = "人工录入", "人工录入", "entered by hand"
    GRID_PATROL = "网格员巡查", "网格员巡查", "grid worker's patrol"
    VISIT = "来访", "来访", "walk-in visit"
    HOTLINE = "热线电话", "热线电话", "hotline"
    POLICE = "110移交", "110移交", "handed over by the 110 police line"
    ZHELIBAN = "浙里办", "浙里办", "Zheliban app"
    WEBSITE = "网站", "网站", "website"
    ASSIGNED = "上级交办", "上级交办", "assigned from above"
    REPORTED_UP = "下级上报", "下级上报", "reported up from below"


class Satisfaction(LabelledStrEnum):
    SATISFIED = "满意", "满意", "satisfied"
    FAIRLY_SATISFIED = "基本满意", "基本满意", "fairly satisfied"
    DISSATISFIED = "不满意", "不满意", "dissatisfied"
    NOT_RATED = "未评价", "未评价", "not rated"


class Gender(LabelledIntEnum):
    """GB/T 2261.1-2003."""

    UNKNOWN = 0, "未知的性别", "unknown"
    MALE = 1, "男性", "male"
    FEMALE = 2, "女性", "female"
    UNSTATED = 9, "未说明的性别", "not stated"


class Role(LabelledStrEnum):
    APPLICANT = "申请方", "申请方", "applicant"
    RESPONDENT = "被申请方", "被申请方", "respondent"
    OTHER = "其他", "其他", "other"


class FlowAction(LabelledStrEnum):
    """Actions in a case's flow log."""

    REPORT_UP = "上报", "上报", "report up"
    ACCEPT = "受理", "受理", "accept"
    ASSIGN_DOWN = "交办", "交办", "assign down"
    RETURN = "回退", "回退", "send back"
    MEDIATE = "调解", "调解", "mediate"
    RESOLVE = "办结", "办结", "resolve"
    VERIFY_PASS = "验证通过", "验证通过", "verification passed"
    VERIFY_FAIL = "验证不通过", "验证不通过", "verification failed"
    SUPERVISE = "督办", "督办", "supervise"
    REVIEW = "评价", "评价", "rate"
    CLOSE = "关闭", "关闭", "close"


class ProvinceStatus(LabelledIntEnum):
    """Status codes of the provincial platform."""

    AWAITING_ACCEPTANCE = 110, "待受理", "awaiting acceptance"
    IN_PROGRESS = 120, "处理中", "in progress"
    AWAITING_READING = 140, "待阅读", "awaiting reading"
    AWAITING_VERIFICATION = 800, "待验证", "awaiting verification"
    VERIFICATION_FAILED = 900, "验证未通过", "verification failed"
    VERIFIED = 1000, "已验证", "verified"
    FILED = 1100, "备案", "filed"


#: Status code of the provincial platform → its name.
PROVINCE_STATUS: MappingProxyType[int, str] = MappingProxyType(
    {s.value: s.zh for s in ProvinceStatus})


class StatusFamily(LabelledStrEnum):
    """What a status means for counting: every mart counts open, in-flight and resolved
    cases by this family, and nothing else."""

    OPEN = "open", "未结", "open: being handled at its level"
    ESCALATED = "escalated", "上报中", ("escalated, in flight: handed up, not yet taken on "
                                        "by the level above")
    RESOLVED = "resolved", "已化解", "resolved"
    VOID = "void", "不计", "not counted: merged into another registration, or not accepted"


class CaseStatus(LabelledStrEnum):
    """Canonical case status; every source's status codes map onto these (see mappings/).
    Each status belongs to one StatusFamily."""

    family: StatusFamily

    def __new__(cls, value: str, zh: str, en: str, family: StatusFamily) -> CaseStatus:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh, member.en, member.family = zh, en, family
        return member

    REGISTERED = "registered", "待受理", "registered, awaiting acceptance", StatusFamily.OPEN
    ACCEPTED = "accepted", "已受理", "accepted", StatusFamily.OPEN
    ASSIGNED = "assigned", "已交办", "assigned down, awaiting reading", StatusFamily.OPEN
    IN_PROGRESS = "in_progress", "调处中", "in progress", StatusFamily.OPEN
    ESCALATED = "escalated", "已上报", "escalated to a higher level", StatusFamily.ESCALATED
    RESOLVED = "resolved", "已化解", "resolved", StatusFamily.RESOLVED
    VERIFYING = "verifying", "待验证", "resolved, awaiting verification", StatusFamily.RESOLVED
    VERIFY_FAILED = "verify_failed", "验证未通过", "verification failed: reopened", \
        StatusFamily.OPEN
    VERIFIED = "verified", "已验证", "resolved and verified", StatusFamily.RESOLVED
    CLOSED = "closed", "已关闭", "closed (archived, filed)", StatusFamily.RESOLVED
    MERGED = "merged", "已合并", "merged into another registration", StatusFamily.VOID
    REJECTED = "rejected", "不予受理", "not accepted", StatusFamily.VOID

    @property
    def is_resolved(self) -> bool:
        return self.family is StatusFamily.RESOLVED


STATUS_LABELS: MappingProxyType[CaseStatus, str] = MappingProxyType(
    {s: s.zh for s in CaseStatus})


class Scale(LabelledStrEnum):
    INDIVIDUAL = "individual", "个体", "individual"
    GROUP = "group", "群体", "group"


class PartyKind(LabelledStrEnum):
    PERSON = "person", "自然人", "person"
    ORGANISATION = "organisation", "法人或组织", "organisation"


class Datum(LabelledStrEnum):
    """Coordinate reference systems seen in the sources."""

    WGS84 = "WGS84", "WGS84坐标系", "WGS84 (GPS)"
    # the obfuscated datum Chinese map apps report
    GCJ02 = "GCJ02", "GCJ-02坐标系", "GCJ-02 (Chinese map apps)"
    # China's geodetic datum; within centimetres of WGS84
    CGCS2000 = "CGCS2000", "2000国家大地坐标系", "CGCS2000 (China's geodetic datum)"


class Supervision(LabelledStrEnum):
    NORMAL = "普通", "普通", "normal"
    YELLOW = "黄牌", "黄牌", "yellow card"
    RED = "红牌", "红牌", "red card"


class SourceName(LabelledStrEnum):
    PROVINCE = "province", "省平台", "the provincial dispute platform"
    COUNTY = "county", "县级系统", "the county's intake-and-handling system"
    TOWNSHIP = "township", "镇街台账", "the township offices' exports and ledgers"
    GRID = "grid", "网格", "the grid workers' patrol app"


# -- every list, for the tables and files derived from it ---------------------------------
#: Every code list, in the order the data dictionary shows them.
CODE_LISTS: tuple[CodeList, ...] = (
    CodeList("categories", "事件类别", "dispute categories",
             tuple(Code(c.code, c.zh, c.en, c.bucket.value) for c in CATEGORY_LIST), "bucket"),
    CodeList.of(Bucket, "报表大类", "report buckets"),
    CodeList("case_status", "案件状态", "canonical case statuses",
             tuple(Code(s.value, s.zh, s.en, s.family.value) for s in CaseStatus),
             "status_family", CaseStatus),
    CodeList.of(StatusFamily, "状态族", "status families"),
    CodeList.of(Level, "层级", "levels"),
    CodeList.of(Channel, "来源渠道", "intake channels"),
    CodeList.of(Satisfaction, "满意度", "satisfaction"),
    CodeList.of(Gender, "性别", "gender (GB/T 2261.1)"),
    CodeList.of(Role, "当事人角色", "party roles"),
    CodeList.of(PartyKind, "当事人类型", "party kinds"),
    CodeList.of(FlowAction, "流转动作", "flow actions"),
    CodeList.of(ProvinceStatus, "省平台状态码", "status codes of the provincial platform"),
    CodeList.of(Scale, "事件规模", "scale"),
    CodeList.of(Datum, "坐标系", "coordinate datums"),
    CodeList.of(Supervision, "督办级别", "supervision cards"),
    CodeList.of(SourceName, "来源系统", "source systems"),
)
