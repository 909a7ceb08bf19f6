"""The vault: SM4-GCM ciphertexts, HMAC-SM3 link keys and masks for grade-L4 values."""

from __future__ import annotations

import os

import pytest

from packs.disputes.models import Party
from schemas.grades import protected_fields
from warehouse.vault import Vault, VaultError

KEY = bytes(range(32))


def test_round_trip_and_fresh_nonces() -> None:
    vault = Vault(KEY)
    a, b = vault.encrypt("11010519491231002X"), vault.encrypt("11010519491231002X")
    assert a != b  # a new nonce every time
    assert vault.decrypt(a) == vault.decrypt(b) == "11010519491231002X"
    assert b"11010519491231002X" not in a


def test_a_wrong_key_or_a_tampered_ciphertext_does_not_open() -> None:
    blob = Vault(KEY).encrypt("13812345678")
    with pytest.raises(VaultError):
        Vault(os.urandom(32)).decrypt(blob)
    with pytest.raises(VaultError):
        Vault(KEY).decrypt(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(VaultError):
        Vault(b"short")


def test_link_keys_are_stable_and_keyed() -> None:
    assert Vault(KEY).link("13812345678") == Vault(KEY).link("13812345678")
    assert Vault(KEY).link("13812345678") != Vault(os.urandom(32)).link("13812345678")
    assert len(Vault(KEY).link("x")) == 64  # SM3: 256 bits


def test_protect_follows_the_grade_metadata() -> None:
    assert protected_fields(Party) == {"id_number": "id", "phone": "phone"}
    ciphers, links, masked = Vault(KEY).protect(["11010519491231002X", None,
                                                 "11010519491231002X"], "id")
    assert ciphers[0] == ciphers[2] and ciphers[1] is None
    assert links[0] == links[2] and masked == ["110105********002X", None,
                                                "110105********002X"]
    _, _, phones = Vault(KEY).protect(["13812345678"], "phone")
    assert phones == ["138****5678"]
