"""The charging domain (充电设施数据融合): Shanghai's municipal platform for public charging
infrastructure, aligned with the traffic, parking and power-grid departments' data.

Groundwork only: the pack has no pack.toml yet, so it is not installed and the pipeline
does not see it; its mock world (`mockworld/`) is usable from tests and ops.
"""
