"""The PO board: where each open purchase order stands, and which deadlines are near or missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.config import GatewayConfig, parse_duration

COLUMNS = (("received", "not acknowledged"), ("acknowledged", "acknowledged, not shipped"),
           ("shipped", "shipped, not invoiced"), ("invoiced", "invoiced, not paid"))


def ack_deadline(config: GatewayConfig, partner_id: str, received_at: str) -> datetime:
    partner = config.partners.get(partner_id)
    window = parse_duration(partner.edi.get("ack_deadline") or "24h") if partner else 86400.0
    return datetime.fromisoformat(received_at).astimezone(UTC) + timedelta(seconds=window)


def board(index: Any, config: GatewayConfig, now: datetime) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for state, _title in COLUMNS:
        rows = []
        for r in index.documents_by_state("purchase_order", state):
            entry = {"doc_id": r["doc_id"], "partner": r["partner"], "po_number": r["body"].get("po_number"),
                     "received_at": r["received_at"], "since": r.get("state_at")}
            if state == "received":
                deadline = ack_deadline(config, r["partner"], r["received_at"])
                entry["ack_deadline"] = deadline.isoformat(timespec="seconds")
                entry["overdue"] = deadline <= now
                entry["seconds_left"] = int((deadline - now).total_seconds())
            rows.append(entry)
        out[state] = rows
    return out
