"""County → province sync: Jiashan's cases up to the provincial platform, then checked.

One record per linked case (a real dispute), never one per county record: the county's
walk-in re-registrations of a dispute it already holds are records of the same case, so
the province gets the case once. `sync_step` first reads the province's view of the
county, then picks the number each case goes under (`principal_key`): the one the
province acknowledged before, else one the province already holds, else the case's own
(re-registrations the county merged come last). It renders the county's golden record of
the case (the survivorship rules over its county records) and parties in the platform's
dialect (the pack's outbound/province.toml) and hashes it, with
phones in their link form so that no number is opened to decide what changed. Cases whose
hash the ledger already holds are not sent. The rest go up in batches through the
province connector (signed; 5xx and quota refusals retried with backoff; an expired key
fails at once); each batch's receipts and the ledger move on in one transaction as soon as
the province answers.

A crash between an upload and its receipts resends that one batch next time, which the
platform answers with 未变: it upserts by the county's case number (`ysjbh`), so nothing
is ever stored twice.

`reconcile_step` reads the province's view of the county back and puts each case in one
state: in_sync, missing (no copy under its number), stale (the copy is older than our
current version, which has not been sent yet), conflicting (the copy differs from what
the province acknowledged: someone changed it there; left for a person to decide, never
overwritten silently, and the golden record keeps the county's word: the lineage rule
of packs/disputes/entity.toml) or unkeyed (the province holds the case only under its own
id, without a county number: not sent, since an upload would make a second copy; a
person attaches the number there).
A case the province holds more than once (under one number or several) is a duplicate:
ours when a copy our upload created came after another copy (target: none), else the
province's own (its legacy sync's retries and re-registrations). A missing case leaves
the ledger, so the next sync sends it again.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.signed_api import SignedApiConnector
from schemas.outbound import OutboundMapping
from warehouse.db import session
from warehouse.entity import EntityDeclaration
from warehouse.runs import tracked_run
from warehouse.sync_ledger import (
    Sent,
    SourceView,
    created_remote_ids,
    forget,
    ledger,
    record_receipts,
    record_reconciliation,
    source_views,
)
from warehouse.vault import Vault

from .contracts import owner
from .packs import entity
from .secrets import audit, vault
from .settings import Settings

TARGET = "province"
#: the province's receipt result for a copy its upsert created
CREATED = "新增"
#: a linked case as the county's records of it say (warehouse.sync_ledger)
CountyCase = SourceView


def county_cases(settings: Settings, con: Any,
                 rules: EntityDeclaration | None = None) -> list[CountyCase]:
    """Every linked case holding a current record of the county the sync serves."""
    return source_views(con, rules or entity(), settings.sync.source,
                        settings.sync.county_code, TARGET)


def _mapping(target: str) -> OutboundMapping:
    """The outbound mapping the pack declaring `target` ships for it."""
    return OutboundMapping.load(owner(target).path("outbound", f"{target}.toml"))
STATES = ("in_sync", "missing", "stale", "conflicting", "unkeyed")


@dataclass
class Reconciliation:
    states: Counter[str] = field(default_factory=Counter)
    #: cases the province holds more than once because our upload made a second copy
    duplicates_ours: int = 0
    #: cases the province held more than once before we sent them (its legacy sync)
    duplicates_province: int = 0
    #: keys the province holds for this county that the county does not know
    unknown_at_county: int = 0
    #: a few case keys per state other than in_sync, for a person to look at
    examples: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**{s: self.states.get(s, 0) for s in STATES},
                "duplicates_ours": self.duplicates_ours,
                "duplicates_province": self.duplicates_province,
                "unknown_at_county": self.unknown_at_county, "examples": self.examples}


@dataclass
class SyncSummary:
    run_id: str
    #: linked cases holding records of the county (one record sent per case)
    county_cases: int = 0
    #: county records not sent on their own: further records of a case sent once
    further_records: int = 0
    #: cases not sent because the province holds them under its own id only (unkeyed)
    unkeyed: int = 0
    unchanged: int = 0
    sent: int = 0
    batches: int = 0
    #: receipts by the province's answer: 新增 (new), 更新 (updated), 未变 (unchanged)
    results: Counter[str] = field(default_factory=Counter)
    reconciliation: Reconciliation | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "county_cases": self.county_cases,
                "further_records": self.further_records, "unkeyed": self.unkeyed,
                "unchanged": self.unchanged,
                "sent": self.sent, "batches": self.batches,
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


@dataclass
class Held:
    """The province's view of the county: its copies by county number, by its own id, and
    those without a number by what identifies a dispute in them (`_evidence`)."""

    mapping: OutboundMapping
    by_key: dict[str, list[dict[str, Any]]]
    by_id: dict[str, dict[str, Any]]
    by_evidence: dict[tuple[str, str], list[dict[str, Any]]]

    @classmethod
    def read(cls, connector: SignedApiConnector, county_code: str,
             mapping: OutboundMapping) -> Held:
        rows = connector.read_all(county_code)
        by_key: dict[str, list[dict[str, Any]]] = {}
        by_evidence: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows.values():
            if row.get(mapping.key):
                by_key.setdefault(str(row[mapping.key]), []).append(row)
            else:
                # (numbers are not needed to tell a dispute here: none is opened)
                for mark in _evidence(mapping, mapping.held_form(row, lambda _: "")):
                    by_evidence.setdefault(mark, []).append(row)
        return cls(mapping, by_key, {str(k): v for k, v in rows.items()}, by_evidence)

    def unkeyed(self, case: CountyCase, rendered: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Copies of the case the province holds under its own id but none of the case's
        county numbers (the legacy sync lost some): those linking put among the case's
        records, and those the warehouse could not link (the province's copy was itself
        defective and quarantined) that share the case's time of occurrence, to the
        second, and a party's name."""
        found = {i: self.by_id[i] for i in case.remote_ids if i in self.by_id
                 and str(self.by_id[i].get(self.mapping.key) or "") not in case.keys}
        for mark in _evidence(self.mapping, rendered):
            found.update((str(r["id"]), r) for r in self.by_evidence.get(mark, []))
        return [found[i] for i in sorted(found)]

    def copies(self, case: CountyCase, rendered: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every copy of the case the province holds, under any number or none."""
        keyed = [r for k in case.keys for r in self.by_key.get(k, [])]
        return keyed + self.unkeyed(case, rendered)


def _evidence(mapping: OutboundMapping, record: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(time of occurrence, party name) pairs of a record in the platform's dialect."""
    when = record.get(mapping.field_for("occurred_at"))
    name = mapping.child_field_for("parties", "name")
    parties = record.get(mapping.children["parties"].field)
    if not when or not isinstance(parties, list):
        return set()
    return {(str(when), str(p[name])) for p in parties if isinstance(p, dict) and p.get(name)}


def principal_key(case: CountyCase, sent: Mapping[str, Sent], held: Held,
                  rendered: Mapping[str, Any]) -> str | None:
    """The county number a case goes to the province under: the one the province
    acknowledged before, else one it already holds a copy under (so that a dispute the
    legacy sync pushed under a re-registration's number is not pushed a second time),
    else the case's own (`CountyCase.keys` order). None when the province holds the case
    only under its own id, without a county number: an upload would make a second copy
    (the platform upserts by number only), so the case is not sent and reconciliation
    reports it as `unkeyed`, for a person to attach the number at the province."""
    known = (next((k for k in case.keys if k in sent), None)
             or next((k for k in case.keys if k in held.by_key), None))
    if known is not None:
        return known
    return None if held.unkeyed(case, rendered) else case.keys[0]


def _render(mapping: OutboundMapping, case: CountyCase, key: str,
            opener: Callable[[str, Mapping[str, Any]], str | None]) -> dict[str, Any]:
    return mapping.render({**case.golden, "case_key": key}, case.children, opener)


def sync_step(settings: Settings, *, reconcile: bool = True,
              mapping: OutboundMapping | None = None,
              province: SignedApiConnector | None = None) -> SyncSummary:
    """Send new and changed county cases to the province; then reconcile (by default).
    `province`: the connector to use (default: one built from settings.province)."""
    mapping = mapping or _mapping(TARGET)
    cfg = settings.sync
    with tracked_run(settings.warehouse_path, "sync", timed=True) as run:
        summary = run.summary = SyncSummary(run.run_id)
        with session(settings.warehouse_path) as con:
            cases = county_cases(settings, con)
            sent = ledger(con, TARGET)
        summary.county_cases = len(cases)
        summary.further_records = sum(len(c.keys) - 1 for c in cases)
        connector = province or SignedApiConnector(settings.province, source=TARGET)
        held = Held.read(connector, cfg.county_code, mapping)
        pending: list[tuple[str, str, CountyCase]] = []
        for case in cases:
            key = principal_key(case, sent, held, _render(mapping, case, case.keys[0], _linked))
            if key is None:
                summary.unkeyed += 1
                continue
            digest = content_hash(_render(mapping, case, key, _linked))
            if key in sent and sent[key].content_hash == digest:
                summary.unchanged += 1
                continue
            pending.append((key, digest, case))
        if pending:
            summary.sent = _send(settings, mapping, connector, summary, pending)
        if reconcile:
            summary.reconciliation = reconcile_step(settings, summary.run_id, mapping,
                                                    province=connector)
    return summary


def _send(settings: Settings, mapping: OutboundMapping, connector: SignedApiConnector,
          summary: SyncSummary, pending: list[tuple[str, str, CountyCase]]) -> int:
    opened = sum(1 for _, _, case in pending
                 for group, protected in mapping.protected.items()
                 for row in case.children.get(group, [])
                 for f in protected if row.get(f"{f}_cipher") is not None)
    with session(settings.warehouse_path) as con:
        # the audit row is written before anything is decrypted
        audit(con, "sync", f"{len(pending)} {settings.sync.source} cases to the {TARGET}",
              settings.sync.why, opened)
    open_number = _opener(vault(settings))
    done = 0
    size = settings.sync.batch_size
    chunks = (pending[i:i + size] for i in range(0, len(pending), size))
    for batch_no, chunk in enumerate(chunks, 1):
        records = [_render(mapping, case, key, open_number) for key, _, case in chunk]
        receipts = connector.upload(records)
        keys = {key for key, _, _ in chunk}
        if {r[mapping.key] for r in receipts} != keys:
            raise RuntimeError(f"{TARGET} receipts of batch {batch_no} name other cases "
                               "than were sent")
        with session(settings.warehouse_path) as con:
            record_receipts(con, summary.run_id, batch_no, TARGET, receipts,
                            {key: digest for key, digest, _ in chunk}, key=mapping.key)
        summary.batches = batch_no
        summary.results.update(str(r["result"]) for r in receipts)
        done += len(chunk)
    return done


def _duplicate(copies: list[dict[str, Any]], ours: set[str]) -> str | None:
    """Whose duplicate a case held more than once is: ours when a copy our upload created
    came after another copy, else the province's own."""
    if len(copies) < 2:
        return None
    first = min(copies, key=lambda r: (str(r.get("cjsj")), str(r["id"])))
    return "ours" if any(str(r["id"]) in ours for r in copies if r is not first) \
        else "province"


def reconcile_step(settings: Settings, run_id: str | None = None,
                   mapping: OutboundMapping | None = None, *,
                   province: SignedApiConnector | None = None) -> Reconciliation:
    """Compare every county case with the province's copy of it, and record the result
    under `run_id` (a sync's), or under a reconcile run of its own."""
    mapping = mapping or _mapping(TARGET)
    held = Held.read(province or SignedApiConnector(settings.province, source=TARGET),
                     settings.sync.county_code, mapping)
    if run_id is not None:
        return _reconcile(settings, run_id, mapping, held)
    with tracked_run(settings.warehouse_path, "reconcile") as run:
        run.summary = _reconcile(settings, run.run_id, mapping, held)
    return run.summary


def _reconcile(settings: Settings, run_id: str, mapping: OutboundMapping,
               held: Held) -> Reconciliation:
    pii = vault(settings)
    with session(settings.warehouse_path) as con:
        cases = county_cases(settings, con)
        sent = ledger(con, TARGET)
        ours = created_remote_ids(con, TARGET, CREATED)
    result = Reconciliation()
    rows = []
    for case in cases:
        provisional = _render(mapping, case, case.keys[0], _linked)
        principal = principal_key(case, sent, held, provisional)
        found = held.copies(case, provisional)
        key = principal or case.keys[0]
        under_key = held.by_key.get(key, [])
        ours_now = _render(mapping, case, key, _linked)
        remote_id, fields = None, []
        if principal is None:  # held only under the province's own id: compare with that
            copy = min(held.unkeyed(case, provisional),
                       key=lambda r: (str(r.get("cjsj")), str(r["id"])))
            remote_id = str(copy["id"])
            held_form = mapping.held_form(copy, lambda v: _link_form(pii.link(v)))
            fields = mapping.comparable(held_form, ours_now)
            state = "unkeyed"
        elif not under_key:
            state = "missing"
        else:
            ledger_entry = sent.get(key)
            # the copy the province acknowledged, else the one its upsert would update
            acknowledged = ledger_entry.remote_id if ledger_entry else None
            copy = next((r for r in under_key if r["id"] == acknowledged), None) or min(
                under_key, key=lambda r: (str(r.get("cjsj")), str(r["id"])))
            remote_id = str(copy["id"])
            held_form = mapping.held_form(copy, lambda v: _link_form(pii.link(v)))
            fields = mapping.comparable(held_form, ours_now)
            if not fields:
                state = "in_sync"
            elif ledger_entry and ledger_entry.content_hash == content_hash(ours_now):
                state = "conflicting"
            else:
                state = "stale"
        duplicate = _duplicate(found, ours)
        result.states[state] += 1
        result.duplicates_ours += duplicate == "ours"
        result.duplicates_province += duplicate == "province"
        for kind in ([state] if state != "in_sync" else []) + (
                [f"duplicate_{duplicate}"] if duplicate else []):
            if len(result.examples.setdefault(kind, [])) < 5:
                result.examples[kind].append(key)
        rows.append({"entity_id": case.entity_id, "case_key": key, "state": state,
                     "copies": len(found), "duplicate": duplicate, "remote_id": remote_id,
                     "fields": fields})
    known = {k for case in cases for k in case.keys}
    result.unknown_at_county = sum(1 for k in held.by_key if k not in known)
    with session(settings.warehouse_path) as con:
        record_reconciliation(con, run_id, TARGET, rows)
        # acknowledged once, gone now: the next sync sends them again
        forget(con, TARGET, [r["case_key"] for r in rows if r["state"] == "missing"])
    return result
