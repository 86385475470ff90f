"""What the pipeline and the CLI call: map one parsed transaction, or build one outbound interchange.

``map_transaction`` finds the partner's mapping for a transaction (its route names it), maps it to the
canonical document with the partner's timezone and the ``source`` block filled, and validates it
against the canonical schema. ``build_interchange`` writes a canonical document as the partner's EDI,
enveloped with our ids and the next control numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gateway.edi.envelope import ControlNumbers, envelope
from gateway.edi.findings import Finding
from gateway.edi.model import Group, Interchange, Transaction
from gateway.edi.writer import write
from gateway.mapping.compiled import Mapping
from gateway.mapping.kinds import document_kind_for
from gateway.mapping.loader import load_mapping, load_partner_mapping
from gateway.mapping.schemas import validate


def _get(obj: Any, key: str, default: Any = None) -> Any:
    return obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)


def _routes(partner: Any) -> Iterable[Any]:
    return _get(partner, "routes", ()) or ()


def mapping_name_for(partner: Any, document: str, direction: str) -> str | None:
    """The mapping a partner's routes name. Inbound: ``document`` is the transaction type ("850"), and a
    route matches by that type (or, with ``direction: inbound``, by its kind). Outbound: ``document`` is
    the kind ("invoice"), and a route matches by kind unless it says ``direction: inbound``."""
    kind = document_kind_for(None, document) if direction == "inbound" else document
    for r in _routes(partner):
        doc, rdir, name = str(_get(r, "document")), _get(r, "direction"), _get(r, "mapping")
        if not name or (rdir is not None and rdir != direction):
            continue
        if direction == "inbound" and (doc == document or (rdir == "inbound" and doc == kind)):
            return str(name)
        if direction == "outbound" and doc == kind and (rdir == "outbound" or document_kind_for(None, doc) is None):
            return str(name)
    return None


def source_block(ic: Interchange, group: Group, transaction: Transaction, message_id: str | None = None) -> dict[str, Any]:
    return {"interchange": ic.control_number, "group": group.control_number, "transaction": transaction.control_number,
            "message_id": message_id, "standard": ic.standard, "version": transaction.version or group.version,
            "transaction_type": transaction.type}


def map_transaction(
    ic: Interchange, group: Group, transaction: Transaction, *, partner: Any, mappings_dir: Path | str,
    mapping: str | Mapping | None = None, message_id: str | None = None, check_schema: bool = True,
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """EDI transaction -> (canonical document, findings). ``partner`` is a config ``Partner`` (or a dict
    with id, timezone, routes). With no mapping given, the partner's inbound route for the set decides;
    no route gives (None, [a finding]) rather than an exception."""
    pid = str(_get(partner, "id", "") or "")
    m = mapping
    if m is None:
        name = mapping_name_for(partner, transaction.type, "inbound")
        if name is None:
            return None, [Finding("mapping_no_route", f"partner {pid or '?'} has no inbound route with a mapping for "
                                  f"{transaction.type}", level="transaction")]
        m = name
    if isinstance(m, str):
        m = load_partner_mapping(m, mappings_dir, pid) if pid else load_mapping(m, mappings_dir)
    doc, findings = m.to_canonical(transaction, partner_id=pid, partner_tz=str(_get(partner, "timezone", "UTC")),
                                   source=source_block(ic, group, transaction, message_id))
    if check_schema:
        findings = findings + validate(doc)
    return doc, findings


def build_interchange(doc: dict[str, Any], partner_cfg: Any, our_ids: dict[str, Any], control_numbers: ControlNumbers,
                      *, mappings_dir: Path | str | None = None, mapping: str | Mapping | None = None,
                      test: bool = False) -> tuple[bytes, list[Finding]]:
    """Canonical document -> partner EDI bytes (one interchange, one group, one transaction).

    ``our_ids`` is the ``our:`` block of gateway.yaml ({x12: {qualifier, id}, edifact: {qualifier, id}}).
    Returns the bytes and the mapping's findings (a document missing required data still yields bytes
    for inspection; the caller must not send it when a finding is an error).
    """
    pid = str(_get(partner_cfg, "id", ""))
    edi = _get(partner_cfg, "edi", {}) or {}
    std = edi.get("standard", "x12")
    m = mapping
    if m is None:
        m = mapping_name_for(partner_cfg, str(doc.get("document")), "outbound")
        if m is None:
            raise LookupError(f"partner {pid} has no outbound route with a mapping for {doc.get('document')}")
    if isinstance(m, str):
        m = load_partner_mapping(m, mappings_dir, pid) if (pid and mappings_dir) else load_mapping(m, mappings_dir)
    segs, findings = m.to_edi(doc, partner_tz=str(_get(partner_cfg, "timezone", "UTC")))
    theirs = edi.get(std) or {}
    ours = (our_ids or {}).get(std) or {}
    sender = (str(ours.get("qualifier", "ZZ")), str(ours.get("id", "")))
    receiver = (str(theirs.get("qualifier", "ZZ")), str(theirs.get("id", "")))
    if std == "x12":
        gver = m.version or "004010"
        ic = envelope([segs], partner=pid, sender=sender, receiver=receiver, control_numbers=control_numbers,
                      version="00" + gver[2:5], group_version=gver, test=test)
    else:
        ic = envelope([segs], partner=pid, sender=sender, receiver=receiver, control_numbers=control_numbers,
                      standard="edifact", version=str(theirs.get("syntax", "UNOC:3")), test=test)
    return write(ic), findings
