"""Reading personal numbers back, for the few entitled to: always with a reason, always
written to the audit trail first."""

from __future__ import annotations

from typing import Any

from warehouse.db import session

from .secrets import audit, vault
from .settings import Settings


class RevealRefused(ValueError):
    """No reason given, or nothing to reveal."""


def reveal_case(settings: Settings, case_id: str, why: str) -> list[dict[str, Any]]:
    """The parties of a case with their ID and phone numbers decrypted."""
    if len(why.strip()) < 5:
        raise RevealRefused("say why the numbers are needed (--why), it goes to the audit")
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
