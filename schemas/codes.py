"""Code lists shared by every level: dispute categories, levels, channels and the like.

Sources: the category list and level/status codes of a Zhejiang grassroots governance
system, GB/T 2261.1 for gender (see the project's domain notes). The roll-up of the 28
categories into the county report's 8 buckets is our assignment; counties differ.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from types import MappingProxyType

#: The 28 dispute categories (two-digit code → name).
CATEGORIES: MappingProxyType[str, str] = MappingProxyType(
    {
        "01": "信访问题处理",
        "02": "不稳定因素报告",
        "03": "婚姻家庭",
        "04": "邻里纠纷",
        "05": "环境生态",
        "06": "建筑工程",
        "07": "物业管理",
        "08": "企业改制",
        "09": "司法活动",
        "10": "干部作风",
        "11": "劳资纠纷",
        "12": "征地拆迁",
        "13": "军人安置",
        "14": "房屋和宅基地",
        "15": '农村"三资"',
        "16": "农民负担",
        "17": "院校问题",
        "18": "民族宗教",
        "19": "经济活动",
        "20": "山林土地",
        "21": "医患纠纷",
        "22": "村(社区)务管理",
        "23": "行政执法活动",
        "24": "海事渔事",
        "25": "交通及生产安全",
        "26": "计划生育",
        "27": "合同履行",
        "28": "其他",
    }
)


class Bucket(StrEnum):
    """The eight buckets of the county's monthly report."""

    PROPERTY = "权属纠纷"
    DEMOLITION = '"三改一拆"'
    LAW_ENFORCEMENT = "执法司法"
    LABOUR_ECONOMY = "劳资经济"
    ENVIRONMENT = "环境污染"
    VILLAGE_AFFAIRS = "村(社)务"
    EDUCATION_HEALTH = "教育卫生"
    FAMILY_NEIGHBOURS = "婚姻家庭邻里"


#: Category code → report bucket.
CATEGORY_BUCKET: MappingProxyType[str, Bucket] = MappingProxyType(
    {
        "01": Bucket.LAW_ENFORCEMENT,
        "02": Bucket.LAW_ENFORCEMENT,
        "03": Bucket.FAMILY_NEIGHBOURS,
        "04": Bucket.FAMILY_NEIGHBOURS,
        "05": Bucket.ENVIRONMENT,
        "06": Bucket.DEMOLITION,
        "07": Bucket.VILLAGE_AFFAIRS,
        "08": Bucket.LABOUR_ECONOMY,
        "09": Bucket.LAW_ENFORCEMENT,
        "10": Bucket.LAW_ENFORCEMENT,
        "11": Bucket.LABOUR_ECONOMY,
        "12": Bucket.DEMOLITION,
        "13": Bucket.VILLAGE_AFFAIRS,
        "14": Bucket.PROPERTY,
        "15": Bucket.VILLAGE_AFFAIRS,
        "16": Bucket.VILLAGE_AFFAIRS,
        "17": Bucket.EDUCATION_HEALTH,
        "18": Bucket.VILLAGE_AFFAIRS,
        "19": Bucket.LABOUR_ECONOMY,
        "20": Bucket.PROPERTY,
        "21": Bucket.EDUCATION_HEALTH,
        "22": Bucket.VILLAGE_AFFAIRS,
        "23": Bucket.LAW_ENFORCEMENT,
        "24": Bucket.ENVIRONMENT,
        "25": Bucket.LAW_ENFORCEMENT,
        "26": Bucket.VILLAGE_AFFAIRS,
        "27": Bucket.LABOUR_ECONOMY,
        "28": Bucket.VILLAGE_AFFAIRS,
    }
)


class Level(IntEnum):
    """Administrative level at which a case sits (codes of the provincial system)."""

    GRID = 0
    VILLAGE = 10
    TOWN = 20
    COUNTY = 30
    CITY = 40
    PROVINCE = 50


class Channel(StrEnum):
    """How a dispute came in (来源渠道)."""

    MANUAL = "人工录入"
    GRID_PATROL = "网格员巡查"
    VISIT = "来访"
    HOTLINE = "热线电话"
    POLICE = "110移交"
    ZHELIBAN = "浙里办"
    WEBSITE = "网站"
    ASSIGNED = "上级交办"
    REPORTED_UP = "下级上报"


