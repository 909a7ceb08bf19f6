"""Domain packs: one folder per domain, everything domain-specific in one place.

A pack holds its source declarations (`pack.toml`), models and code lists, mapping files,
marts and audits as SQL, expectations, outbound mappings, and the domain's mock world
with its answer key. The engine (connectors, conform, warehouse, quality, schemas) never
imports a pack; the app layer (silobridge) finds the installed ones and hands them in.
"""
