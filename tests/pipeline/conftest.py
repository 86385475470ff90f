from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.store import Store
from tests.conftest import ConfigTree

REPO = Path(__file__).resolve().parents[2]

PIPELINE_GATEWAY = f"""\
node: test1
listen:
  api: "tcp:0:interface=127.0.0.1"
paths: {{spool: spool, audit: spool/audit, index: spool/index.sqlite, keys: keys}}
our:
  as2_id: ACMEVENDOR
  x12: {{qualifier: ZZ, id: ACMEVENDOR}}
destinations:
  erp: {{kind: http, url: "http://127.0.0.1:9/edi"}}
  archive: {{kind: folder, path: erp-out}}
partners_dir: partners
mappings_dir: {REPO / "mappings"}
rules_dir: {REPO / "rules"}
shutdown: {{drain_timeout: 2s}}
"""

PIPELINE_PARTNER = """\
id: amazon-us
name: Amazon.com (US)
timezone: America/New_York
edi:
  standard: x12
  x12: {qualifier: ZZ, id: AMAZON, version: "00401", acks: "997"}
routes:
  - {document: "850", mapping: amazon/850-purchase_order, rules: [amazon/vendor], to: [erp, archive]}
"""


@pytest.fixture
def pipeline_tree(tmp_path: Path) -> ConfigTree:
    tree = ConfigTree(tmp_path)
    tree.write("gateway.yaml", PIPELINE_GATEWAY)
    tree.partner("amazon-us", PIPELINE_PARTNER)
    return tree


@pytest.fixture
def pipeline_store(pipeline_tree: ConfigTree):
    cfg = load_config(pipeline_tree.gateway)
    store = Store.open(str(cfg.paths.spool), str(cfg.paths.audit), str(cfg.paths.index), node="test1")
    yield cfg, store
    store.close()
