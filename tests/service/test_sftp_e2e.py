"""A partner uploads an 850 with the OpenSSH client; it comes out as JSON, and the 997 is there to download."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from twisted.conch.ssh import keys

from tests.conftest import GATEWAY_YAML, PARTNER_YAML
from tests.pipeline.fixtures import interchange, po_850
from tests.service.test_daemon import Daemon
from tests.transport.sftp.helpers import sftp_batch

pytestmark = pytest.mark.integration

SFTP_PARTNER = PARTNER_YAML.replace("to: [erp]}", "to: [archive]}") + """\
sftp:
  users: [{name: amazon850, authorized_keys: keys/partners/amazon_sftp.pub}]
"""


def test_upload_850_reaches_archive_as_json_and_997_is_downloadable(config_tree, tmp_path):
    from gateway.service.devkeys import ensure_dev_keys

    config_tree.write("gateway.yaml", GATEWAY_YAML.replace('  api: "tcp:0:interface=127.0.0.1"',
                                                           '  api: "tcp:0:interface=127.0.0.1"\n'
                                                           '  sftp: "tcp:0:interface=127.0.0.1"'))
    # An as2 block would make AS2 the outbound transport: this partner trades over SFTP only.
    text = SFTP_PARTNER
    start = text.index("as2:")
    end = text.index("routes:")
    config_tree.partner("amazon-us", text[:start] + text[end:])
    ensure_dev_keys(config_tree.gateway)
    d = Daemon(config_tree, tmp_path)
    try:
        d.wait_for("READY=1")
        port = next(int(re.search(r"port=(\d+)", e["address"]).group(1)) for e in d.events()
                    if e["event"] == "sftp_listening")
        host = keys.Key.fromFile(str(config_tree.root / "keys/sftp_host_ed25519")).public().toString("openssh")
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {host.decode()}\n")
        work = tmp_path / "client"
        work.mkdir()
        (work / "po.edi").write_bytes(interchange(po_850("PO8001")))
        key = config_tree.root / "keys/partners/amazon_sftp"
        up = sftp_batch(port, "amazon850", key, known, "cd inbox\nput po.edi\n", work)
        assert up.returncode == 0, up.stderr
        archive = config_tree.root / "spool/erp-out"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(archive.glob("*.json")):
            time.sleep(0.1)
        docs = [json.loads(p.read_text()) for p in archive.glob("*.json")]
        assert [d_["po_number"] for d_ in docs] == ["PO8001"]
        deadline = time.monotonic() + 20
        listing = None
        while time.monotonic() < deadline:
            listing = sftp_batch(port, "amazon850", key, known, "ls -1 outbox\n", work)
            if "997" in listing.stdout:
                break
            time.sleep(0.2)
        assert listing is not None and "997" in listing.stdout, listing.stdout
        name = next(line.strip() for line in listing.stdout.splitlines() if "997" in line and "ls" not in line)
        got = sftp_batch(port, "amazon850", key, known, f"get {name} ack.edi\n", work)
        assert got.returncode == 0, got.stderr
        ack = (work / "ack.edi").read_bytes()
        assert b"ST*997*" in ack and b"AK1*PO*101" in ack and b"AK9*A" in ack
    finally:
        # A stop right after an SFTP session once hung now and then: SIGTERM landed while a disconnect was
        # being logged, and Twisted's handler logs too (see gateway/service/signals.py). Asserted strictly.
        code = d.stop()
        d.sock.close()
    assert code == 0
    assert Path(config_tree.root / "spool").is_dir()
