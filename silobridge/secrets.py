"""The personal-data key, and the audit trail of everything done with clear numbers.

The key comes from settings (SILOBRIDGE_PII_KEY, 64 hex characters, or an Airflow
Connection `silobridge_pii` whose password holds it). Without one, a development key is
generated on first use into <home>/secrets/pii.key with mode 0600: fine for the mock
world, never committed (var/ is ignored), and to be replaced by a managed key anywhere
real data flows.
"""

from __future__ import annotations

import getpass
import os
import secrets
from pathlib import Path

import duckdb

from warehouse.vault import Vault, VaultError

from .settings import Settings


def key_file(settings: Settings) -> Path:
    return settings.home / "secrets" / "pii.key"


def vault(settings: Settings) -> Vault:
    if settings.pii_key is not None:
        text = settings.pii_key.get_secret_value().strip()
    else:
        path = key_file(settings)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # create with 0600 from the start: no moment where others could read it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        text = path.read_text(encoding="utf-8").strip()
    try:
        return Vault(bytes.fromhex(text))
    except ValueError as e:
        raise VaultError("the personal-data key must be 64 hex characters") from e


def actor() -> str:
    """Who is acting: the Airflow run when inside one, else the operating-system user."""
    run = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    dag = os.environ.get("AIRFLOW_CTX_DAG_ID")
    user = getpass.getuser()
    return f"airflow:{dag}/{run}" if run else f"user:{user}"


def audit(con: duckdb.DuckDBPyConnection, action: str, subject: str, why: str,
          count: int = 1) -> None:
    """Record a decryption, export or sync: who, what, when, why."""
    con.execute("INSERT INTO ops.audit VALUES (now(), ?, ?, ?, ?, ?)",
                [actor(), action, subject, count, why])
