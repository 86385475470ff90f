"""gatewayctl submit and status against a real store."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.config import load_config
from gateway.pipeline.inbound import InboundProcessor
from gateway.store import Store
from tests.pipeline.fixtures import interchange, po_850


def test_submit_then_status_shows_the_po_board(pipeline_tree, tmp_path):
    edi = tmp_path / "po.edi"
    edi.write_bytes(interchange(po_850("PO7001")))
    cfg = load_config(pipeline_tree.gateway)
    Store.open(str(cfg.paths.spool), str(cfg.paths.audit), str(cfg.paths.index), node="t").close()  # as a daemon would
    runner = CliRunner()
    res = runner.invoke(cli, ["submit", str(edi), "--partner", "amazon-us", "--config", str(pipeline_tree.gateway)])
    assert res.exit_code == 0, res.output
    item = res.output.strip()
    bad = runner.invoke(cli, ["submit", str(edi), "--partner", "nobody", "--config", str(pipeline_tree.gateway)])
    assert bad.exit_code == 1 and "unknown partner 'nobody'" in bad.output
    store = Store.open(str(cfg.paths.spool), str(cfg.paths.audit), str(cfg.paths.index), node="t")
    try:
        assert store.spool.list("in") == [item]
        assert store.spool.item(item).meta["filename"] == "po.edi"
        store.spool.claim("in", "work")
        InboundProcessor(store, cfg).process(item)
    finally:
        store.close()
    res = runner.invoke(cli, ["status", "--config", str(pipeline_tree.gateway), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["spool"]["done"] == {"amazon-us": 1}
    assert data["spool"]["out/erp"] == {"amazon-us": 1}
    assert [r["po_number"] for r in data["po_board"]["received"]] == ["PO7001"]
    text = runner.invoke(cli, ["status", "--config", str(pipeline_tree.gateway)])
    assert "not acknowledged: 1" in text.output and "PO PO7001" in text.output and "ack due" in text.output
    assert data["pipeline_hold"] is False and "ON HOLD" not in text.output
    # With the pipeline on hold, status says so first, with what waits in in/.
    res = runner.invoke(cli, ["submit", str(edi), "--partner", "amazon-us", "--config", str(pipeline_tree.gateway)])
    assert res.exit_code == 0, res.output
    pipeline_tree.gateway.write_text(pipeline_tree.gateway.read_text() + "pipeline: {hold: true}\n")
    held = runner.invoke(cli, ["status", "--config", str(pipeline_tree.gateway)])
    assert held.output.startswith("pipeline: ON HOLD") and "1 item(s) waiting in in/" in held.output
    res = runner.invoke(cli, ["status", "--config", str(pipeline_tree.gateway), "--json"])
    assert json.loads(res.output)["pipeline_hold"] is True


def test_validate_with_partner_runs_the_business_rules(pipeline_tree, tmp_path):
    edi = tmp_path / "po.edi"
    edi.write_bytes(interchange(po_850("PO7001")))
    res = CliRunner().invoke(cli, ["validate", str(edi), "--partner", "amazon-us", "--config",
                                   str(pipeline_tree.gateway), "--json"])
    assert res.exit_code == 0, res.output
    findings = json.loads(res.output[: res.output.rindex("]") + 1])
    rules = {f.get("rule_id") for f in findings}
    assert "po.line.gtin_check_digit" in rules  # the fixture's UPCs have no valid check digit
    assert all(f["severity"] == "warning" and f["transaction"] == 0 for f in findings)
