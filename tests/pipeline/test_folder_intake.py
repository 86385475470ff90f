"""ERP watched folders: a dropped file is sent like POST /v1/documents, once; a bad one is set aside with why."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.config import load_config
from gateway.edi import parse
from gateway.pipeline.folder_intake import FolderIntake
from tests.pipeline.conftest import PIPELINE_GATEWAY, PIPELINE_PARTNER

REPO = Path(__file__).resolve().parents[2]
INVENTORY = json.loads((REPO / "tests/mapping/golden/inventory.json").read_text())
INVOICE = json.loads((REPO / "tests/mapping/golden/invoice.json").read_text())


def test_dropped_files_are_sent_once_or_set_aside_with_findings(pipeline_tree, pipeline_store):
    _, store = pipeline_store
    pipeline_tree.write("gateway.yaml", PIPELINE_GATEWAY.replace(
        "shutdown:", "api:\n  folders: [{name: wms, path: erp-drop, partners: [amazon-us]}]\nshutdown:"))
    pipeline_tree.partner("amazon-us", PIPELINE_PARTNER
                          + "  - {document: inventory, mapping: amazon/inventory-846, to: [partner]}\n"
                          + "  - {document: invoice, mapping: amazon/invoice-810, rules: [amazon/vendor], to: [partner]}\n")
    cfg = load_config(pipeline_tree.gateway)
    assert cfg.api_folders[0]["path"] == pipeline_tree.root / "erp-drop"
    intake = FolderIntake(store, cfg, cfg.api_folders[0])
    drop = pipeline_tree.root / "erp-drop"
    assert intake.scan() == []  # creates the folders; nothing to do
    (drop / "inv-1.json").write_text(json.dumps(INVENTORY))
    (drop / "invoice-1.json").write_text(json.dumps(INVOICE))  # breaks the Amazon rules (nothing shipped)
    (drop / "broken.json").write_text("{not json")
    (drop / "half.json.part").write_text("{")  # still being written: left alone
    outcomes = {name: outcome for name, outcome, _ in intake.scan()}
    assert outcomes == {"inv-1.json": "accepted", "invoice-1.json": "refused", "broken.json": "refused"}
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == ["half.json.part"]
    result = json.loads((drop / ".done/inv-1.json.result.json").read_text())
    queued = store.spool.list("out/partner.amazon-us")
    assert len(queued) == 1 and result["queued"] == queued
    edi, meta = store.spool.get(queued[0])
    assert parse(edi).interchanges[0].transactions()[0].type == "846" and meta["client"] == "folder:wms"
    findings = json.loads((drop / ".failed/invoice-1.json.findings.json").read_text())["findings"]
    assert any(f.get("rule_id") == "inv.line.shipped" for f in findings)
    assert json.loads((drop / ".failed/broken.json.findings.json").read_text())["findings"][0]["code"] == "invalid_json"
    # The same file dropped again is recognised by name and content: nothing is sent twice.
    (drop / "inv-1.json").write_text(json.dumps(INVENTORY))
    assert [o for _, o, _ in intake.scan()] == ["duplicate"]
    assert store.spool.list("out/partner.amazon-us") == queued
