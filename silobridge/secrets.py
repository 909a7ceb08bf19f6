"""The personal-data key, and the audit trail of everything done with clear numbers.

The key comes from settings (SILOBRIDGE_PII_KEY, 64 hex characters, or an Airflow
Connection `silobridge_pii` whose password holds it). Without one, a development key is
generated on first use into <home>/secrets/pii.key with mode 0600: fine for the mock
world, never committed (var/ is ignored), and to be replaced by a managed key anywhere
real data flows. A key of the wrong length or encoding is a PiiKeyError that says which
setting or file holds it and what it must be, never the key.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import os
import secrets
from pathlib import Path

import duckdb

from warehouse.vault import Vault, VaultError

from .settings import Settings, env_variable

KEY_BYTES = 32
NEW_KEY = "python -c 'import secrets; print(secrets.token_hex(32))'"


class PiiKeyError(VaultError):
    """The personal-data key cannot be used; the message names where it came from."""


def key_file(settings: Settings) -> Path:
    return settings.home / "secrets" / "pii.key"


def vault(settings: Settings) -> Vault:
    if settings.pii_key is not None:
        text = settings.pii_key.get_secret_value().strip()
        origin = (f"the personal-data key {env_variable('pii_key')} (or the Airflow "
                  "Connection silobridge_pii's password)")
        fix = f"set it to the key the warehouse was written with (a new key: {NEW_KEY})"
    else:
        path = key_file(settings)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # create with 0600 from the start: no moment where others could read it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        text = path.read_text(encoding="utf-8").strip()
        origin = f"the development personal-data key file {path}"
        fix = f"restore the file, or set {env_variable('pii_key')}"
    return Vault(_key_bytes(text, origin, fix))


def _key_bytes(text: str, origin: str, fix: str) -> bytes:
    """The key's 32 bytes from its 64 hex characters; what is wrong, never the key itself."""
    wanted = f"the {KEY_BYTES}-byte key written as {2 * KEY_BYTES} hex characters"
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            problem = f"holds characters other than hex digits (0-9, a-f): it must be {wanted}"
    elif _base64_key(text):
        problem = f"looks like base64: write the same {KEY_BYTES} bytes as hex digits"
    else:
        problem = f"is {len(text)} characters long: it must be {wanted}"
    raise PiiKeyError(f"{origin} {problem}; {fix}")


def _base64_key(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) == KEY_BYTES
    except (binascii.Error, ValueError):
        return False


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
