"""Reading personal numbers back, for the few entitled to: always with a reason, always
written to the audit trail first."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from warehouse.db import session

from .secrets import audit, vault
from .settings import Settings

#: how much a reason must say, in letters and digits; a Chinese character counts as two,
#: as it holds about a word where a letter holds a sound: 核实身份 ("verify identity",
#: four characters) says enough, "ok" or "。。。" does not
MIN_REASON = 5


class RevealRefused(ValueError):
    """No reason given, or nothing to reveal."""


def reason_length(why: str) -> int:
    """Letters and digits in `why`, wide (CJK) characters counting two; spaces and
    punctuation, ASCII or full-width, count nothing."""
    return sum((2 if unicodedata.east_asian_width(c) in "WF" else 1) for c in why
               if c.isalnum())


def reveal_case(settings: Settings, case_id: str, why: str) -> list[dict[str, Any]]:
    """The parties of a case with their ID and phone numbers decrypted."""
    if reason_length(why) < MIN_REASON:
        raise RevealRefused(
            f"say why the numbers are needed with --why (at least {MIN_REASON} letters or "
            f"{math.ceil(MIN_REASON / 2)} Chinese characters, e.g. --why 核实身份): it goes "
            "to the audit trail")
    pii = vault(settings)
    with session(settings.warehouse_path) as con:
        rows = con.execute("""
            SELECT role, kind, name, id_number_cipher, phone_cipher, credit_code
            FROM core.case_parties WHERE case_id = ? ORDER BY party_key""",
                           [case_id]).fetchall()
        if not rows:
            raise RevealRefused(f"no case {case_id} with parties")
        opened = sum((r[3] is not None) + (r[4] is not None) for r in rows)
        # the audit row is written before anything is decrypted
        audit(con, "decrypt", f"case {case_id}", why, opened)
    return [{"role": role, "kind": kind, "name": name,
             "id_number": pii.decrypt(idc) if idc is not None else None,
             "phone": pii.decrypt(tel) if tel is not None else None,
             "credit_code": credit}
            for role, kind, name, idc, tel, credit in rows]
