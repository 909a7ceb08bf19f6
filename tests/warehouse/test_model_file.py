"""Mart files: the header's language (a good header read whole; a bad one named by file,
line and what is wrong) and the dispute pack's marts as shipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from packs.disputes.catalogue import CATALOGUE
from silobridge.marts import pack_marts
from silobridge.packs import pack
from warehouse.marts import build_order, load_marts, upstream
from warehouse.model_file import ModelError, ModelFile, parse_model_text, render

GOOD = """-- a comment before the header
MODEL (
  name marts.cases_by_town,
  kind INCREMENTAL_BY_KEY (key town_code, key_columns (town_code)),
  grain (town_code, month),
  owner '嘉善县社会矛盾纠纷调处化解中心',   -- who answers for it
  description '各镇街每月案件 / the town''s cases by month',
  column_descriptions (
    town_code = '乡镇街道代码 / township code',
    month = '月份 / month',
    cases = '案件数 / number of cases',
  )
);

SELECT town_code, strftime(occurred_at, '%Y-%m') AS month, count(*) AS cases
FROM core.cases WHERE @touched(coalesce(town_code, '')) GROUP BY ALL;
"""
FILE = Path("marts/cases_by_town.sql")


def test_a_header_read_whole() -> None:
    model = parse_model_text(GOOD, FILE)
    assert model == ModelFile(
        path=FILE, name="marts.cases_by_town", kind="INCREMENTAL_BY_KEY",
        grain=("town_code", "month"), owner="嘉善县社会矛盾纠纷调处化解中心",
        description="各镇街每月案件 / the town's cases by month",
        columns={"town_code": "乡镇街道代码 / township code", "month": "月份 / month",
                 "cases": "案件数 / number of cases"},
        query=GOOD[GOOD.index("SELECT"):GOOD.rindex(";")], query_line=15,
        key="town_code", key_columns=("town_code",))
    assert (model.schema, model.table, model.is_table) == ("marts", "cases_by_town", True)
    assert render(model, None).endswith("WHERE TRUE GROUP BY ALL")
    assert render(model, "_keys").endswith(
        """WHERE ((coalesce(town_code, '')) IN (SELECT "town_code" FROM _keys)) GROUP BY ALL""")


def _header(**changes: str) -> str:
    """GOOD with a line of its header replaced: {property: new line, or '' to drop it}."""
    lines = GOOD.splitlines()
    for prop, new in changes.items():
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(prop))
        lines[at] = new
    return "\n".join(lines)


# each bad file, the line its error names and the words it says there
BAD = [
    ("SELECT 1", 1, "a mart file starts with MODEL (...);"),
    ("MODEL (name marts.cases_by_town", 1, "the MODEL header does not end"),
    (_header(owner="  onwer 'x',"), 6, "unknown property 'onwer' (a header gives name, kind, "
     "grain, owner, description, column_descriptions)"),
    (_header(grain="  grain town_code, owner 'x',"), 6, "'owner' given twice"),
    (_header(grain=""), 13, "the header lacks grain"),
    (_header(name="  name cases_by_town,"), 3,
     "name must be schema.table in lower case, not 'cases_by_town'"),
    (_header(name="  name marts.cases_by_village,"), 3,
     "marts.cases_by_village belongs in a file named cases_by_village.sql"),
    (_header(kind="  kind TABLE,"), 4, "unknown kind 'TABLE': one of VIEW, FULL, "
     "INCREMENTAL_BY_KEY"),
    (_header(kind="  kind VIEW (key town_code),"), 4, "kind VIEW takes no parameters"),
    (_header(kind="  kind INCREMENTAL_BY_KEY,"), 4,
     "kind INCREMENTAL_BY_KEY needs (key <column>)"),
    (_header(kind="  kind INCREMENTAL_BY_KEY (key_columns (town_code)),"), 4,
     "kind INCREMENTAL_BY_KEY needs (key <column>)"),
    (_header(kind="  kind INCREMENTAL_BY_KEY (key town_code, key town_code),"), 4,
     "INCREMENTAL_BY_KEY takes key and key_columns once each, not 'key'"),
    (_header(kind="  kind INCREMENTAL_BY_KEY (key town_code, key_columns (town)),"), 4,
     "grain and key_columns name columns the header describes; not town"),
    (_header(grain="  grain (town_code month),"), 5, "expected ',' or ')' in grain, found "
     "'month'"),
    (_header(grain="  grain (core.town_code),"), 5, "a column name, not 'core.town_code'"),
    (_header(owner="  owner 嘉善县,"), 6, "unexpected '嘉' in the MODEL header"),
    (_header(owner="  owner '嘉善县,"), 6, "a quoted string that does not end on its line"),
    (_header(owner="  owner x,"), 6, "expected a quoted string: the owning department "
     "after owner, found 'x'"),
    (_header(description="  description 'English only',"), 7,
     "description must read '中文 / English', not 'English only'"),
    (_header(month="    month = '月份',"), 10, "month must read '中文 / English'"),
    (_header(month="    town_code = '乡镇 / town',"), 10, "column 'town_code' described twice"),
    (_header(cases="    cases '案件数 / number of cases',"), 11, "expected '=' after cases"),
    (GOOD[:GOOD.index("SELECT")], 15, "no query after the MODEL header"),
    (GOOD.replace("@touched", "@scoped"), 15, "unknown macro @scoped"),
    (GOOD.replace("@touched(coalesce(town_code, ''))", "@touched(town_code"), 16,
     "@touched takes one expression in balanced parentheses"),
    (GOOD.replace("WHERE @touched(coalesce(town_code, ''))", "WHERE TRUE"), 4,
     "an INCREMENTAL_BY_KEY query keeps its rows to the touched keys with "
     "@touched(<town_code expression>)"),
    (_header(kind="  kind FULL,"), 4,
     "kind FULL recomputes everything: only INCREMENTAL_BY_KEY may use @touched"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD)
def test_a_bad_header_names_its_file_line_and_fault(text: str, line: int,
                                                    message: str) -> None:
    with pytest.raises(ModelError) as caught:
        parse_model_text(text, FILE)
    assert message in caught.value.problem
    assert (caught.value.path, caught.value.line) == (FILE, line)
    assert str(caught.value).startswith(f"{FILE}:{line}: ")


def test_the_dispute_marts_load_in_build_order() -> None:
    marts = pack_marts()
    folder = pack("disputes").path("marts")
    assert {m.path for m in marts} == set(folder.glob("*.sql"))
    assert load_marts(folder) == marts == build_order(reversed(marts))
    names = [m.name for m in marts]
    for at, model in enumerate(marts):
        assert upstream(model, names) <= set(names[:at]), model.name
    reads = {m.name: upstream(m, names) for m in marts}
    assert reads["marts.backlog_by_township"] == {"marts.open_cases"}
    assert reads["marts.sync_gap"] == {"core.unsynced", "marts.as_of"}
    assert {m.name for m in marts if m.is_table} == {
        "core.case_conflicts", "core.unsynced", "core.party_pairs"}


def test_published_marts_describe_their_columns_as_the_catalogue_labels_them() -> None:
    """Until the catalogue reads the headers, the two must say the same."""
    published = {t.name: t for t in CATALOGUE.tables}
    for model in pack_marts():
        table = published.get(model.name)
        if table is None:
            continue
        assert model.description == f"{table.zh} / {table.en}", model.name
        for column, words in model.columns.items():
            meta = CATALOGUE.column(table, column)
            assert words == f"{meta.zh} / {meta.en}", f"{model.name}.{column}"
