"""The compiled checks (conform.set_checks) against pydantic, record for record.

`validate` puts every record through pydantic; `validate_bulk` lets the SQL decide the
clean ones and sends the rest to pydantic. They must agree on every record: the same
rejected records with the same reasons, and the same staged rows, value for value. First
on every record of a generated world (clean and defective), then on records mutated by
hypothesis towards the edges each check draws, the scope checks' included (a deployment of
Zhejiang and one Beijing township; times around the records' receipt plus the tolerance).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, create_model

from conform.engine import Conformed, conform
from conform.mapping import load_mappings, select_mapping
from conform.set_checks import UncompiledCheck, compile_model
from conform.validate import Validated, received_table, validate, validate_bulk
from packs.disputes.conforming import CONTRACT
from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.people import credit_code, resident_id
from packs.disputes.mockworld.spec import WorldSpec
from packs.disputes.mockworld.world import generate
from packs.disputes.models import DIVISION_FIELDS, DisputeCase, Party
from packs.disputes.reference import DivisionRegistry, load_reference
from schemas import divisions
from schemas.identifiers import USCC_ALPHABET, resident_id_check_char, uscc_check_char
from schemas.reasons import Reason
from schemas.scope import Scope
from silobridge.extract import extract_source
from silobridge.packs import pack
from silobridge.settings import Settings

SPEC = WorldSpec(seed=23, cases=900, days=15, defect_rate=0.08)
TZ = ZoneInfo("Asia/Shanghai")
#: a deployment narrower than the registry, so that the scope check decides on its own:
#: eight of Jiashan's nine townships (their county, 330421, is in scope because it
#: contains them), the county of Nanhu and a township of Beijing (no registry knows it)
OUT_TOWN = "330421107"
TOLERANCE = timedelta(days=1)
SCOPE = Scope((*(t.code for t in divisions.load().townships_of("330421") if t.code != OUT_TOWN),
               "330402", "110101001"), TOLERANCE)
#: the same deployment flagging both checks: records load; the registry still judges
#: only what is inside the scope
FLAGGED = replace(SCOPE, flagged=frozenset({Reason.OUT_OF_SCOPE, Reason.IN_FUTURE}))
SCOPES = {"quarantine": SCOPE, "flag": FLAGGED}
#: when the mutated records were received (the world's own records: when they landed)
RECEIVED = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


@dataclass
class World:
    con: duckdb.DuckDBPyConnection
    registry: DivisionRegistry
    conformed: dict[str, Conformed]
    #: each world record's receipt: its batch's landing
    received: pa.Table


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("set-checks")
    generate(home / "world", SPEC)
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        s = Settings(home=home, province={"base_url": gateway.url})
        for source in ("province", "county", "township", "grid"):
            extract_source(s, source)
    con = duckdb.connect(str(s.warehouse_path))
    load_reference(con, home / "world" / "reference")
    con.execute("CREATE TEMP TABLE recs AS SELECT row_number() OVER (ORDER BY batch_id, "
                "row_no) AS _rid, r.source, r.origin, r.record, b.landed_at "
                "FROM raw.records r JOIN ops.batches b USING (batch_id) "
                "WHERE parse_error IS NULL")
    received = con.sql("SELECT _rid, landed_at AS _received_at FROM recs").to_arrow_table()
    mappings = load_mappings(pack("disputes").path("mappings"), CONTRACT)
    by_mapping: dict[str, list[str]] = {}
    for source, origin in con.execute("SELECT DISTINCT source, origin FROM recs").fetchall():
        by_mapping.setdefault(select_mapping(mappings, source, origin).name, []).append(origin)
    conformed = {}
    for m in mappings:
        if m.name not in by_mapping:
            continue
        con.register("_origins", pa.table({"origin": by_mapping[m.name]}))
        con.execute("CREATE OR REPLACE TEMP VIEW rel AS SELECT _rid, origin, record "
                    "FROM recs JOIN _origins USING (origin)")
        conformed[m.name] = conform(con, m, "rel")
        con.unregister("_origins")
    yield World(con, DivisionRegistry.from_warehouse(con), conformed, received)
    con.close()


def _both(w: World, c: Conformed, received: pa.Table | None = None,
          scope: Scope = SCOPE) -> tuple[Validated, Validated]:
    """(pydantic alone, the set-based path) on the same conformed records, received when
    `received` says (default: when the world's batches landed)."""
    received = w.received if received is None else received
    reference = validate(c, CONTRACT, w.registry, scope, received)
    cases_schema = c.root.schema.append(pa.field("lon_wgs84", pa.float64())) \
        .append(pa.field("lat_wgs84", pa.float64()))

    def table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
        keys = [("_rid", "ascending")] + ([("seq", "ascending")] if "seq" in schema.names
                                          else [])
        return pa.Table.from_pylist(rows, schema=schema).sort_by(keys)

    slow = Validated(table(reference.root, cases_schema),
                     {name: table(reference.children[name], c.children[name].schema)
                      for name in ("parties", "events")},
                     reference.rejected)
    return slow, validate_bulk(w.con, c, CONTRACT, w.registry, scope, received)


def _assert_agree(slow: Validated, fast: Validated) -> None:
    assert fast.rejected == slow.rejected
    for part in ("cases", "parties", "events"):
        got, want = _part(fast, part), _part(slow, part)
        assert got.schema == want.schema, part
        assert got.to_pylist() == want.to_pylist(), part


def _reasons(rejected: dict[int, list[Any]]) -> list[str]:
    return [p.reason for problems in rejected.values() for p in problems]


def test_both_paths_agree_on_every_record_of_the_world(world: World) -> None:
    clean = records = flagged_clean = 0
    for name, c in world.conformed.items():
        slow, fast = _both(world, c)
        _assert_agree(slow, fast)
        assert fast.clean > 0, name
        clean += fast.clean
        records += c.root.num_rows
        slow, fast = _both(world, c, scope=FLAGGED)
        _assert_agree(slow, fast)
        assert "out_of_scope" not in _reasons(fast.rejected)
        flagged_clean += fast.clean
    assert flagged_clean > clean  # the out-of-scope records load when flagged
    # the comparison means something only if both paths carried real weight
    rejected = [validate(c, CONTRACT, world.registry, SCOPE, world.received).rejected
                for c in world.conformed.values()]
    assert sum(map(len, rejected)) > 50
    assert clean > 0.5 * records
    # the province's other counties and the township left out are out of SCOPE
    assert sum(_reasons(r).count("out_of_scope") for r in rejected) > 50


def test_a_check_the_compiler_does_not_know_stops_it(world: World) -> None:
    def odd(value: int) -> int:
        return value

    schema = pa.schema([("_rid", pa.int64()), ("seq", pa.int64())])
    model = create_model("Odd", seq=(Annotated[int, AfterValidator(odd)], ...))
    with pytest.raises(UncompiledCheck, match=r"Odd\.seq: validator .*odd has no SQL form"):
        compile_model(CONTRACT, model, schema, False)


def test_the_models_compile(world: World) -> None:
    for c in world.conformed.values():
        assert compile_model(CONTRACT, DisputeCase, c.root.schema, True).fields
        assert compile_model(CONTRACT, Party, c.children["parties"].schema, False).fields


# -- clean records pushed towards each check's edges ------------------------------------
_SPACES = [" ", "\t", "\u3000", "\xa0", "\n", "\u2003", "\ufeff", "\x1c"]
_TEXTS = ["寮犱笁", "ÕÅÈý", "²Ü·É", "张三", "Ð»¿¡", "", " 张三", "张三\u3000", "\xa0张三",
          "x" * 50, "x" * 51, "张" * 100, "张" * 101, "张" * 200, "张" * 201, "张" * 2001,
          "été", "café", "\ufffd", "３３０４２１", "GCJ02", "WGS84", "CGCS2000",
          "bogus", "individual", "group", "A01", "Z99", "grid", "accepted", "x" * 4001]
_RANDOM_TEXT = st.text(alphabet=st.sampled_from(["张", "三", "镇", "a", "1", "·", "é", "²",
                                                 "Ü", *_SPACES]), max_size=8)


def _ids(r: random.Random) -> list[str]:
    good = resident_id(r, "330421", datetime(1975, 3, 9).date(), True)
    old = resident_id(r, "330421", datetime(1960, 1, 31).date(), False)
    legacy = old[:6] + old[8:17]

    def born(day: str) -> str:  # a valid check character, whatever the date
        first17 = good[:6] + day + good[14:17]
        return first17 + resident_id_check_char(first17)

    every = {}  # valid IDs with every check character
    for seq in range(200, 400):
        first17 = good[:14] + str(seq)
        every.setdefault(resident_id_check_char(first17), first17 + resident_id_check_char(
            first17))
    wrong = [first17 + c for first17 in (v[:17] for v in every.values()) for c in "0123456789X"]
    return [*sorted(every.values()), *wrong,
            good, good.lower(), f" {good} ", good[:17] + ("0" if good[17] != "0" else "1"),
            legacy, legacy + " ", "３３０４２１" + good[6:], good[:17], old.replace("X", "x"),
            born("19900230"), born("18691231"), born("18700101"), born("21001231"),
            born("21010101"), born("20001301"), born("20000229"), born("19000229")]


def _credit_codes(r: random.Random) -> list[str]:
    good = credit_code(r, "330421")
    # valid codes with every check character of both checks (each is a modulus edge)
    every: dict[tuple[str, str], str] = {}
    for _ in range(3000):
        code = credit_code(r, "330421")
        every.setdefault((code[16], "org"), code)
        every.setdefault((code[17], "uscc"), code)
    valid = sorted(set(every.values()))
    # and every wrong one: any check character, at either place (the USCC one recomputed
    # so that only the organisation-code check can fail)
    edge = [code for code in valid if code[17] in "01XY"]  # remainders 0, 1, 30 of 31
    wrong_uscc = [code[:17] + c for code in sorted({*valid[:3], *edge}) for c in USCC_ALPHABET]
    wrong_org = [code[:16] + c + uscc_check_char(code[:16] + c)
                 for code in valid[:5] for c in "0123456789X"]
    return [good, good.lower(), good[:17] + ("1" if good[17] != "1" else "2"),
            good[:8] + "I" + good[9:], f" {good}", good[:16] + "Z" + good[17],
            *valid, *wrong_uscc, *wrong_org]


_PHONES = ["13812345678", "+86 13812345678", "008613812345678", "+86-138-1234-5678",
           "0573-84123456", "057384123456", "(0573)84123456", " 13812345678", "12812345678",
           "１３８１２３４５６７８", "1381234567", "+8613812345678", "0086 13812345678",
           "0573-8412345", "05738412345678", "10573841234", "0573841234567",
           "0573-841234567", "057-84123456", "057-8412345", "057-841234567"]
_DIVISIONS = ["330421", "330421001", "330421001001", "330421001001001", "330421999",
              "33042100100", "３３０４２１", "330402", "330402001", "110101001",
              # well formed codes of other provinces, and either side of SCOPE's prefixes
              "340421", "320421001", "440101001001001", "330000", "339999001", "110102",
              "110101002", "110101002001", "110101", "110101001001", "110101001001001",
              "3", "11010100", OUT_TOWN, OUT_TOWN + "201", "330421108", "330403",
              "330402001", "330402001201", "33042110", "330421"]
#: codes that nest (so only the registry and the scope can fail them), widest first
_NESTED = [
    ("330421", "330421999", None, None),  # an unknown township, in scope
    ("330421", "330421001", "330421001999", None),  # an unknown village
    ("330421", "330421001", None, "330421001201999"),  # an unknown grid
    ("330402", "330402001", None, None),  # known, in scope
    ("330421", OUT_TOWN, None, None),  # known, out of scope
    ("330421", OUT_TOWN, OUT_TOWN + "201", OUT_TOWN + "201001"),
    ("330421", OUT_TOWN, OUT_TOWN + "399", None),  # out of scope, unknown to the registry
    ("330421", OUT_TOWN, None, OUT_TOWN + "201999"),
    ("110101", "110101001", None, None),  # in scope, unknown to every registry
    ("110101", "110101001", "110101001001", "110101001001001"),
    ("110101", "110101002", None, None),  # out of scope, unknown to every registry
    ("110101", "110101002", "110101002001", "110101002001001"),
    ("320421", "320421001", None, "320421001001001"),
]
_LATEST = RECEIVED + TOLERANCE
_MOMENTS = [datetime(1999, 12, 31, 23, 59, 59, tzinfo=TZ), datetime(2000, 1, 1, tzinfo=TZ),
            datetime(2099, 12, 31, 23, 59, tzinfo=TZ), datetime(2100, 1, 1, tzinfo=TZ),
            datetime(2026, 9, 3, 8, 0, tzinfo=TZ), datetime(2026, 12, 31, 8, 0, tzinfo=TZ),
            # the future check's edge: at the tolerance, a microsecond and a second past,
            # in the receipt's zone and in Zhejiang's
            _LATEST, _LATEST + timedelta(microseconds=1), _LATEST + timedelta(seconds=1),
            _LATEST - timedelta(seconds=1), _LATEST.astimezone(TZ),
            (_LATEST + timedelta(seconds=1)).astimezone(TZ),
            datetime(2029, 12, 1, 12, 0, tzinfo=TZ)]


def _edges(field: pa.Field, r: random.Random) -> list[Any]:
    """Values of this column's type at and around the edges of the model's checks."""
    name, kind = field.name, field.type
    if name == "id_number":
        return _ids(r)
    if name == "credit_code":
        return _credit_codes(r)
    if name == "phone":
        return _PHONES
    if name == "id_number_masked":
        return ["330421********2261", "330421**2261", "３３０４２１****2261",
                "330421********226x", "330421********226X"]
    if name.endswith("_code") and name != "category_code":
        return _DIVISIONS
    if pa.types.is_timestamp(kind):
        return _MOMENTS
    if pa.types.is_integer(kind):
        return [-1, 0, 1, 2, 9, 10, 20, 30, 50, 99, 100_000, 100_001]
    if pa.types.is_floating(kind):
        return [72.99, 73.0, 120.9, 136.0, 136.01, 3.0, 2.99, 30.8, 54.0, 54.01,
                float("nan"), float("inf")]
    if pa.types.is_decimal(kind):
        return [Decimal("-0.01"), Decimal("0"), Decimal("12.50"), Decimal("999999999999.99")]
    if pa.types.is_boolean(kind):
        return [True, False]
    return _TEXTS


def _value_for(field: pa.Field, r: random.Random) -> st.SearchStrategy[Any]:
    edges = st.sampled_from(_edges(field, r))
    if pa.types.is_timestamp(field.type):
        near_edge = st.integers(-3_000_000, 3_000_000).map(
            lambda us: _LATEST + timedelta(microseconds=us))
        return edges | near_edge | st.datetimes(min_value=datetime(2025, 1, 1),
                                                max_value=datetime(2027, 1, 1)).map(
            lambda d: d.replace(tzinfo=TZ))
    return edges | _RANDOM_TEXT if pa.types.is_string(field.type) else edges


@pytest.mark.parametrize("mode", SCOPES)
def test_both_paths_agree_on_every_edge_of_every_field(world: World,
                                                       seeds: list[tuple[Conformed, list[int]]],
                                                       mode: str) -> None:
    # exhaustive where hypothesis samples: each edge value alone in an otherwise clean record
    r = random.Random(5)
    for c, rids in seeds:
        records = [(rids[i % len(rids)], [(part, f.name, value)])
                   for i, (part, f, value) in enumerate(
                       (part, f, value) for part in ("cases", "parties", "events")
                       if _part(c, part).num_rows
                       for f in _part(c, part).schema if f.name != "_rid"
                       for value in [*_edges(f, r), *([None] if f.name != "seq" else [])])]
        records += [(rids[i % len(rids)], [("cases", name, code) for name, code in zip(
                        DIVISION_FIELDS, codes, strict=True)])
                    for i, codes in enumerate(_NESTED)]
        # every record received at RECEIVED, but every seventh: its receipt is unknown
        received = _received(len(records), every=7)
        slow, fast = _both(world, _mutated(c, records), received, SCOPES[mode])
        _assert_agree(slow, fast)
        # every outcome occurs: staged from Arrow, normalised by pydantic, rejected
        assert 0 < fast.clean < fast.root.num_rows
        assert fast.rejected
        scoped = {"out_of_scope", "in_future"} & set(_reasons(fast.rejected))
        assert scoped == ({"out_of_scope", "in_future"} if mode == "quarantine" else set())


def _received(n: int, every: int = 0) -> pa.Table:
    """Records 1…n received at RECEIVED, but for each `every`-th (0: none left out)."""
    return received_table({rid: RECEIVED for rid in range(1, n + 1)
                           if not every or rid % every})


def _mutation(c: Conformed, r: random.Random) -> st.SearchStrategy[tuple[str, str, Any]]:
    """(part, field, value): one field of the case, its first party or first event."""
    fields = [(part, name) for part in ("cases", "parties", "events")
              if _part(c, part).num_rows
              for name in _part(c, part).schema.names if name != "_rid"]

    def value(part: str, name: str) -> st.SearchStrategy[Any]:
        given = _value_for(_part(c, part).schema.field(name), r)
        # conform always numbers parties and events
        return given if name == "seq" else st.one_of(given, given, given, st.none())

    return st.sampled_from(fields).flatmap(
        lambda f: st.tuples(st.just(f[0]), st.just(f[1]), value(*f)))


def _mutated(c: Conformed, records: list[tuple[int, list[tuple[str, str, Any]]]]) -> Conformed:
    """Copies of the seed records (new `_rid`s 1, 2, …), each with its changes applied."""
    rows: dict[str, list[dict[str, Any]]] = {"cases": [], "parties": [], "events": []}
    by_rid = {part: {} for part in rows}
    for part in rows:
        for row in _part(c, part).to_pylist():
            by_rid[part].setdefault(row["_rid"], []).append(row)
    for new_rid, (rid, changes) in enumerate(records, start=1):
        for part in rows:
            copies = [{**row, "_rid": new_rid} for row in by_rid[part].get(rid, [])]
            for changed_part, name, value in changes:
                if changed_part == part and copies:
                    copies[0][name] = value
            rows[part] += copies
    parts = {part: pa.Table.from_pylist(rows[part], schema=_part(c, part).schema)
             for part in rows}
    return Conformed(parts["cases"], {"parties": parts["parties"], "events": parts["events"]},
                     c.errors.schema.empty_table())


def _part(c: Conformed | Validated, part: str) -> pa.Table:
    """The table of a part: the cases (the root) or a child group."""
    return c.root if part == "cases" else c.children[part]


@pytest.fixture(scope="module")
def seeds(world: World) -> list[tuple[Conformed, list[int]]]:
    """Per mapping: records both paths load, with parties and events where it has them."""
    out = []
    for c in world.conformed.values():
        loaded = set(validate_bulk(world.con, c, CONTRACT, world.registry, SCOPE,
                                   world.received).root["_rid"].to_pylist())
        full = loaded & set(c.children["parties"]["_rid"].to_pylist()) \
            & set(c.children["events"]["_rid"].to_pylist())
        out.append((c, sorted(full or loaded)[:5]))
    return out


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_both_paths_agree_on_mutated_records(world: World,
                                             seeds: list[tuple[Conformed, list[int]]],
                                             data: st.DataObject) -> None:
    c, rids = seeds[data.draw(st.integers(0, len(seeds) - 1), label="mapping")]
    r = random.Random(data.draw(st.integers(0, 2**16), label="id seed"))
    records = data.draw(st.lists(st.tuples(st.sampled_from(rids),
                                           st.lists(_mutation(c, r), min_size=1, max_size=2)),
                                 min_size=100, max_size=100), label="records")
    scope = SCOPES[data.draw(st.sampled_from(sorted(SCOPES)), label="mode")]
    _assert_agree(*_both(world, _mutated(c, records), _received(len(records), every=9),
                         scope))


def test_the_sql_stages_records_right_at_the_scope_edges(
        world: World, seeds: list[tuple[Conformed, list[int]]]) -> None:
    # A stricter SQL would still agree (pydantic decides what it leaves): this shows the
    # fast path takes records at the edges. Times exactly at the receipt plus the
    # tolerance; a deployment of exactly the records' townships, which their county
    # codes contain.
    for c, rids in seeds:
        edge = [("cases", "source_updated_at", _LATEST)]
        if c.children["events"].num_rows:
            edge.append(("events", "at", _LATEST))
        records = _mutated(c, [(rid, edge) for rid in rids])
        towns = tuple(sorted(set(records.root["town_code"].to_pylist())))
        scope = Scope(towns, TOLERANCE)
        fast = validate_bulk(world.con, records, CONTRACT, world.registry, scope,
                             _received(len(rids)))
        assert not fast.rejected
        assert fast.clean == len(rids)
        # flagged: what lies outside the scope (and so outside the registry's judgement)
        # loads from Arrow too, however far ahead it is dated
        ahead = [("cases", "source_updated_at", datetime(2029, 12, 1, tzinfo=TZ))]
        outside = [(rid, [*ahead, *(("cases", name, code) for name, code in zip(
                    DIVISION_FIELDS, codes, strict=True))])
                   for rid in rids for codes in _NESTED if codes[1][:9] in (OUT_TOWN,
                                                                            "110101002")]
        fast = validate_bulk(world.con, _mutated(c, outside), CONTRACT, world.registry, FLAGGED,
                             _received(len(outside)))
        assert not fast.rejected
        assert fast.clean == len(outside)
