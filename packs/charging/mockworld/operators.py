"""The charging operators of the world and the quirks each one's feed has.

Every quirk is something real platforms do (see the pack's charging notes): the pipeline
must learn each operator's habits from its declaration, so the answer key lists them
(answer_key/operators.json) and tests check each one is present where it should be.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .ids import org_code


class Quirk(StrEnum):
    #: some messages spell keys in lower camel case (`connectorID`, `stationID`)
    KEY_CASING = "key_casing"
    #: money keys spelt `Service…` instead of the protocol's own `Sevice…` typo
    SERVICE_SPELLING = "service_spelling"
    #: coordinates in BD-09 (Baidu) instead of the protocol's GCJ-02
    BD09 = "bd09"
    #: `Power` of equipment and connectors in W instead of kW
    WATTS = "watts"
    #: some connectors' statuses freeze (the platform repeats the last one it had)
    STALE_STATUS = "stale_status"
    #: order times in UTC, ISO 8601 with fractional seconds and no zone
    UTC_TIMES = "utc_times"


@dataclass(frozen=True)
class Operator:
    operator_id: str
    name: str
    #: prefix of its station ids and of its names for stations ("沪充云·…")
    prefix: str
    brand: str
    quirks: frozenset[Quirk]

    @property
    def secrets(self) -> dict[str, str]:
        """OperatorSecret (token), DataSecret + DataSecretIV (AES key and IV, 16 characters
        each) and SigSecret (HMAC-MD5), as the platform and the operator exchange them.
        Derived from the id: mock secrets that guard nothing, known to tests and the demo."""
        base = self.operator_id.lower()
        return {"OperatorSecret": f"sec{base}op",
                "DataSecret": f"{base}datakey"[:16].ljust(16, "k"),
                "DataSecretIV": f"{base}iv0000000"[:16].ljust(16, "0"),
                "SigSecret": f"{base}sig0000000"[:16].ljust(16, "0")}


PROFILES = (
    Operator(org_code("MA1FL3EC"), "上海星桩新能源科技有限公司", "XZ", "星桩",
             frozenset({Quirk.KEY_CASING, Quirk.SERVICE_SPELLING})),
    Operator(org_code("MA1H2K5D"), "上海驿电充电服务有限公司", "YD", "驿电",
             frozenset({Quirk.BD09, Quirk.WATTS})),
    Operator(org_code("MA1J6P3Q"), "上海快电能源科技有限公司", "KD", "快电",
             frozenset({Quirk.STALE_STATUS, Quirk.UTC_TIMES})),
    Operator(org_code("MA1C8R7T"), "上海沪充云网络科技有限公司", "HC", "沪充云", frozenset()),
)


#: the municipal platform's own OperatorID: it calls the operators with this id
PLATFORM_ID = org_code("MA1SHJDP")


def operators(count: int) -> tuple[Operator, ...]:
    return PROFILES[:count]
