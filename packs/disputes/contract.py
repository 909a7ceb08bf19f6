"""What the dispute pack publishes for the departments that share disputes with it
(`silobridge schemas export`, committed in schemas/published/): its models, its code
lists, and the few words the data dictionary says about them (schemas.contract).

The categories and the province's status codes are published in shapes of their own (a
category's report bucket; the platform's integer codes), and the canonical statuses with
their family.
"""

from __future__ import annotations

from schemas.contract import CheckDoc, Contract, ListTable
from schemas.labelled import labelled_enums

from . import codes
from .codes import CATEGORIES, CATEGORY_LIST, CaseStatus, ProvinceStatus
from .models import MODELS, SCHEMA_VERSION, check_category

CONTRACT = Contract(
    title="矛盾纠纷数据共享：数据字典 / Dispute data sharing: data dictionary",
    version=SCHEMA_VERSION,
    models=MODELS,
    record="dispute",
    enums=tuple(e for e in labelled_enums(codes) if e is not ProvinceStatus),
    looked_up="township, village and grid codes",
    lists={
        "categories": [{"code": c.code, "name": c.zh, "en": c.en, "bucket": c.bucket.value,
                        "bucket_key": c.bucket.name} for c in CATEGORY_LIST],
        "province_status": [{"code": s.value, "zh": s.zh, "en": s.en} for s in ProvinceStatus],
    },
    members={CaseStatus: lambda s: {"family": s.family.value, "is_resolved": s.is_resolved}},
    tables=(
        ListTable(f"Categories ({len(CATEGORIES)})", ("code", "名称", "English", "report bucket"),
                  tuple((c.code, c.zh, c.en, c.bucket.value) for c in CATEGORY_LIST)),
        ListTable("Canonical statuses (CaseStatus)", ("code", "中文", "English", "status family"),
                  tuple((s.value, s.zh, s.en, s.family.value) for s in CaseStatus),
                  shows=CaseStatus),
        ListTable("Province platform status codes", ("code", "中文", "English"),
                  tuple((s.value, s.zh, s.en) for s in ProvinceStatus)),
    ),
    checks={check_category: CheckDoc(
        "2 digits", f"one of the {len(CATEGORIES)} category codes listed under Categories")},
)
