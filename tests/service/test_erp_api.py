"""The ERP API inside the real daemon: auth, 400/422/202, idempotency, state, the partner's 997."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gateway.edi import parse
from gateway.edi.acks import build_997
from gateway.edi.envelope import InMemoryControlNumbers
from gateway.store import Store
from gateway.transport.inbox import Received
from tests.conftest import GATEWAY_YAML, PARTNER_YAML
from tests.service.test_daemon import Daemon

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
INVENTORY = json.loads((REPO / "tests/mapping/golden/inventory.json").read_text())
INVOICE = json.loads((REPO / "tests/mapping/golden/invoice.json").read_text())


@pytest.fixture
def api(config_tree, tmp_path):
    token = config_tree.root / "keys/erp.token"
    token.write_text("t0ken-for-tests\n")
    token.chmod(0o600)
    config_tree.write("gateway.yaml", GATEWAY_YAML + "api:\n  clients:\n    - {name: erp, token_file: keys/erp.token}\n")
    config_tree.partner("amazon-us", PARTNER_YAML
                        + "  - {document: inventory, mapping: amazon/inventory-846, to: [partner]}\n"
                        + "  - {document: invoice, mapping: amazon/invoice-810, rules: [amazon/vendor], to: [partner]}\n"
                        + '  - {document: "997", direction: inbound}\n')
    d = Daemon(config_tree, tmp_path)
    d.wait_for("READY=1")
    yield d
    d.stop()
    d.sock.close()


def call(d: Daemon, method: str, path: str, body: object = None, token: str | None = "t0ken-for-tests",
         headers: dict | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{d.api_port()}{path}", data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_auth_and_bad_bodies(api):
    assert call(api, "POST", "/v1/documents", INVENTORY, token=None)[0] == 401
    assert call(api, "POST", "/v1/documents", INVENTORY, token="wrong")[0] == 401
    status, body = call(api, "POST", "/v1/documents", b"{not json")
    assert status == 400 and body["error"] == "invalid_json"
    status, body = call(api, "POST", "/v1/documents", {**INVENTORY, "partner": "nobody"})
    assert status == 422 and body["findings"][0]["code"] == "unknown_partner"
    # X12 cannot escape its separators: a value holding one is refused with the field named (was a 500).
    bad = json.loads(json.dumps(INVENTORY))
    bad["items"][0]["product_ids"]["vendor_sku"] = "ACME*1"
    status, body = call(api, "POST", "/v1/documents", bad)
    assert status == 422, body
    (finding,) = body["findings"]
    assert finding["code"] == "value_holds_delimiter" and finding["path"] == "$.items[0].product_ids.vendor_sku"
    assert "'*'" in finding["message"] and "ACME*1" in finding["message"]
    status, spec = call(api, "GET", "/v1/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1") and "/v1/documents" in spec["paths"]


def test_invoice_breaking_rules_gets_422_with_findings(api):
    status, body = call(api, "POST", "/v1/documents", INVOICE)
    assert status == 422
    rules = {f.get("rule_id") for f in body["findings"]}
    assert "inv.line.shipped" in rules  # nothing was shipped on that PO
    assert all(f["message"] for f in body["findings"])


def test_inventory_is_queued_idempotent_and_tracked_to_the_partners_997(api, config_tree):
    status, first = call(api, "POST", "/v1/documents", INVENTORY, headers={"idempotency-key": "inv-1"})
    assert status == 202 and first["state"] == "queued" and len(first["queued"]) == 1
    status, again = call(api, "POST", "/v1/documents", INVENTORY, headers={"idempotency-key": "inv-1"})
    assert status == 200 and again == {"id": first["id"], "duplicate": True}
    status, state = call(api, "GET", f"/v1/documents/{first['id']}")
    assert status == 200 and state["document"] == "inventory" and state["partner_ack"] is None
    assert state["edi"]["transaction_type"] == "846"
    root = config_tree.root / "spool"
    attached = Store.attach(str(root), str(root / "audit"), str(root / "index.sqlite"))
    try:
        queued = attached.spool.list("out/partner.amazon-us")
        assert len(queued) == 1
        edi, meta = attached.spool.get(queued[0])
        result = parse(edi)
        assert result.ok and result.interchanges[0].transactions()[0].type == "846"
        assert meta["idempotency_key"] == f"{first['id']}:partner"
        # The partner answers with a 997 accepting it.
        ack = build_997(result, control_numbers=InMemoryControlNumbers(), partner="amazon-us")
        from gateway.edi import write

        attached.accept(write(ack), Received(partner="amazon-us", transport="test"))
    finally:
        attached.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = call(api, "GET", f"/v1/documents/{first['id']}")[1]
        if state["partner_ack"]:
            break
        time.sleep(0.1)
    assert state["partner_ack"]["status"] == "accepted" and state["partner_ack"]["kind"] == "997"
    assert call(api, "GET", "/v1/documents/nope")[0] == 404
    assert not list((config_tree.root / "spool" / "failed").glob("*.meta.json"))  # the 997 was not parked
