"""County → province sync: Jiashan's cases up to the provincial platform, then checked.

`sync_step` renders the current version of every county case in the platform's dialect
(schemas/outbound/province.toml) and hashes it, with phones in their link form so that no
number is opened to decide what changed. Cases whose hash the ledger already holds are
not sent. The rest go up in batches through the province connector (signed; 5xx and
quota refusals retried with backoff; an expired key fails at once); each batch's
receipts and the ledger move on in one transaction as soon as the province answers.

A crash between an upload and its receipts resends that one batch next time, which the
platform answers with 未变: it upserts by the county's case number (`ysjbh`), so nothing
is ever stored twice.

`reconcile_step` reads the province's view of the county back and puts each county case
in one state: in_sync, missing (no copy), stale (the copy is older than our current
version, which has not been sent yet) or conflicting (the copy differs from what the
province acknowledged: someone changed it there; left for a person to decide, never
overwritten silently). Copies the province holds twice under one key (its legacy
retries) are counted apart, as duplicates. A missing case leaves the ledger, so the next
sync sends it again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.province_api import ProvinceApiConnector
from schemas.outbound import OutboundMapping
from warehouse.db import session
from warehouse.runs import finish_run, new_run_id, start_run
from warehouse.sync_ledger import (
    current_cases,
    forget,
    ledger,
    record_receipts,
    record_reconciliation,
)
from warehouse.vault import Vault

from .secrets import audit, vault
from .settings import Settings

TARGET = "province"
STATES = ("in_sync", "missing", "stale", "conflicting")


@dataclass
class Reconciliation:
    states: Counter[str] = field(default_factory=Counter)
    #: county cases the province holds more than one copy of
    duplicates: int = 0
    #: keys the province holds for this county that the county does not know
    unknown_at_county: int = 0
    #: a few case keys per state other than in_sync, for a person to look at
    examples: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**{s: self.states.get(s, 0) for s in STATES}, "duplicates": self.duplicates,
                "unknown_at_county": self.unknown_at_county, "examples": self.examples}


@dataclass
class SyncSummary:
    run_id: str
    county_cases: int = 0
    unchanged: int = 0
    sent: int = 0
    batches: int = 0
    #: receipts by the province's answer: 新增 (new), 更新 (updated), 未变 (unchanged)
    results: Counter[str] = field(default_factory=Counter)
    reconciliation: Reconciliation | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "county_cases": self.county_cases,
                "unchanged": self.unchanged, "sent": self.sent, "batches": self.batches,
                "results": dict(self.results),
                "reconciliation": self.reconciliation.to_dict() if self.reconciliation
                else None, "seconds": round(self.seconds, 2)}


def content_hash(record: Mapping[str, Any]) -> str:
    text = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _link_form(link: str) -> str:
    return f"link:{link}"


def _linked(field_name: str, party: Mapping[str, Any]) -> str | None:
    """A protected number in its link form: compares and hashes without being opened."""
    link = party.get(f"{field_name}_link")
    return _link_form(link) if link else None


def _opener(pii: Vault) -> Callable[[str, Mapping[str, Any]], str | None]:
    def open_number(field_name: str, party: Mapping[str, Any]) -> str | None:
        cipher = party.get(f"{field_name}_cipher")
        return pii.decrypt(cipher) if cipher is not None else None
    return open_number


def sync_step(settings: Settings, *, reconcile: bool = True,
              mapping: OutboundMapping | None = None,
              province: ProvinceApiConnector | None = None) -> SyncSummary:
    """Send new and changed county cases to the province; then reconcile (by default).
    `province`: the connector to use (default: one built from settings.province)."""
    started = time.perf_counter()
    mapping = mapping or OutboundMapping.load(name=TARGET)
    cfg = settings.sync
    summary = SyncSummary(new_run_id("sync"))
    with session(settings.warehouse_path) as con:
        start_run(con, summary.run_id, "sync", None)
        cases = current_cases(con, cfg.source, cfg.county_code)
        sent = ledger(con, TARGET)
    summary.county_cases = len(cases)
    pending: list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]] = []
    for case, parties in cases:
        record = mapping.render(case, parties, _linked)
        key, digest = record[mapping.key], content_hash(record)
        if key in sent and sent[key].content_hash == digest:
            summary.unchanged += 1
            continue
        pending.append((key, digest, case, parties))
    connector = province or ProvinceApiConnector(settings.province)
    try:
        if pending:
            summary.sent = _send(settings, mapping, connector, summary, pending)
        if reconcile:
            summary.reconciliation = reconcile_step(settings, summary.run_id, mapping,
                                                    province=connector)
    except Exception as e:
        summary.seconds = time.perf_counter() - started
        with session(settings.warehouse_path) as con:
            finish_run(con, summary.run_id, "failed", summary.to_dict(), str(e))
        raise
    summary.seconds = time.perf_counter() - started
    with session(settings.warehouse_path) as con:
        finish_run(con, summary.run_id, "ok", summary.to_dict())
    return summary


def _send(settings: Settings, mapping: OutboundMapping, connector: ProvinceApiConnector,
          summary: SyncSummary,
          pending: list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]) -> int:
    opened = sum(1 for _, _, _, parties in pending for p in parties
                 for f in mapping.protected if p.get(f"{f}_cipher") is not None)
    with session(settings.warehouse_path) as con:
        # the audit row is written before anything is decrypted
        audit(con, "sync", f"{len(pending)} {settings.sync.source} cases to the {TARGET}",
              settings.sync.why, opened)
    open_number = _opener(vault(settings))
    done = 0
    size = settings.sync.batch_size
    chunks = (pending[i:i + size] for i in range(0, len(pending), size))
    for batch_no, chunk in enumerate(chunks, 1):
        records = [mapping.render(case, parties, open_number) for _, _, case, parties in chunk]
        receipts = connector.upload(records)
        keys = {key for key, _, _, _ in chunk}
        if {r["ysjbh"] for r in receipts} != keys:
            raise RuntimeError(f"{TARGET} receipts of batch {batch_no} name other cases "
                               "than were sent")
        with session(settings.warehouse_path) as con:
            record_receipts(con, summary.run_id, batch_no, TARGET, receipts,
                            {key: digest for key, digest, _, _ in chunk})
        summary.batches = batch_no
        summary.results.update(str(r["result"]) for r in receipts)
        done += len(chunk)
    return done


def reconcile_step(settings: Settings, run_id: str | None = None,
                   mapping: OutboundMapping | None = None, *,
                   province: ProvinceApiConnector | None = None) -> Reconciliation:
    """Compare every county case with the province's copy of it, and record the result."""
    mapping = mapping or OutboundMapping.load(name=TARGET)
    cfg = settings.sync
    held = (province or ProvinceApiConnector(settings.province)).read_all(cfg.county_code)
    copies: dict[str, list[dict[str, Any]]] = {}
    for row in held.values():
        if row.get(mapping.key):
            copies.setdefault(str(row[mapping.key]), []).append(row)
    pii = vault(settings)
    own_run = run_id is None
    run_id = run_id or new_run_id("reconcile")
    with session(settings.warehouse_path) as con:
        if own_run:
            start_run(con, run_id, "reconcile", None)
        cases = current_cases(con, cfg.source, cfg.county_code)
        sent = ledger(con, TARGET)
    result = Reconciliation()
    rows = []
    for case, parties in cases:
        ours = mapping.render(case, parties, _linked)
        key = ours[mapping.key]
        found = copies.get(key, [])
        remote_id, fields = None, []
        if not found:
            state = "missing"
        else:
            ledger_entry = sent.get(key)
            # the copy the province acknowledged, else the one its upsert would update
            acknowledged = ledger_entry.remote_id if ledger_entry else None
            copy = next((r for r in found if r["id"] == acknowledged), None) or min(
                found, key=lambda r: (str(r.get("cjsj")), str(r["id"])))
            remote_id = str(copy["id"])
            held_form = mapping.held_form(copy, lambda v: _link_form(pii.link(v)))
            fields = mapping.comparable(held_form, ours)
            if not fields:
                state = "in_sync"
            elif ledger_entry and ledger_entry.content_hash == content_hash(ours):
                state = "conflicting"
            else:
                state = "stale"
        result.states[state] += 1
        result.duplicates += len(found) > 1
        if state != "in_sync" and len(result.examples.setdefault(state, [])) < 5:
            result.examples[state].append(key)
        rows.append({"case_key": key, "state": state, "copies": len(found),
                     "remote_id": remote_id, "fields": fields})
    known = {r["case_key"] for r in rows}
    result.unknown_at_county = sum(1 for k in copies if k not in known)
    with session(settings.warehouse_path) as con:
        record_reconciliation(con, run_id, TARGET, rows)
        # acknowledged once, gone now: the next sync sends them again
        forget(con, TARGET, [r["case_key"] for r in rows if r["state"] == "missing"])
        if own_run:
            finish_run(con, run_id, "ok", result.to_dict())
    return result
