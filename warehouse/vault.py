"""Personal numbers at rest: SM4-GCM ciphertext, an HMAC-SM3 link key, a masked form.

Grade-L4 values (schemas.grades.protected_fields: resident IDs and phones) never reach
the warehouse's staging or core in clear. Each is stored as
- `<field>_cipher`: SM4-GCM (nonce ‖ ciphertext ‖ tag), for the few who may decrypt;
- `<field>_link`: HMAC-SM3 of the normalised value, to join and link records without
  revealing the number (equal numbers, equal keys; no key, no guess);
- `<field>_masked`: the display form (ID: first 6 + last 4; phone: first 3 + last 4).
Both keys derive from one 32-byte master key (HKDF-SM3), kept outside the warehouse.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schemas.pii import MASKS

_NONCE, _TAG = 12, 16


class VaultError(Exception):
    """A key that does not fit, or a ciphertext that does not open with it."""


class Vault:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise VaultError("the personal-data key must be 32 bytes (64 hex characters)")
        self._enc = HKDF(hashes.SM3(), 16, salt=None, info=b"silobridge sm4-gcm").derive(
            master_key)
        self._mac = HKDF(hashes.SM3(), 32, salt=None, info=b"silobridge hmac-sm3").derive(
            master_key)

    def encrypt(self, text: str) -> bytes:
        nonce = os.urandom(_NONCE)
        enc = Cipher(algorithms.SM4(self._enc), modes.GCM(nonce)).encryptor()
        body = enc.update(text.encode("utf-8")) + enc.finalize()
        return nonce + body + enc.tag

    def decrypt(self, blob: bytes) -> str:
        nonce, body, tag = blob[:_NONCE], blob[_NONCE:-_TAG], blob[-_TAG:]
        try:
            dec = Cipher(algorithms.SM4(self._enc), modes.GCM(nonce, tag)).decryptor()
            return (dec.update(body) + dec.finalize()).decode("utf-8")
        except Exception as e:  # InvalidTag: wrong key or tampered data
            raise VaultError("ciphertext does not open with this key") from e

    def link(self, text: str) -> str:
        mac = hmac.HMAC(self._mac, hashes.SM3())
        mac.update(text.encode("utf-8"))
        return mac.finalize().hex()

    def protect(self, values: Iterable[str | None], mask: str
                ) -> tuple[list[bytes | None], list[str | None], list[str | None]]:
        """(ciphertexts, link keys, masked forms) of a column; repeats are computed once.

        Reusing one ciphertext for equal values repeats no nonce across different
        plaintexts, which is what GCM forbids; equality is already visible in the link.
        """
        masker = MASKS[mask]
        done: dict[str, tuple[bytes, str, str | None]] = {}
        ciphers: list[bytes | None] = []
        links: list[str | None] = []
        masked: list[str | None] = []
        for value in values:
            if value is None:
                ciphers.append(None)
                links.append(None)
                masked.append(None)
                continue
            if value not in done:
                done[value] = (self.encrypt(value), self.link(value), masker(value))
            c, lk, m = done[value]
            ciphers.append(c)
            links.append(lk)
            masked.append(m)
        return ciphers, links, masked
