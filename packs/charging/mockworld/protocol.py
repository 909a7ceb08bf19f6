"""The 互联互通 envelope (T/CEC 102.4): AES-128-CBC `Data`, HMAC-MD5 `Sig`, `Ret` codes.

A request is {"OperatorID", "Data", "TimeStamp" (yyyyMMddHHmmss, local), "Seq" (4 digits),
"Sig" = HMAC-MD5(SigSecret, OperatorID + Data + TimeStamp + Seq), upper-case hex}; a reply
is {"Ret", "Msg", "Data", "Sig" = HMAC-MD5(SigSecret, Ret + Msg + Data)}. `Data` is the JSON
text, AES-128-CBC with PKCS#7 padding under DataSecret/DataSecretIV, in base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

OK, SYSTEM_ERROR = 0, 500
BAD_SIGNATURE, BAD_TOKEN, BAD_POST, BAD_BUSINESS = 4001, 4002, 4003, 4004
MESSAGES = {OK: "请求成功", BAD_SIGNATURE: "签名错误", BAD_TOKEN: "Token错误",
            BAD_POST: "POST参数不合法", BAD_BUSINESS: "业务参数不合法", SYSTEM_ERROR: "系统错误"}


def encrypt(plain: str, key: str, iv: str) -> str:
    padder = padding.PKCS7(128).padder()
    raw = padder.update(plain.encode("utf-8")) + padder.finalize()
    enc = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode("ascii")


def decrypt(data: str, key: str, iv: str) -> str:
    """Raises ValueError on anything that is not our key's ciphertext of UTF-8 text."""
    raw = base64.b64decode(data, validate=True)
    dec = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).decryptor()
    padded = dec.update(raw) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


def sign(secret: str, *parts: object) -> str:
    msg = "".join(str(p) for p in parts).encode("utf-8")
    return hmac.new(secret.encode(), msg, hashlib.md5).hexdigest().upper()


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def request(operator_id: str, payload: Any, secrets: dict[str, str], stamp: str,
            seq: int) -> dict[str, str]:
    data = encrypt(dumps(payload), secrets["DataSecret"], secrets["DataSecretIV"])
    s = f"{seq % 10000:04d}"
    return {"OperatorID": operator_id, "Data": data, "TimeStamp": stamp, "Seq": s,
            "Sig": sign(secrets["SigSecret"], operator_id, data, stamp, s)}


def reply(ret: int, payload: Any, secrets: dict[str, str], msg: str = "") -> dict[str, Any]:
    msg = msg or MESSAGES.get(ret, "")
    data = encrypt(dumps(payload), secrets["DataSecret"], secrets["DataSecretIV"]) \
        if payload is not None else ""
    return {"Ret": ret, "Msg": msg, "Data": data,
            "Sig": sign(secrets["SigSecret"], ret, msg, data)}
