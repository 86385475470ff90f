"""Interop with django-pyas2 (PyPI), run on loopback as the other station, signed sync MDNs both ways:
our sender -> its receiver (gunicorn), and its sender (``manage.py sendas2message``) -> our station.

django-pyas2 is installed by ``bench/as2/djpyas2_setup.sh`` into ``bench/out/djpyas2`` (git-ignored) on
first use, about a minute; the test skips with the reason when that cannot be done (no PyPI).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor, threads

from gateway.transport.as2.certs import load_certs, load_keypair
from gateway.transport.as2.directory import As2Partner
from gateway.transport.as2.profiles import LocalIdentity, MdnOptions, PartnerProfile
from gateway.transport.as2.sender import As2Sender

from .conftest import Party
from .test_as2_station_loop import Side

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]
BASE = REPO / "bench" / "out" / "djpyas2"
SETUP = REPO / "bench" / "as2" / "djpyas2_setup.sh"
PORT = 8091


def _env() -> dict[str, str]:
    return dict(os.environ, BASE=str(BASE), PORT=str(PORT), WORKERS="2", DJAS2_SQLITE_WAL="1")


@pytest.fixture(scope="module")
def django_pyas2():
    if not (BASE / "proj" / "manage.py").exists() or not (BASE / "certs" / "server.crt").exists():
        try:
            r = subprocess.run(["bash", str(SETUP), "install"], env=_env(), capture_output=True, timeout=900)
        except subprocess.TimeoutExpired:
            pytest.skip("django-pyas2 install took over 15 minutes")
        if r.returncode:
            pytest.skip(
                f"django-pyas2 could not be installed (PyPI unreachable?): {r.stderr.decode()[-300:]}"
            )
    subprocess.run(["bash", str(SETUP), "stop"], env=_env(), capture_output=True, timeout=60)
    r = subprocess.run(["bash", str(SETUP), "start"], env=_env(), capture_output=True, timeout=120)
    if r.returncode:
        pytest.skip(f"django-pyas2 did not start: {r.stderr.decode()[-300:]}")
    try:
        yield BASE
    finally:
        subprocess.run(["bash", str(SETUP), "stop"], env=_env(), capture_output=True, timeout=60)


def _manage(*args: str, code: str | None = None) -> str:
    cmd = [str(BASE / "venv/bin/python"), "manage.py", *args] + (["-c", code] if code else [])
    r = subprocess.run(cmd, cwd=BASE / "proj", env=_env(), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return r.stdout.decode()


@pytest_twisted.ensureDeferred
async def test_our_sender_to_django_pyas2_receiver(django_pyas2: Path, tmp_path: Path) -> None:
    certs = django_pyas2 / "certs"
    me = LocalIdentity("OPENSSLCLIENT", (load_keypair(certs / "client.key", certs / "client.crt"),))
    them = PartnerProfile(
        "DJAS2SERVER",
        tuple(load_certs(certs / "server.crt")),
        sign="sha256",
        encrypt="aes_128_cbc",
        mdn=MdnOptions("sync", True),
    )
    entry = As2Partner("djas2", them, f"http://127.0.0.1:{PORT}/pyas2/as2receive", 30.0)
    side = Side(tmp_path, me, [entry])
    try:
        payload = b"ISA*00*DJANGO~" + os.urandom(8).hex().encode() + b"~IEA*1*000000001~"
        report = await As2Sender(reactor, side.station, side.store).send("djas2", payload, "to-django.x12")
        assert report.ok, report.detail
        assert report.mdn is not None and report.mdn.signed and report.mdn.mic_ok
        assert report.mdn.disposition == "processed"
        out = _manage(
            "shell",
            code=(
                "from pyas2.models import Message; m = Message.objects.get(message_id="
                f"{report.message_id!r}); print(m.status, m.payload.read().decode())"
            ),
        )
        status, _, stored = out.strip().splitlines()[-1].partition(" ")
        assert status == "S" and stored == payload.decode()
    finally:
        await side.close()


@pytest_twisted.ensureDeferred
async def test_django_pyas2_sender_to_our_station(django_pyas2: Path, tmp_path: Path, us: Party) -> None:
    certs = django_pyas2 / "certs"
    djs = PartnerProfile("DJAS2SERVER", tuple(load_certs(certs / "server.crt")))
    side = Side(tmp_path, LocalIdentity("ACMEVENDOR", (us.pair,)), [As2Partner("djas2", djs, None, 30.0)])
    port = await side.listen()
    try:
        seed = (
            "import sys\n"
            "from pyas2.models import Partner, PublicCertificate\n"
            "Partner.objects.filter(as2_name='ACMEVENDOR').delete()\n"
            "PublicCertificate.objects.filter(name='acme.crt').delete()\n"
            f"pc = PublicCertificate.objects.create(name='acme.crt', certificate=open({str(us.cert_path)!r}, 'rb')"
            ".read(), verify_cert=False)\n"
            f"Partner.objects.create(name='Acme', as2_name='ACMEVENDOR', target_url='http://127.0.0.1:{port}/as2',"
            " content_type='application/EDI-X12', encryption='aes_256_cbc', encryption_cert=pc,"
            " signature='sha384', signature_cert=pc, mdn=True, mdn_mode='SYNC', mdn_sign='sha512')\n"
        )
        await threads.deferToThread(_manage, "shell", code=seed)
        name = f"outbox/from-django-{os.urandom(4).hex()}.x12"  # django-pyas2 reads only under its MEDIA_ROOT
        edi = django_pyas2 / "data" / name
        edi.parent.mkdir(parents=True, exist_ok=True)
        edi.write_bytes(b"ISA*00*FROMDJANGO~" + os.urandom(8).hex().encode() + b"~")
        await threads.deferToThread(_manage, "sendas2message", "--delete", "DJAS2SERVER", "ACMEVENDOR", name)
        items = side.store.spool.list("in")
        assert len(items) == 1
        payload, meta = side.store.spool.get(items[0])
        assert payload.startswith(b"ISA*00*FROMDJANGO~") and meta["partner"] == "djas2"
        assert meta["extra"]["cipher"] == "aes_256_cbc" and meta["extra"]["digest"] == "sha384"
        out = await threads.deferToThread(
            _manage,
            "shell",
            code=(
                "import json; from pyas2.models import Message; m = Message.objects.filter(direction='OUT')"
                ".latest('timestamp'); print(json.dumps([m.message_id, m.status, m.detailed_status, m.mdn.status]))"
            ),
        )
        msg_id, status, detail, mdn_status = json.loads(out.strip().splitlines()[-1])
        assert status == "S", detail  # django-pyas2 verified our signed MDN and its MIC
        assert msg_id == meta["message_id"]
    finally:
        await side.close()
