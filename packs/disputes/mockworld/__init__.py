"""A deterministic, Jiashan-centred world of grassroots disputes and the four source systems
that record them (province API, county database, township drop folders, grid app exports),
with an answer key that tells the truth about every source record.

The world is a pure function of its spec (seed, size, start, days): `generate` writes it,
`advance` moves it forward in time. Nothing here imports the pipeline; only `schemas`.
"""
