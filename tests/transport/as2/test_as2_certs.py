"""Certificates: generate/list/expiring commands, key file mode, choice among several, expiry report."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from gateway.cli.main import cli
from gateway.transport.as2 import certs
from gateway.transport.as2.profiles import utcnow


def test_generate_list_and_expiring(tmp_path: Path) -> None:
    runner = CliRunner()
    keys = tmp_path / "keys"
    r = runner.invoke(
        cli,
        [
            "certs",
            "generate",
            "--name",
            "acme-2026",
            "--bits",
            "2048",
            "--days",
            "10",
            "--dir",
            str(keys),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    key_path = Path(made["key"])
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert made["subject"] == "CN=acme-2026"
    pair = certs.load_keypair(key_path, keys / "acme-2026.crt")
    assert pair.key.key_size == 2048
    again = runner.invoke(
        cli, ["certs", "generate", "--name", "acme-2026", "--bits", "2048", "--dir", str(keys)]
    )
    assert again.exit_code != 0 and "already exists" in again.output
    assert runner.invoke(cli, ["certs", "generate", "--name", "../evil", "--dir", str(keys)]).exit_code != 0
    assert (
        runner.invoke(
            cli,
            ["certs", "generate", "--name", "long", "--days", "400", "--bits", "2048", "--dir", str(keys)],
        ).exit_code
        == 0
    )

    listed = json.loads(runner.invoke(cli, ["certs", "list", "--dir", str(keys), "--json"]).output)
    assert {i["subject"] for i in listed} == {"CN=acme-2026", "CN=long"}
    fp = pair.cert.fingerprint(
        __import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256()
    )
    assert any(i["fingerprint"].replace(":", "").lower() == fp.hex() for i in listed)

    exp = runner.invoke(cli, ["certs", "expiring", "--dir", str(keys), "--json"])
    assert exp.exit_code == 1
    assert [i["subject"] for i in json.loads(exp.output)] == ["CN=acme-2026"]
    assert runner.invoke(cli, ["certs", "expiring", "--dir", str(keys), "--days", "5"]).exit_code == 0


def test_expiring_function_sorts_and_labels() -> None:
    now = utcnow()
    soon = certs.self_signed("soon", days=3, now=now)
    later = certs.self_signed("later", days=20, now=now)
    fine = certs.self_signed("fine", days=90, now=now)
    hits = certs.expiring([("partner:x", later.cert), ("ours", soon.cert), ("ours", fine.cert)], now=now)
    assert [(h.source, h.subject) for h in hits] == [("ours", "CN=soon"), ("partner:x", "CN=later")]


def test_newest_valid_is_used_outbound() -> None:
    now = utcnow()
    old = certs.self_signed("old", days=30, now=now - timedelta(days=10))
    new = certs.self_signed("new", days=365, now=now)
    future = certs.self_signed("future", days=365, now=now + timedelta(days=5))  # not valid yet
    assert certs.newest_cert([old.cert, new.cert, future.cert], now) is new.cert
    assert [k.cert for k in certs.valid_keys([old, future, new], now)] == [new.cert, old.cert]


def test_list_skips_key_files(tmp_path: Path) -> None:
    pair = certs.self_signed("x")
    (tmp_path / "x.pem").write_bytes(
        pair.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    assert certs.list_dir(tmp_path) == []


def test_keypair_refuses_a_certificate_of_another_key_even_a_non_rsa_one(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ours = certs.self_signed("ACME")
    key_path = tmp_path / "acme.key"
    key_path.write_bytes(ours.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    other = certs.self_signed("OTHER")
    (tmp_path / "other.crt").write_bytes(other.cert.public_bytes(serialization.Encoding.PEM))
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EC")])
    now = utcnow()
    ec_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ec_key.public_key())
               .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
               .sign(ec_key, hashes.SHA256()))
    (tmp_path / "ec.crt").write_bytes(ec_cert.public_bytes(serialization.Encoding.PEM))
    for cert in ("other.crt", "ec.crt"):
        try:
            certs.load_keypair(key_path, tmp_path / cert)
        except ValueError as exc:
            assert "does not belong to the key" in str(exc)
        else:
            raise AssertionError(f"{cert} was accepted for a key it does not belong to")
