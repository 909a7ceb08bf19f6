"""Conforming: translate each source's raw records into the canonical shape of schemas.models.

Every source dialect is described by a mapping file (TOML, in a pack's mappings/ folder,
see packs/disputes/mappings/README.md): which column feeds which canonical field, code
tables, date formats, division lookups, how parties and flow events are laid out.
`conform.mapping` parses and validates those files; `conform.engine` compiles one mapping
into set-based DuckDB SQL and runs it over a relation of raw records; `conform.drift`
compares a batch's columns with its mapping; `conform.reference` loads the division and
grid registry the lookups consult.
"""
