"""The real daemon receiving AS2 over HTTP: an `openssl cms` + curl station (no pyas2lib, no code of ours
on its side) posts signed and encrypted messages, verifies our signed MDN with `openssl cms -verify` and
checks its MIC; then every negative case gets its HTTP status or MDN disposition."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.pipeline.fixtures import interchange, po_850
from tests.service.as2_daemon import as2_port, as2_tree, audit_events, post, spool_items
from tests.service.test_daemon import Daemon
from tests.transport.as2 import openssl_peer as op

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    root = tmp_path_factory.mktemp("as2d")
    tree = as2_tree(root)
    d = Daemon(tree, root)
    done = threading.Event()

    def drain() -> None:
        # The daemon's sd_notify is a blocking send: once the notify socket's queue is full (10
        # datagrams by default, two seconds of watchdog pings) its reactor would stop until someone reads.
        while not done.is_set():
            try:
                d.messages.append(d.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    reader = threading.Thread(target=drain, daemon=True)
    try:
        d.wait_for("READY=1", timeout=30)
        d.sock.settimeout(0.2)
        reader.start()
        yield root, as2_port(d), d
    finally:
        if d.proc.poll() is None:
            try:
                d.stop()
            except subprocess.TimeoutExpired:  # a loaded machine: do not fail the module on a slow stop
                d.proc.kill()
                d.proc.wait()
        done.set()
        if reader.is_alive():
            reader.join(2)
        d.sock.close()


def _keys(root: Path) -> dict[str, Path]:
    k = root / "keys"
    return {
        "partner_key": k / "partners/amazon.key",
        "partner_cert": k / "partners/amazon.pem",
        "our_cert": k / "our.crt",
        "our_key": k / "our.key",
    }


def _curl(port: int, headers: dict[str, str], body_file: Path, out: Path) -> tuple[int, dict[str, str]]:
    args = [
        "curl",
        "-sS",
        "-o",
        str(out),
        "-D",
        str(out) + ".h",
        "-w",
        "%{http_code}",
        "--data-binary",
        f"@{body_file}",
        f"http://127.0.0.1:{port}/as2",
    ]
    for k, v in headers.items():
        args[1:1] = ["-H", f"{k}: {v}"]
    code = subprocess.run(args, capture_output=True, timeout=30, check=True).stdout.decode()
    resp = {}
    for line in Path(str(out) + ".h").read_text("latin-1").splitlines()[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            resp[k.strip()] = v.strip()
    return int(code), resp


@pytest.mark.parametrize(
    "digest,cipher",
    [
        ("sha1", "tripledes_192_cbc"),
        ("sha256", "aes_128_cbc"),
        ("sha384", "aes_192_cbc"),
        ("sha512", "aes_256_cbc"),
    ],
)
def test_openssl_curl_station_gets_a_signed_mdn_with_our_mic(station, tmp_path, digest, cipher):
    root, port, _ = station
    k = _keys(root)
    payload = interchange(po_850(f"PO-{digest}"))
    msg_id = f"openssl-{digest}-{cipher}@peer.example"
    headers, body, mic = op.build(
        tmp_path,
        payload,
        signer_key=k["partner_key"],
        signer_cert=k["partner_cert"],
        recipient_cert=k["our_cert"],
        digest=digest,
        cipher=cipher,
        message_id=msg_id,
        as2_from="AMAZON",
    )
    (tmp_path / "body.bin").write_bytes(body)
    code, resp = _curl(port, headers, tmp_path / "body.bin", tmp_path / "mdn.bin")
    assert code == 200
    ctype = next(v for k_, v in resp.items() if k_.lower() == "content-type")
    assert ctype.startswith("multipart/signed")
    fields = op.verify_mdn(
        tmp_path, {"Content-Type": ctype}, (tmp_path / "mdn.bin").read_bytes(), k["our_cert"]
    )
    assert fields["disposition"].endswith("; processed")
    assert fields["original-message-id"] == f"<{msg_id}>"
    assert fields["received-content-mic"] == f"{mic}, {digest}"
    items = spool_items(root, msg_id)
    assert len(items) == 1, items
    stored, meta = items[0]
    assert stored == payload
    assert meta["filename"] == "po-openssl.x12"
    assert meta["extra"]["cipher"] == cipher and meta["extra"]["digest"] == digest
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        facts = [
            m
            for e in audit_events(root, "as2.received")
            for m in e["data"]["messages"]
            if m["message_id"] == msg_id
        ]
        if facts:
            break
        time.sleep(0.05)
    assert facts and facts[0]["cipher"] == cipher and facts[0]["digest"] == digest
    assert facts[0]["disposition"] == "processed" and facts[0]["item_id"] == meta["item_id"]
    received = [e for e in audit_events(root, "item.received") if e["item_id"] == meta["item_id"]]
    assert received[0]["data"]["received"]["cipher"] == cipher
    assert received[0]["data"]["received"]["digest"] == digest


def _mdn_fields(root: Path, tmp_path: Path, resp: dict[str, str], body: bytes) -> dict[str, str]:
    ctype = next(v for k, v in resp.items() if k.lower() == "content-type")
    return op.verify_mdn(tmp_path, {"Content-Type": ctype}, body, _keys(root)["our_cert"])


def _signed_encrypted(root: Path, tmp_path: Path, msg_id: str, **kw) -> tuple[dict[str, str], bytes, str]:
    k = _keys(root)
    args = {
        "signer_key": k["partner_key"],
        "signer_cert": k["partner_cert"],
        "recipient_cert": k["our_cert"],
        "message_id": msg_id,
        "as2_from": "AMAZON",
    }
    payload = kw.pop("payload", None) or interchange(po_850("PO-NEG"))
    args.update(kw)
    return op.build(tmp_path, payload, **args)


def test_unknown_as2_to_and_from_get_clear_4xx(station, tmp_path):
    root, port, _ = station
    headers, body, _ = _signed_encrypted(root, tmp_path, "neg-to@peer")
    code, _, text = post(port, {**headers, "AS2-To": "SOMEONEELSE"}, body)
    assert code == 404 and b"not this station" in text
    code, _, text = post(port, {**headers, "AS2-From": "STRANGER"}, body)
    assert code == 403 and b"unknown-trading-partner" in text
    assert not spool_items(root, "neg-to@peer")


def test_wrong_signature_key_gets_authentication_failed(station, tmp_path):
    root, port, _ = station
    from gateway.service.devkeys import self_signed

    key_pem, cert_pem = self_signed("STRANGER")
    (tmp_path / "s.key").write_bytes(key_pem)
    (tmp_path / "s.crt").write_bytes(cert_pem)
    headers, body, _ = _signed_encrypted(
        root, tmp_path, "neg-sig@peer", signer_key=tmp_path / "s.key", signer_cert=tmp_path / "s.crt"
    )
    code, resp, mdn = post(port, headers, body)
    assert code == 200
    assert _mdn_fields(root, tmp_path, resp, mdn)["disposition"].endswith(
        "processed/Error: authentication-failed"
    )
    assert not spool_items(root, "neg-sig@peer")


def test_unsigned_and_unencrypted_get_insufficient_security(station, tmp_path):
    root, port, _ = station
    for msg_id, kw in (
        ("neg-unsigned@peer", {"signer_key": None, "signer_cert": None}),
        ("neg-plain@peer", {"recipient_cert": None}),
    ):
        headers, body, _ = _signed_encrypted(root, tmp_path, msg_id, **kw)
        code, resp, mdn = post(port, headers, body)
        assert code == 200
        fields = _mdn_fields(root, tmp_path, resp, mdn)
        assert fields["disposition"].endswith("processed/Error: insufficient-message-security"), msg_id
        assert not spool_items(root, msg_id)


def test_tampered_and_truncated_ciphertext_get_decryption_failed(station, tmp_path):
    root, port, _ = station
    headers, body, _ = _signed_encrypted(root, tmp_path, "neg-tamper@peer")
    # one byte flipped in the encrypted content key, then in the last (padding) block of the content
    for pos in (300, len(body) - 5):
        tampered = body[:pos] + bytes([body[pos] ^ 0xFF]) + body[pos + 1 :]
        code, resp, mdn = post(port, headers, tampered)
        assert code == 200
        disp = _mdn_fields(root, tmp_path, resp, mdn)["disposition"]
        assert disp.endswith("processed/Error: decryption-failed"), (pos, disp)
    # (a flip inside the content decrypts to broken MIME: processed/Error: unexpected-processing-error)
    headers, body, _ = _signed_encrypted(root, tmp_path, "neg-trunc@peer")
    code, resp, mdn = post(port, headers, body[: len(body) // 2])
    assert code == 200
    assert "processed/Error: decryption-failed" in _mdn_fields(root, tmp_path, resp, mdn)["disposition"]
    assert not spool_items(root, "neg-tamper@peer") and not spool_items(root, "neg-trunc@peer")


def test_body_over_the_limit_gets_413_and_leaves_nothing(station, tmp_path):
    root, port, _ = station
    headers, _, _ = _signed_encrypted(root, tmp_path, "neg-big@peer")
    import socket

    # the declared length alone is refused, before any of the body is read
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST /as2 HTTP/1.1\r\nHost: x\r\nContent-Length: {3 << 20}\r\n{head}\r\n".encode())
        sock.sendall(b"x" * 65536)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"over the limit" in answer
    assert not list((root / "spool/tmp/as2").iterdir())


def test_garbage_headers_get_400(station):
    _, port, _ = station
    code, _, text = post(port, {"Content-Type": "application/pkcs7-mime"}, b"\x00garbage")
    assert code == 400 and b"AS2-From and AS2-To" in text
    code, _, text = post(port, {"AS2-From": "AMAZON", "AS2-To": "ACMEVENDOR", "Content-Type": "x/y"}, b"z")
    assert code == 400 and b"Message-ID" in text
    code, _, text = post(
        port,
        {
            "AS2-From": "AMAZON",
            "AS2-To": "ACMEVENDOR",
            "Message-ID": "<g@x>",
            "Content-Type": "application/pkcs7-mime; smime-type=enveloped-data",
        },
        b"\x30\x80garbage",
    )
    assert code == 200  # a well-formed AS2 request with a broken body: a negative MDN, never a 500


def test_replayed_message_id_is_not_stored_again_and_gets_duplicate_warning(station, tmp_path):
    root, port, _ = station
    headers, body, mic = _signed_encrypted(root, tmp_path, "replay@peer")
    first = post(port, headers, body)
    again = post(port, headers, body)
    assert first[0] == again[0] == 200
    assert _mdn_fields(root, tmp_path, first[1], first[2])["disposition"].endswith("; processed")
    fields = _mdn_fields(root, tmp_path, again[1], again[2])
    assert fields["disposition"].endswith("processed/Warning: duplicate-document")
    assert fields["received-content-mic"] == f"{mic}, sha256"
    assert len(spool_items(root, "replay@peer")) == 1


def test_a_replay_after_the_index_row_is_written_is_caught_from_the_index(station, tmp_path):
    """The daemon knows arrivals whose index row is still queued (the replay test above); once the row
    is written, the Message-ID is found in the index."""
    import sqlite3

    root, port, _ = station
    headers, body, _ = _signed_encrypted(root, tmp_path, "late-replay@peer")
    assert post(port, headers, body)[0] == 200
    index = sqlite3.connect(f"file:{root / 'spool' / 'index.sqlite'}?mode=ro", uri=True)
    deadline = time.monotonic() + 10
    while not index.execute("SELECT 1 FROM messages WHERE message_id LIKE '%late-replay@peer%'").fetchone():
        assert time.monotonic() < deadline, "the arrival's index row was not written"
        time.sleep(0.05)
    index.close()
    again = post(port, headers, body)
    assert _mdn_fields(root, tmp_path, again[1], again[2])["disposition"].endswith("duplicate-document")
    assert len(spool_items(root, "late-replay@peer")) == 1


def test_body_over_1mib_is_received_from_its_file(station, tmp_path):
    """A body over 1 MiB streams to spool/tmp and the codec worker reads it from there a chunk at a
    time: same MDN and MIC as a small one, the payload stored whole, a replay and a tampered copy
    answered as usual, and no temp file left."""
    root, port, _ = station
    # ~1.5 MiB that is not EDI: the pipeline behind the station sets it aside at once (1,500 purchase
    # orders would keep the daemon's pipeline busy for the tests after this one)
    payload = bytes(range(256)) * (3 << 11)
    headers, body, mic = _signed_encrypted(root, tmp_path, "big-file@peer", payload=payload)
    assert 1 << 20 < len(body) < 2 << 20
    code, resp, mdn = post(port, headers, body)
    assert code == 200
    fields = _mdn_fields(root, tmp_path, resp, mdn)
    assert fields["disposition"].endswith("; processed")
    assert fields["received-content-mic"] == f"{mic}, sha256"
    items = spool_items(root, "big-file@peer")
    assert len(items) == 1 and items[0][0] == payload
    again = post(port, headers, body)
    assert _mdn_fields(root, tmp_path, again[1], again[2])["disposition"].endswith("duplicate-document")
    headers, body, _ = _signed_encrypted(root, tmp_path, "big-tamper@peer", payload=payload)
    code, resp, mdn = post(port, headers, body[:-7])  # truncated: the EnvelopedData runs past its end
    assert code == 200
    assert "processed/Error: decryption-failed" in _mdn_fields(root, tmp_path, resp, mdn)["disposition"]
    assert not spool_items(root, "big-tamper@peer")
    assert not list((root / "spool/tmp/as2").iterdir())


def test_no_500_and_no_leftover_spool_temp_files(station):
    root, _, d = station
    assert not [e for e in d.events() if e.get("event") == "as2_request_crashed"]
    assert not list((root / "spool/tmp/as2").glob("as2-*"))


def test_gatewayctl_as2_send_from_a_peer_config_to_the_daemon(station, tmp_path):
    """The partner's side is a second gateway configuration (its key, our certificate); the daemon gets
    the message, and the command prints the checked MDN."""
    import json
    import shutil
    import sys

    root, port, _ = station
    k = _keys(root)
    peer = tmp_path / "peer"
    (peer / "keys").mkdir(parents=True)
    (peer / "partners").mkdir()
    shutil.copy(k["partner_key"], peer / "keys/amazon.key")
    shutil.copy(k["partner_cert"], peer / "keys/amazon.crt")
    shutil.copy(k["our_cert"], peer / "keys/acme.crt")
    (peer / "keys/amazon.key").chmod(0o600)
    repo = Path(__file__).resolve().parents[2]
    (peer / "gateway.yaml").write_text(
        "node: peer\nlisten: {}\nour:\n  as2_id: AMAZON\n  certificates: [{key: keys/amazon.key, cert: keys/amazon.crt}]\n"
        f"mappings_dir: {repo / 'mappings'}\nrules_dir: {repo / 'rules'}\n"
    )
    (peer / "partners/acme.yaml").write_text(
        "id: acme\nname: Acme\nedi: {standard: x12, x12: {qualifier: ZZ, id: ACMEVENDOR}}\n"
        f"as2: {{as2_id: ACMEVENDOR, url: 'http://127.0.0.1:{port}/as2', sign: sha512, encrypt: aes_192_cbc,"
        " certificates: [keys/acme.crt]}\n"
    )
    edi = tmp_path / "po-cli.x12"
    edi.write_bytes(interchange(po_850("PO-CLI")))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "as2",
            "send",
            str(edi),
            "--partner",
            "acme",
            "--config",
            str(peer / "gateway.yaml"),
            "--json",
        ],
        capture_output=True,
        timeout=60,
        cwd=repo,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    report = json.loads(proc.stdout)
    assert report["ok"] and report["mdn"]["disposition"] == "processed" and report["mdn"]["mic_ok"]
    assert report["sent"]["cipher"] == "aes_192_cbc" and report["mdn"]["mic_alg"] == "sha512"
    items = spool_items(root, report["message_id"])
    assert len(items) == 1 and items[0][0] == edi.read_bytes()
    assert items[0][1]["filename"] == "po-cli.x12"


def test_killed_codec_workers_are_replaced_and_the_next_message_is_received(station, tmp_path):
    """A codec worker that dies (here: SIGKILL) is replaced; the daemon goes on answering."""
    import os
    import signal

    root, port, d = station
    children = Path(f"/proc/{d.proc.pid}/task/{d.proc.pid}/children").read_text().split()
    workers = [int(p) for p in children if b"_worker_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(workers) >= 1
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while len([e for e in d.events() if e.get("event") == "as2_codec_worker_lost"]) < len(workers):
        assert time.monotonic() < deadline, "the daemon did not notice its workers died"
        time.sleep(0.05)
    headers, body, mic = _signed_encrypted(root, tmp_path, "after-kill@peer")
    status, resp, mdn = post(port, headers, body)
    assert status == 200
    fields = _mdn_fields(root, tmp_path, resp, mdn)
    assert fields["disposition"].endswith("; processed") and fields["received-content-mic"] == f"{mic}, sha256"
    assert len(spool_items(root, "after-kill@peer")) == 1
    assert d.proc.poll() is None
