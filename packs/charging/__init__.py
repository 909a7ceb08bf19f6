"""The charging domain (充电设施数据融合): Shanghai's municipal platform for public charging
infrastructure, aligned with the traffic, parking and power-grid departments' data.

pack.toml declares its sources; each kind of record has its own contract
(conforming.CONTRACTS), staged table, and fact table (facts.toml). Its mock world
(`mockworld/`) is Jiading district, usable from tests and ops.
"""
