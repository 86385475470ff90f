"""pyas2lib imports through the project on current OpenSSL, and really builds and parses AS2."""

from __future__ import annotations

import subprocess
import sys

from gateway.service.devkeys import self_signed


def test_import_hook_makes_pyas2lib_importable_in_a_fresh_interpreter():
    code = "import gateway, pyas2lib.as2, oscrypto.asymmetric; from oscrypto._openssl import _libcrypto as l; " \
           "print(l.libcrypto_version_info)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    version = eval(out.stdout.strip())  # a tuple such as (3, 0, 19)
    assert isinstance(version, tuple) and version[0] >= 1


def test_signed_encrypted_message_round_trip():
    from pyas2lib import as2

    org_key, org_cert = self_signed("ACME")
    partner_key, partner_cert = self_signed("PARTNER")
    sender_org = as2.Organization(as2_name="ACME", sign_key=org_key + org_cert, decrypt_key=org_key + org_cert)
    payload = b"ISA*00*          *00*          *ZZ*ACME           *ZZ*PARTNER        *261127*0600*U*00401*000000001*0*P*>~"
    # ACME -> PARTNER: ACME signs with its key and encrypts to PARTNER's certificate.
    out = as2.Message(sender_org, as2.Partner(as2_name="PARTNER", encrypt_cert=partner_cert, sign=True, encrypt=True,
                                              enc_alg="aes_256_cbc", digest_alg="sha256", mdn_mode="SYNC",
                                              mdn_digest_alg="sha256"))
    out.build(payload, filename="po.edi", content_type="application/edi-x12")
    raw = b"\r\n".join(f"{k}: {v}".encode() for k, v in out.headers.items()) + b"\r\n\r\n" + out.content

    receiver_org = as2.Organization(as2_name="PARTNER", sign_key=partner_key + partner_cert, decrypt_key=partner_key + partner_cert)
    sender_as_partner = as2.Partner(as2_name="ACME", verify_cert=org_cert, sign=True, encrypt=True)
    msg = as2.Message()
    status, exc, mdn = msg.parse(raw, find_org_cb=lambda name: receiver_org,
                                 find_partner_cb=lambda name: sender_as_partner,
                                 find_message_cb=lambda mid, partner: False)
    assert status == "processed", exc
    assert msg.payload.get_payload(decode=True) == payload
    assert msg.signed and msg.encrypted
    assert msg.payload.get_filename() == "po.edi"
    assert mdn is not None and b"processed" in mdn.content.lower()
