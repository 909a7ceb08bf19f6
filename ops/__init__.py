"""Operations tooling around the pipeline: the mock world's commands, the demo, the local
Airflow stack, the benchmark, and the linking scored against the mock world's answer key.

It drives the pipeline from outside and may import any of it; nothing in the pipeline
(schemas, connectors, conform, warehouse, quality, the packs, silobridge) imports it, nor
the packs' mock worlds (import-linter contracts in pyproject.toml). The `silobridge`
command is ops.cli: the pipeline's commands with these added.
"""
