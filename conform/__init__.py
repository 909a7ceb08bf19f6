"""Conforming: translate each source's raw records into the canonical shape of a pack.

The engine knows no domain. A pack hands in its contract (`conform.contract`): its root
model and child groups (a charging station, say, with its equipment and its connectors),
which root fields a mapping's header sets, code lists, built-in code tables, the
reference registry lookups consult, and the SQL forms of its models' own validators.
Every source dialect is described by a mapping file (TOML, in the pack's mappings/
folder, whose README documents the language).

- `mapping`, `expressions`, `mapping_checks`, `targets`: parse mapping files against a
  contract and check them;
- `engine`, `compiler`, `children`, `sql`: compile one mapping into set-based DuckDB SQL
  and run it over a relation of raw records;
- `validate`, `set_checks`, `check_sql`: validate the conformed records against the
  pack's models, deciding the clean ones in SQL and the rest in pydantic;
- `drift`: compare a batch's columns with its mapping.
"""
