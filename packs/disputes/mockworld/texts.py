"""What people write about a dispute, in each level's own words.

Every category has a few concrete causes; each level phrases the same dispute its own
way (the grid worker informally, the township office in a fixed pattern, the county
formally), which is what makes cross-level text matching a real problem.
"""

from __future__ import annotations

import random

from ..codes import CATEGORIES

#: category → concrete causes ("因…")
CAUSES: dict[str, tuple[str, ...]] = {
    "01": ("反复信访诉求未解决", "对信访答复不满意"),
    "02": ("群体聚集苗头", "扬言采取过激行为"),
    "03": ("离婚财产分割", "赡养老人费用分担", "子女抚养权"),
    "04": ("噪音扰民", "排水沟堵塞", "楼道堆放杂物", "宠物伤人", "相邻通行受阻", "空调外机滴水"),
    "05": ("养殖场异味", "工厂排放废水", "焚烧垃圾烟尘"),
    "06": ("房屋装修损坏邻居墙体", "工程款结算", "施工噪音"),
    "07": ("物业费收缴", "小区停车位", "电梯维修费用"),
    "08": ("企业改制职工安置", "改制补偿款"),
    "09": ("执行款未到位", "判决执行"),
    "10": ("村干部工作作风", "办事拖延"),
    "11": ("拖欠工资", "工伤赔偿", "解除劳动合同补偿", "加班费"),
    "12": ("拆迁补偿标准", "征地补偿款分配"),
    "13": ("退役军人安置待遇",),
    "14": ("宅基地边界", "房屋漏水", "违章搭建影响采光", "房屋继承"),
    "15": ("村集体资产处置", "土地流转收益分配"),
    "16": ("农业补贴发放",),
    "17": ("学生校内受伤", "学位安排"),
    "18": ("宗教活动场所使用",),
    "19": ("民间借贷", "合伙经营利润分配", "货款拖欠"),
    "20": ("承包地界址", "林地权属"),
    "21": ("手术后遗症赔偿", "医疗费用争议"),
    "22": ("村务公开", "低保评定"),
    "23": ("违建拆除执法", "行政处罚异议"),
    "24": ("渔船碰撞", "养殖水面承包"),
    "25": ("交通事故赔偿", "生产安全事故赔偿"),
    "26": ("社会抚养费",),
    "27": ("租赁合同违约", "买卖合同违约", "承包合同纠纷"),
    "28": ("其他矛盾",),
}

#: category → how a grid worker types the category into the app (free text)
GRID_WORDS: dict[str, tuple[str, ...]] = {
    "01": ("信访问题", "信访"), "02": ("不稳定因素", "维稳隐患"), "03": ("婚姻家庭", "家庭矛盾"),
    "04": ("邻里纠纷", "邻里矛盾", "邻居吵架"), "05": ("环境污染", "环境问题"),
    "06": ("建筑工程", "工程纠纷"), "07": ("物业纠纷", "物业管理"), "08": ("企业改制",),
    "09": ("司法问题",), "10": ("干部作风",), "11": ("劳资纠纷", "讨薪", "欠薪"),
    "12": ("征地拆迁", "拆迁"), "13": ("军人安置",), "14": ("宅基地纠纷", "房屋纠纷"),
    "15": ("三资问题",), "16": ("农民负担",), "17": ("学校问题",), "18": ("宗教问题",),
    "19": ("经济纠纷", "借贷纠纷"), "20": ("土地纠纷", "山林土地"), "21": ("医患纠纷",),
    "22": ("村务问题",), "23": ("执法问题",), "24": ("渔事纠纷",),
    "25": ("交通事故", "安全生产"), "26": ("计生问题",), "27": ("合同纠纷",), "28": ("其他",),
}

#: category → how a village ledger names it (names, not codes; some spelled differently)
LEDGER_NAMES: dict[str, tuple[str, ...]] = {
    code: (name, name + "纠纷") if not name.endswith("纠纷") else (name,)
    for code, name in CATEGORIES.items()
}

_GRID_OPENERS = ("巡查发现", "群众反映", "走访中了解到", "")
_GRID_CLOSERS = ("双方情绪激动", "需要协调处理", "已做初步劝解", "请求村里介入")


def cause(r: random.Random, category: str) -> str:
    return r.choice(CAUSES[category])


def grid_description(r: random.Random, place: str, a: str, b: str, why: str) -> str:
    opener = r.choice(_GRID_OPENERS)
    return f"{opener}{place}{a}和{b}{why}问题发生矛盾，{r.choice(_GRID_CLOSERS)}"


def township_title(a: str, b: str, why: str) -> str:
    return f"{a}与{b}{why}纠纷"


def township_summary(place: str, a: str, b: str, why: str, people: int) -> str:
    who = "居民" if place.endswith("社区") else "村民"
    return (f"{place}{who}{a}与{b}因{why}产生矛盾，涉及{people}人，"
            "经网格员上报后由调解委员会介入调处。")


def county_title(a: str, b: str, why: str) -> str:
    return f"关于{a}与{b}{why}的矛盾纠纷"


def county_content(place: str, a: str, b: str, why: str, people: int, amount: str | None) -> str:
    money = f"，涉及金额{amount}元" if amount else ""
    return (f"申请人{a}反映：其与被申请人{b}因{why}发生纠纷{money}，涉及{people}人。"
            f"发生地点：{place}。申请人请求依法调处，维护其合法权益。")
