"""A real gatewayd with an AS2 listener, and a partner that speaks to it (helpers for the AS2 tests)."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path

from tests.conftest import GATEWAY_YAML, PARTNER_YAML, ConfigTree
from tests.service.test_daemon import Daemon

AS2_GATEWAY = (
    GATEWAY_YAML.replace(
        '  api: "tcp:0:interface=127.0.0.1"',
        '  api: "tcp:0:interface=127.0.0.1"\n  as2: "tcp:0:interface=127.0.0.1"',
    )
    + "limits: {as2_body_max: 2MiB, as2_workers: 2}\n"
)


def as2_tree(root: Path, partner_extra: str = "", gateway_extra: str = "") -> ConfigTree:
    from gateway.service.devkeys import ensure_dev_keys

    tree = ConfigTree(root)
    tree.write("gateway.yaml", AS2_GATEWAY + gateway_extra)
    partner = PARTNER_YAML.replace(
        "  certificates: [keys/partners/amazon.pem]\n",
        "  certificates: [keys/partners/amazon.pem]\n" + partner_extra,
    )
    tree.partner("amazon-us", partner)
    ensure_dev_keys(tree.gateway)
    return tree


def as2_port(d: Daemon) -> int:
    for e in d.events():
        if e.get("event") == "listening" and e.get("listener") == "as2":
            return int(re.search(r"port=(\d+)", e["address"]).group(1))
    raise AssertionError("as2 listener not logged")


def post(
    port: int, headers: dict[str, str], body: bytes, path: str = "/as2"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k: v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def spool_items(root: Path, message_id: str) -> list[tuple[bytes, dict]]:
    """(payload, meta) of every spool item received with ``message_id`` (the pipeline moves items
    between states while we look: a vanished file means look again; ``.tmp-`` files are metas still
    being written, not items)."""
    for _ in range(20):
        try:
            out = []
            for meta_path in (root / "spool").rglob("*.meta.json"):
                if meta_path.name.startswith("."):
                    continue
                meta = json.loads(meta_path.read_text())
                if meta.get("message_id") == message_id and meta.get("transport") == "as2":
                    payload = meta_path.with_name(meta_path.name[: -len(".meta.json")]).read_bytes()
                    out.append((payload, {**meta, "item_id": meta_path.name[: -len(".meta.json")]}))
            return out
        except FileNotFoundError:
            continue
    raise AssertionError("the spool kept changing under the scan")


def audit_events(root: Path, kind: str) -> list[dict]:
    evs = []
    for f in sorted((root / "spool" / "audit").glob("*.jsonl")):
        evs += [e for e in map(json.loads, f.read_text().splitlines()) if e["event"] == kind]
    return evs
