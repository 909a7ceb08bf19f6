"""People and organisations, each rebuilt on demand from its index.

Names come from faker's zh_CN lists (drawn with our own named streams, so they do not
depend on faker's global random state); resident IDs are valid under GB 11643 (and
python-stdnum's birth-place table), credit codes under GB 32100 and GB 11714.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate

from faker.providers.company.zh_CN import Provider as _Company
from faker.providers.person.zh_CN import Provider as _Person
from faker.providers.phone_number.zh_CN import Provider as _Phone

from schemas.divisions import JIASHAN
from schemas.identifiers import (
    USCC_ALPHABET,
    org_code_check_char,
    resident_id_check_char,
    uscc_check_char,
)

from .geography import Geography, Village
from .rng import stream, weighted

_SURNAMES = list(_Person.last_names.keys())
_SURNAME_CUM = list(accumulate(_Person.last_names.values()))
_MOBILE_PREFIXES = [str(p) for p in _Phone.phonenumber_prefixes]
_BRANDS = [p for p in _Company.company_prefixes if len(p) == 2]
_INDUSTRIES = ("建材", "纺织", "木业", "电子", "五金", "物流", "建筑工程", "食品", "服饰",
               "机械", "农业开发", "物业管理", "家具", "塑料制品", "装饰工程")
# Where Jiashan residents' IDs were first issued: mostly here, some elsewhere in Jiaxing,
# and migrant workers from inland provinces.
_ID_AREAS = (("330421", 0.74), ("330424", 0.04), ("330481", 0.04), ("342124", 0.04),
             ("360426", 0.03), ("412726", 0.03), ("510722", 0.03), ("522425", 0.02),
             ("432522", 0.02), ("362330", 0.01))


def person_name(r: random.Random, male: bool) -> str:
    given = _Person.first_names_male if male else _Person.first_names_female
    surname = r.choices(_SURNAMES, cum_weights=_SURNAME_CUM)[0]
    return surname + r.choice(given)


def phone(r: random.Random) -> str:
    return r.choice(_MOBILE_PREFIXES) + f"{r.randrange(10**8):08d}"


def resident_id(r: random.Random, area: str, born: date, male: bool) -> str:
    seq = r.randrange(0, 500) * 2 + (1 if male else 0)
    first17 = f"{area}{born:%Y%m%d}{seq:03d}"
    return first17 + resident_id_check_char(first17)


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    name: str
    male: bool
    born: date
    id_number: str
    phone: str
    village: str
    address: str

    @property
    def legacy_id(self) -> str | None:
        """The 15-digit form an old household register may still carry (born 1900s only)."""
        if self.id_number[6:8] != "19":
            return None
        return self.id_number[:6] + self.id_number[8:17]


@dataclass(frozen=True, slots=True)
class Organisation:
    index: int
    name: str
    credit_code: str
    town: str


class Population:
    """Residents of Jiashan's villages (person index → person) and its companies."""

    def __init__(self, geo: Geography) -> None:
        self.geo = geo
        self.seed = geo.seed
        self.person = lru_cache(maxsize=50_000)(self._person)

    @property
    def size(self) -> int:
        return self.geo.population_offsets[-1]

    def village_range(self, v: Village) -> range:
        i = self.geo.village_index[v.code]
        offs = self.geo.population_offsets
        return range(offs[i], offs[i + 1])

    def _village_of(self, index: int) -> Village:
        from bisect import bisect_right  # noqa: PLC0415

        return self.geo.villages[bisect_right(self.geo.population_offsets, index) - 1]

    def _person(self, index: int) -> Person:
        r = stream(self.seed, "person", index)
        village = self._village_of(index)
        return make_person(r, index, village.code, village.name, JIASHAN_AREAS)

    def organisation(self, town: str, index: int) -> Organisation:
        r = stream(self.seed, "org", town, index)
        name = f"嘉善{r.choice(_BRANDS)}{r.choice(_INDUSTRIES)}有限公司"
        return Organisation(index, name, credit_code(r, JIASHAN), town)


JIASHAN_AREAS = _ID_AREAS


def make_person(r: random.Random, index: int, village_code: str, village_name: str,
                areas: tuple[tuple[str, float], ...]) -> Person:
    male = r.random() < 0.52
    born = date(1942, 1, 1) + timedelta(days=r.randrange(0, 62 * 365))
    number = resident_id(r, weighted(r, areas), born, male)
    address = f"{village_name}{r.randint(1, 12)}组{r.randint(1, 180)}号"
    return Person(index, person_name(r, male), male, born, number, phone(r),
                  village_code, address)


def credit_code(r: random.Random, area: str) -> str:
    """A GB 32100 code for an enterprise (91) registered in `area`."""
    body = "".join(r.choice(USCC_ALPHABET[:10] if k < 2 else USCC_ALPHABET) for k in range(8))
    org = body + org_code_check_char(body)
    first17 = "91" + area + org
    return first17 + uscc_check_char(first17)