class Satisfaction(StrEnum):
    SATISFIED = "满意"
    FAIRLY_SATISFIED = "基本满意"
    DISSATISFIED = "不满意"
    NOT_RATED = "未评价"


class Gender(IntEnum):
    """GB/T 2261.1-2003."""

    UNKNOWN = 0
    MALE = 1
    FEMALE = 2
    UNSTATED = 9


class Role(StrEnum):
    APPLICANT = "申请方"
    RESPONDENT = "被申请方"
    OTHER = "其他"


class FlowAction(StrEnum):
    """Actions in a case's flow log."""

    REPORT_UP = "上报"
    ACCEPT = "受理"
    ASSIGN_DOWN = "交办"
    RETURN = "回退"
    MEDIATE = "调解"
    RESOLVE = "办结"
    VERIFY_PASS = "验证通过"  # noqa: S105 - a flow action, not a password
    VERIFY_FAIL = "验证不通过"
    SUPERVISE = "督办"
    REVIEW = "评价"
    CLOSE = "关闭"


#: Status codes of the provincial platform.
PROVINCE_STATUS: MappingProxyType[int, str] = MappingProxyType(
    {
        110: "待受理",
        120: "处理中",
        140: "待阅读",
        800: "待验证",
        900: "验证未通过",
        1000: "已验证",
        1100: "备案",
    }
)


class CaseStatus(StrEnum):
    """Canonical case status; every source's status codes map onto these (see mappings/)."""

    REGISTERED = "registered"        # 待受理 / 登记
    ACCEPTED = "accepted"            # 已受理
    ASSIGNED = "assigned"            # 已交办 / 待阅读
    IN_PROGRESS = "in_progress"      # 调处中 / 处理中
    ESCALATED = "escalated"          # 已上报上级
    RESOLVED = "resolved"            # 已化解 / 已办结
    VERIFYING = "verifying"          # 待验证
    VERIFY_FAILED = "verify_failed"  # 验证未通过
    VERIFIED = "verified"            # 已验证
    CLOSED = "closed"                # 已关闭 / 已归档 / 备案
    MERGED = "merged"                # 已合并 (a duplicate registration)
    REJECTED = "rejected"            # 不予受理

    @property
    def is_resolved(self) -> bool:
        return self in _RESOLVED_STATUSES


_RESOLVED_STATUSES = frozenset({CaseStatus.RESOLVED, CaseStatus.VERIFYING, CaseStatus.VERIFIED,
                                CaseStatus.CLOSED})

STATUS_LABELS: MappingProxyType[CaseStatus, str] = MappingProxyType({
    CaseStatus.REGISTERED: "待受理", CaseStatus.ACCEPTED: "已受理", CaseStatus.ASSIGNED: "已交办",
    CaseStatus.IN_PROGRESS: "调处中", CaseStatus.ESCALATED: "已上报",
    CaseStatus.RESOLVED: "已化解", CaseStatus.VERIFYING: "待验证",
    CaseStatus.VERIFY_FAILED: "验证未通过", CaseStatus.VERIFIED: "已验证",
    CaseStatus.CLOSED: "已关闭", CaseStatus.MERGED: "已合并", CaseStatus.REJECTED: "不予受理",
})


class Scale(StrEnum):
    INDIVIDUAL = "individual"  # 个体
    GROUP = "group"            # 群体


class PartyKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


class Datum(StrEnum):
    """Coordinate reference systems seen in the sources."""

    WGS84 = "WGS84"
    GCJ02 = "GCJ02"        # the obfuscated datum Chinese map apps report
    CGCS2000 = "CGCS2000"  # China's geodetic datum; within centimetres of WGS84


class Supervision(StrEnum):
    NORMAL = "普通"
    YELLOW = "黄牌"
    RED = "红牌"


class SourceName(StrEnum):
    PROVINCE = "province"
    COUNTY = "county"
    TOWNSHIP = "township"
    GRID = "grid"
