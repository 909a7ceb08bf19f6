"""A small charging world shared by the tests, and a protocol client written here from the
standard (not from the mock's own helpers), so the two check each other."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


@pytest.fixture(scope="session")
def small_world(charging_world: Path) -> Path:
    """The charging tests' shared world (tests/packs/charging/conftest.py)."""
    return charging_world


@pytest.fixture(scope="session")
def read_truth(small_world: Path) -> Any:
    def read(name: str) -> list[dict[str, str]]:
        with (small_world / "answer_key" / name).open(encoding="utf-8") as f:
            return list(csv.DictReader(f))
    return read


def operator_json(world: Path, operator_id: str) -> dict[str, Any]:
    return json.loads((world / "operators" / operator_id / "operator.json").read_text("utf-8"))


class Client:
    """The platform's side of the protocol, from T/CEC 102.4."""

    def __init__(self, base: str, secrets: dict[str, Any]) -> None:
        self.base, self.s = base, secrets
        self.token = ""
        self.seq = 0

    def enc(self, obj: Any) -> str:
        p = padding.PKCS7(128).padder()
        raw = p.update(json.dumps(obj).encode()) + p.finalize()
        e = Cipher(algorithms.AES(self.s["DataSecret"].encode()),
                   modes.CBC(self.s["DataSecretIV"].encode())).encryptor()
        return base64.b64encode(e.update(raw) + e.finalize()).decode()

    def dec(self, data: str) -> Any:
        d = Cipher(algorithms.AES(self.s["DataSecret"].encode()),
                   modes.CBC(self.s["DataSecretIV"].encode())).decryptor()
        raw = d.update(base64.b64decode(data)) + d.finalize()
        u = padding.PKCS7(128).unpadder()
        return json.loads(u.update(raw) + u.finalize())

    def sig(self, *parts: object) -> str:
        return hmac.new(self.s["SigSecret"].encode(), "".join(map(str, parts)).encode(),
                        hashlib.md5).hexdigest().upper()

    def envelope(self, payload: Any) -> dict[str, str]:
        self.seq += 1
        data, stamp, seq = self.enc(payload), "20260902120000", f"{self.seq:04d}"
        return {"OperatorID": self.s["PlatformID"], "Data": data, "TimeStamp": stamp,
                "Seq": seq, "Sig": self.sig(self.s["PlatformID"], data, stamp, seq)}

    def post(self, name: str, env: dict[str, str]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        reply = httpx.post(self.base + name, json=env, headers=headers, timeout=10).json()
        assert reply["Sig"] == self.sig(reply["Ret"], reply["Msg"], reply["Data"])
        return reply

    def call(self, name: str, payload: Any) -> tuple[int, Any]:
        reply = self.post(name, self.envelope(payload))
        return reply["Ret"], self.dec(reply["Data"]) if reply["Data"] else None

    def login(self) -> Client:
        ret, data = self.call("query_token", {"OperatorID": self.s["PlatformID"],
                                              "OperatorSecret": self.s["OperatorSecret"]})
        assert ret == 0 and data["SuccStat"] == 0
        self.token = data["AccessToken"]
        return self

    def all_stations(self, size: int = 7) -> list[dict[str, Any]]:
        out, page = [], 1
        while True:
            ret, data = self.call("query_stations_info", {"PageNo": page, "PageSize": size})
            assert ret == 0
            out += data["StationInfos"]
            if page >= data["PageCount"]:
                return out
            page += 1
