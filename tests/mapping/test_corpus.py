"""The Amazon pack's inbound mappings over public sample files: findings, never exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.edi import parse
from gateway.mapping import document_kind_for, load_mapping
from gateway.mapping.schemas import validate
from tests.mapping.helpers import MAPPINGS

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "public"
INBOUND = {"850": "amazon/850-purchase_order", "855": "amazon/855-po_acknowledgement", "856": "amazon/856-ship_notice",
           "810": "amazon/810-invoice", "820": "amazon/820-remittance", "997": "amazon/997-functional_ack",
           "ORDERS": "amazon/ORDERS-purchase_order"}

pytestmark = pytest.mark.corpus


def _files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".edi", ".x12", ".txt") and p.name != "MANIFEST.md")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_inbound_mappings_never_raise(path: Path) -> None:
    result = parse(path.read_bytes())
    for _ic, _g, tx in result.transactions():
        name = INBOUND.get(tx.type)
        if name is None:
            continue
        m = load_mapping(name, MAPPINGS)
        doc, findings = m.to_canonical(tx, partner_id="corpus", partner_tz="UTC", source={})
        assert doc["document"] == document_kind_for(None, tx.type)
        assert all(f.path for f in findings)  # every mapping problem names where in the document
        validate(doc)  # schema problems are findings too
        assert all(row["segment"] not in ("ST", "SE", "UNH", "UNT") for row in m.coverage(tx))
        if tx.type == "850" and result.ok:
            assert doc.get("po_number") and doc.get("lines"), path.name
