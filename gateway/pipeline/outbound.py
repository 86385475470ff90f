"""Outbound: a canonical document from the ERP -> the partner's EDI, queued to the partner.

``OutboundProcessor.submit(doc, client, idempotency_key)`` (blocking; run off the reactor):

1. finds the partner and its outbound route for the document kind;
2. checks the document against its JSON Schema and the route's business rule packs (invoice math,
   quantities against the PO and ASN, dates), with the document index for cross-document rules;
3. maps it to EDI with the partner's mapping and envelopes it with the next control numbers, then
   reads the bytes back and validates them against the shipped structure spec (we never send what we
   would reject ourselves);
4. queues the EDI to the partner (``out/partner.<id>/``) and a JSON copy to any other destination on
   the route, records the control numbers (so the partner's 997 can be matched back) and indexes the
   document.

An ERP retry with the same ``Idempotency-Key`` gets the first document id back and queues nothing new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from gateway.config import GatewayConfig
from gateway.edi import parse
from gateway.edi.findings import Finding
from gateway.edi.writer import DelimiterInValue
from gateway.mapping import build_interchange
from gateway.mapping.schemas import validate as schema_validate
from gateway.pipeline import lifecycle
from gateway.pipeline.catalog import Catalog
from gateway.pipeline.inbound import partner_queue
from gateway.rules.validate import validate_parse_result
from gateway.store.ids import new_id

log = structlog.get_logger(__name__)


@dataclass
class Submission:
    doc_id: str | None
    findings: list[Finding] = field(default_factory=list)
    duplicate: bool = False
    queued: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.doc_id is not None and not any(f.severity == "error" for f in self.findings)


def _path_of(doc: Any, value: str, at: str = "$") -> str | None:
    """The JSON path of the first string in ``doc`` holding ``value`` (for a finding the ERP can act on)."""
    if isinstance(doc, str):
        return at if value in doc else None
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        found = _path_of(v, value, f"{at}[{k}]" if isinstance(k, int) else f"{at}.{k}")
        if found:
            return found
    return None


def _problem(code: str, message: str, path: str | None = None) -> Finding:
    return Finding(code, message, level="business", path=path)


class OutboundProcessor:
    def __init__(self, store: Any, config: GatewayConfig, catalog: Catalog | None = None,
                 now: Any = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.config = config
        self.catalog = catalog or Catalog(config)
        self.now = now

    @staticmethod
    def doc_id_for(client: str, idempotency_key: str | None) -> str:
        if not idempotency_key:
            return "out-" + new_id()
        digest = hashlib.sha256(f"{client}\0{idempotency_key}".encode()).hexdigest()[:24]
        return f"out-{digest}"

    def submit(self, doc: Any, client: str = "cli", idempotency_key: str | None = None,
               allowed_partners: tuple[str, ...] = ()) -> Submission:
        if not isinstance(doc, dict):
            return Submission(None, [_problem("not_an_object", "the body must be a JSON object")])
        partner_id, kind = doc.get("partner"), doc.get("document")
        partner = self.config.partners.get(str(partner_id))
        if partner is None:
            return Submission(None, [_problem("unknown_partner", f"unknown partner {partner_id!r}", "$.partner")])
        if allowed_partners and partner.id not in allowed_partners:
            return Submission(None, [_problem("partner_not_allowed",
                                              f"client {client} may not send for partner {partner.id}", "$.partner")])
        route = self.catalog.outbound_route(partner, str(kind))
        if route is None or not route.mapping:
            return Submission(None, [_problem("no_route", f"partner {partner.id} has no outbound route with a "
                                                          f"mapping for document {kind!r}", "$.document")])
        doc_id = self.doc_id_for(client, idempotency_key)
        if self.store.index.document(doc_id) is not None:
            return Submission(doc_id, duplicate=True)
        doc = {**doc, "doc_id": doc_id, "received_at": self.now().isoformat(timespec="microseconds")}
        findings = list(schema_validate(doc))
        if not any(f.severity == "error" for f in findings):
            for name in route.rules:
                findings += self.catalog.pack(name).check(doc, self.store.index, self.now(), partner.timezone)
        if any(f.severity == "error" for f in findings):
            return Submission(None, findings)
        mapping = self.catalog.mapping(route.mapping, partner)
        try:
            edi, mapped = build_interchange(doc, partner, self.config.our, self.store.control_numbers,
                                            mappings_dir=self.config.mappings_dir, mapping=mapping)
        except DelimiterInValue as exc:  # X12 cannot escape a separator: the ERP must change the value
            path = _path_of(doc, exc.value)
            return Submission(None, [_problem(
                "value_holds_delimiter",
                f"{path or 'a value'} = {exc.value!r} contains {exc.delimiter!r}, a separator of the partner's "
                f"X12 (segment {exc.segment}); X12 cannot carry it: remove or replace that character", path)])
        findings += mapped
        result = parse(edi)
        findings += [f for f in result.findings if f.severity == "error"]
        findings += [f for f in validate_parse_result(result, partner=partner.id, rules_dir=self.config.rules_dir)
                     if f.severity == "error"]
        if any(f.severity == "error" for f in findings):
            return Submission(None, findings)
        ic = result.interchanges[0]
        g = ic.groups[0]
        t = g.transactions[0]
        sub = Submission(doc_id, findings)
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        for dest in route.to:
            key = f"{doc_id}:{dest}"
            if dest == "partner":
                queue = partner_queue(partner.id)
                meta = {"partner": partner.id, "doc_id": doc_id, "document": kind, "idempotency_key": key,
                        "content_type": "application/edi-x12" if ic.standard == "x12" else "application/edifact",
                        "filename": f"{t.type}-{ic.control_number}.edi", "client": client}
                out = self.store.spool.put(f"out/{queue}", edi, meta)
            else:
                queue = dest
                out = self.store.spool.put(f"out/{queue}", body, {
                    "partner": partner.id, "doc_id": doc_id, "document": kind, "idempotency_key": key,
                    "content_type": "application/json", "client": client})
            self.store.schedule_delivery(out, queue, key)
            sub.queued.append(out)
        self.store.record("document.edi_queued", partner=partner.id,
                          keys={"doc_id": doc_id, "interchange_control": ic.control_number,
                                "group_control": g.control_number, "transaction_control": t.control_number,
                                "transaction_type": t.type})
        self.store.index_document(doc)
        lifecycle.advance(self.store, doc)
        log.info("outbound_document_queued", partner=partner.id, doc_id=doc_id, document=kind, client=client,
                 interchange=ic.control_number, transaction_type=t.type)
        return sub
