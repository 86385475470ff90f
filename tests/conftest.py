"""Shared fixtures: a complete, valid configuration tree in a temporary folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import gateway  # noqa: F401  (installs the pyas2lib import fix before any test imports pyas2lib)
from gateway.service.devkeys import ensure_dev_keys

REPO = Path(__file__).resolve().parents[1]

GATEWAY_YAML = f"""\
node: test1
listen:
  api: "tcp:0:interface=127.0.0.1"
paths: {{spool: spool, audit: spool/audit, index: spool/index.sqlite, keys: keys}}
our:
  as2_id: ACMEVENDOR
  x12: {{qualifier: ZZ, id: ACMEVENDOR}}
  certificates:
    - {{key: keys/our.key, cert: keys/our.crt}}
destinations:
  erp: {{kind: http, url: "http://127.0.0.1:9/edi", secret_file: keys/erp.secret}}
  archive: {{kind: folder, path: spool/erp-out}}
partners_dir: partners
mappings_dir: {REPO / "mappings"}
rules_dir: {REPO / "rules"}
shutdown: {{drain_timeout: 2s}}
"""

PARTNER_YAML = """\
id: amazon-us
name: Amazon.com (US)
timezone: America/New_York
edi:
  standard: x12
  x12: {qualifier: ZZ, id: AMAZON, version: "00401", acks: "997"}
as2:
  as2_id: AMAZON
  url: "http://127.0.0.1:9/as2"
  certificates: [keys/partners/amazon.pem]
routes:
  - {document: "850", mapping: amazon/850-purchase_order, to: [erp]}
"""


class ConfigTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.gateway = root / "gateway.yaml"

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def partner(self, name: str, text: str) -> Path:
        return self.write(f"partners/{name}.yaml", text)


@pytest.fixture
def config_tree(tmp_path: Path) -> ConfigTree:
    tree = ConfigTree(tmp_path)
    tree.write("gateway.yaml", GATEWAY_YAML)
    tree.partner("amazon-us", PARTNER_YAML)
    ensure_dev_keys(tree.gateway)
    return tree
