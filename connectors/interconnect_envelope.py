"""The 互联互通 envelope (T/CEC 102.4): what every request and reply is wrapped in.

A request is {"OperatorID", "Data", "TimeStamp", "Seq", "Sig"}: `Data` is the call's JSON
encrypted with AES-128-CBC (PKCS#7 padding) under the data key and IV, in base64;
`TimeStamp` the caller's local time as yyyyMMddHHmmss (no zone, as the standard has it);
`Seq` a 4-digit counter that restarts every second; `Sig` HMAC-MD5 under the signing
secret over OperatorID + Data + TimeStamp + Seq, in upper-case hex. A reply is {"Ret",
"Msg", "Data", "Sig"} signed over Ret + Msg + Data, with `Data` encrypted the same way.
Nothing here knows what a call means: `interconnect_calls` makes the calls.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: the reply codes of the standard
OK, SYSTEM_ERROR = 0, 500
BAD_SIGNATURE, BAD_TOKEN, BAD_POST, BAD_BUSINESS = 4001, 4002, 4003, 4004


@dataclass(frozen=True)
class Keys:
    """The secrets both sides exchanged (never logged, never in a message)."""

    data_key: bytes
    data_iv: bytes
    sig_secret: bytes


class ReplyError(ValueError):
    """A reply that is no envelope (not JSON, a member missing or of the wrong type)."""


@dataclass(frozen=True)
class Reply:
    ret: int
    msg: str
    #: the encrypted Data as received ("" when the reply carries none)
    data: str
    sig: str

    def signed_by(self, keys: Keys) -> bool:
        expected = sign(keys.sig_secret, str(self.ret), self.msg, self.data)
        return hmac.compare_digest(expected, self.sig.upper())


def sign(secret: bytes, *parts: str) -> str:
    return hmac.new(secret, "".join(parts).encode("utf-8"), hashlib.md5).hexdigest().upper()


def encrypt(plain: bytes, keys: Keys) -> str:
    padder = padding.PKCS7(128).padder()
    raw = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(keys.data_key), modes.CBC(keys.data_iv)).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode("ascii")


def decrypt(data: str, keys: Keys) -> bytes:
    """The plain bytes of `Data`; ValueError when it is not our keys' ciphertext."""
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error as e:
        raise ValueError(f"Data is not base64 ({e})") from None
    if not raw or len(raw) % 16:
        raise ValueError(f"Data is {len(raw)} bytes, not whole AES blocks")
    dec = Cipher(algorithms.AES(keys.data_key), modes.CBC(keys.data_iv)).decryptor()
    padded = dec.update(raw) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise ValueError("Data does not decrypt under the data key and IV (bad padding)"
                         ) from None


class Stamper:
    """TimeStamp and Seq of each request: local time to the second, and a counter that
    restarts each second (the standard's 4 digits; the 10,000th request of one second
    wraps to 0000)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._stamp = ""
        self._seq = 0

    def next(self) -> tuple[str, str]:
        stamp = self._now().strftime("%Y%m%d%H%M%S")
        if stamp != self._stamp:
            self._stamp, self._seq = stamp, 0
        self._seq += 1
        return stamp, f"{self._seq % 10_000:04d}"


def seal(operator_id: str, payload: Any, keys: Keys, stamp: str, seq: str) -> dict[str, str]:
    """The request envelope of `payload` (any JSON value)."""
    plain = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    data = encrypt(plain, keys)
    return {"OperatorID": operator_id, "Data": data, "TimeStamp": stamp, "Seq": seq,
            "Sig": sign(keys.sig_secret, operator_id, data, stamp, seq)}


def read_reply(body: bytes) -> Reply:
    """The reply envelope of an HTTP answer (ReplyError when it is none)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise ReplyError(f"reply is not JSON ({body[:60]!r})") from None
    if not isinstance(value, dict):
        raise ReplyError("reply is not a JSON object")
    ret = value.get("Ret")
    if isinstance(ret, str) and ret.strip().lstrip("-").isdigit():
        ret = int(ret)
    if isinstance(ret, bool) or not isinstance(ret, int):
        raise ReplyError("reply without a numeric Ret")
    texts = [value.get(k) if value.get(k) is not None else "" for k in ("Msg", "Data", "Sig")]
    if not all(isinstance(t, str) for t in texts):
        raise ReplyError("reply whose Msg, Data or Sig is not text")
    return Reply(ret, *texts)
