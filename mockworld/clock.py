"""Local time in Zhejiang: Asia/Shanghai has been UTC+8 without DST since 1991."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def epoch_ms(local: datetime) -> int:
    return int(local.replace(tzinfo=SHANGHAI).timestamp() * 1000)


def fmt(t: datetime | None) -> str:
    """'YYYY-MM-DD HH:MM:SS' (isoformat is several times faster than strftime)."""
    return "" if t is None else t.isoformat(" ", "seconds")
