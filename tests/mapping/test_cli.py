"""gatewayctl translate / mapping explain / mapping check, run in the repository root."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.edi import parse
from tests.mapping.helpers import GOLDEN, ROOT


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_translate_edi_to_json_lines() -> None:
    res = CliRunner().invoke(cli, ["translate", str(GOLDEN / "in" / "amazon-850.edi"), "--partner", "amazon-us"])
    assert res.exit_code == 0, res.output
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(docs) == 1 and docs[0]["po_number"] == "2Q5JZ8XK" and len(docs[0]["lines"]) == 3


def test_translate_json_to_partner_edi(tmp_path: Path) -> None:
    for doc, partner, std in (("invoice", "amazon-us", "x12"), ("invoice_eu", "amazon-eu", "edifact")):
        res = CliRunner().invoke(cli, ["translate", str(GOLDEN / f"{doc}.json"), "--partner", partner,
                                       "--config", os.devnull])
        assert res.exit_code == 0, res.output
        result = parse(res.stdout_bytes)
        assert result.ok and result.standard == std
        ic = result.interchanges[0]
        assert ic.receiver == ("AMAZON" if std == "x12" else "5450534000024")


def test_translate_coverage_lists_unread_elements() -> None:
    res = CliRunner().invoke(cli, ["translate", str(GOLDEN / "in" / "amazon-850.edi"), "--partner", "amazon-us",
                                   "--coverage"])
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert {"transaction": "0001", "position": 8, "segment": "PO1", "elements": [5], "whole_segment": False} in rows
    assert all(r["segment"] in ("PO1", "CTT") for r in rows)


def test_translate_reshape_to_xml() -> None:
    res = CliRunner().invoke(cli, ["translate", str(GOLDEN / "purchase_order.json"), "--partner", "amazon-us",
                                   "--to", "xml", "--mapping", "examples/purchase_order-erp_xml"])
    assert res.exit_code == 0, res.output
    assert b'<erp:Order xmlns:erp="urn:example:erp:order:1" number="2Q5JZ8XK"' in res.stdout_bytes


def test_mapping_explain_and_check() -> None:
    res = CliRunner().invoke(cli, ["mapping", "explain", "amazon/850-purchase_order"])
    assert res.exit_code == 0
    assert "ship_to.id" in res.stdout and "N1[01=ST]/N104" in res.stdout
    assert "lines[].product_ids.upc" in res.stdout and "PO1/PO106@UP" in res.stdout
    res = CliRunner().invoke(cli, ["mapping", "explain", "amazon/invoice-810", "--json"])
    fields = json.loads(res.stdout)["fields"]
    assert {"output": "TDS01", "source": "total", "conversions": ["implied:2", "required"]} in fields
    res = CliRunner().invoke(cli, ["mapping", "check"])
    assert res.exit_code == 0 and "mappings OK" in res.stdout
