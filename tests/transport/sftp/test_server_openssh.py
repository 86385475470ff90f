"""The SFTP server against the real OpenSSH ``sftp``/``ssh`` clients on loopback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import pytest_twisted
import structlog
from twisted.internet import threads

from gateway.transport.sftp import SFTPLimits

from .conftest import PASSWORD, Keys, Server, make_users, start_server
from .helpers import sftp_batch, sftp_password

pytestmark = pytest.mark.integration

PO_850 = (
    "ISA*00*          *00*          *ZZ*AMAZON         *ZZ*ACMEVENDOR     *261127*1200*U*00401*000000001*0*P*>~"
    "GS*PO*AMAZON*ACMEVENDOR*20261127*1200*1*X*004010~ST*850*0001~BEG*00*SA*PO123**20261127~"
    "PO1*1*10*EA*9.99**UP*012345678905~CTT*1~SE*5*0001~GE*1*1~IEA*1*000000001~"
)


def run(srv: Server, user: str, key: Path | None, commands: str, **kw):  # type: ignore[no-untyped-def]
    return threads.deferToThread(sftp_batch, srv.port, user, key, srv.known_hosts, commands, srv.work, **kw)


def jail_files(srv: Server) -> set[str]:
    out = set()
    for dirpath, _dirs, files in os.walk(srv.jail):
        for f in files:
            out.add(os.path.relpath(os.path.join(dirpath, f), srv.jail))
    return out


@pytest_twisted.ensureDeferred
async def test_upload_850_with_each_key_type_reaches_the_spool(server: Server, user_keys: Keys) -> None:
    (server.work / "po.edi").write_text(PO_850)
    for key in (user_keys.acme_ed25519, user_keys.acme_ecdsa, user_keys.acme_rsa):
        res = await run(server, "acme", key, f"put po.edi /inbox/{key.name}.edi\nls -l /inbox\n")
        assert res.returncode == 0, res.stderr
    stored = server.spool.payloads()
    assert set(stored) == {"acme_ed25519.edi", "acme_ecdsa.edi", "acme_rsa.edi"}
    assert all(v == PO_850.encode() for v in stored.values())
    assert {r.partner for _id, r in server.spool.items} == {"acme"}
    assert {r.transport for _id, r in server.spool.items} == {"sftp"}
    # the uploads left the jail (inbox_done_mode=delete) and no staging file remains
    assert jail_files(server) == set()


@pytest_twisted.ensureDeferred
async def test_upload_to_temp_name_is_taken_on_rename_and_done_copy_kept(server: Server, user_keys: Keys) -> None:
    (server.work / "po.edi").write_text(PO_850)
    cmds = "put po.edi /inbox/po.edi.part\nrename /inbox/po.edi.part /inbox/po.edi\n"
    res = await run(server, "globex", user_keys.globex, cmds)
    assert res.returncode == 0, res.stderr
    assert server.spool.payloads() == {"po.edi": PO_850.encode()}
    # globex keeps a copy in inbox/.done/, and a second upload of the same name replaces it
    assert jail_files(server) == {"globex/inbox/.done/po.edi"}


@pytest_twisted.ensureDeferred
async def test_download_of_queued_997_deletes_it_when_configured(server: Server, user_keys: Keys) -> None:
    ack = b"ISA*00*...~ST*997*0001~AK1*PO*1~AK9*A*1*1*1~SE*4*0001~IEA*1*000000001~"
    server.outbox.put("acme", "ack-1.997", ack)
    server.outbox.put("globex", "ack-2.997", ack)
    res = await run(server, "acme", user_keys.acme_ed25519, "ls /outbox\nget /outbox/ack-1.997 a.997\n")
    assert res.returncode == 0, res.stderr
    assert "ack-1.997" in res.stdout
    assert (server.work / "a.997").read_bytes() == ack
    res = await run(server, "globex", user_keys.globex, "get /outbox/ack-2.997 g.997\n")
    assert res.returncode == 0, res.stderr
    assert (server.work / "g.997").read_bytes() == ack
    # acme: delete_after_download; globex: kept
    assert jail_files(server) == {"globex/outbox/ack-2.997"}
    with pytest.raises(FileExistsError):
        server.outbox.put("globex", "ack-2.997", b"again")


@pytest_twisted.ensureDeferred
async def test_every_path_escape_trick_fails_and_is_logged(server: Server, user_keys: Keys, tmp_path: Path) -> None:
    secret = server.jail / "globex" / "outbox" / "secret.txt"
    secret.write_text("globex only")
    (server.jail / "acme" / "outbox" / "passwd").symlink_to("/etc/passwd")
    (server.jail / "acme" / "outbox" / "other").symlink_to(server.jail / "globex" / "outbox")
    (server.work / "x.edi").write_text(PO_850)
    long_name = "n" * 300
    tricks = [
        "get /etc/passwd",
        "get ../globex/outbox/secret.txt",
        "get /../../etc/hostname",
        "get /outbox/passwd",
        "get /outbox/other/secret.txt",
        "ls /outbox/other",
        "put x.edi ../globex/inbox/planted.edi",
        "put x.edi /../../planted.edi",
        "put x.edi /outbox/planted.edi",
        "put x.edi /planted.edi",
        f"put x.edi /inbox/{long_name}",
        "put x.edi /outbox/other/planted.edi",
        "symlink /etc/passwd /inbox/link.edi",
        "ln /etc/passwd /inbox/hard.edi",
        "mkdir /inbox/sub",
        "rename /outbox/passwd /inbox/p.edi",
        "get /inbox/.incoming/anything",
        "rm /outbox/passwd",
    ]
    before = {p for p in tmp_path.rglob("*") if "spool" not in p.parts}
    with structlog.testing.capture_logs() as logs:
        res = await run(server, "acme", user_keys.acme_ed25519, "".join(f"-{t}\n" for t in tricks))
    assert res.returncode == 0, res.stderr  # '-' lets the batch go on after each refusal
    for name in ("passwd", "secret.txt", "hostname", "planted.edi"):
        assert not (server.work / name).exists()
    after = {p for p in tmp_path.rglob("*") if "spool" not in p.parts}
    assert after == before  # nothing was created anywhere, inside or outside the jail
    assert secret.read_text() == "globex only"
    assert server.spool.items == []
    escapes = [e for e in logs if e["event"] == "sftp_path_escape_attempt"]
    assert escapes and all(e["user"] == "acme" and e["partner"] == "acme" for e in escapes)
    logged_paths = " ".join(e["path"] for e in escapes)
    assert "/../../etc/hostname" in logged_paths and "passwd" in logged_paths
    assert any(e["event"] == "sftp_operation_denied" for e in logs)


@pytest_twisted.ensureDeferred
async def test_a_partner_cannot_see_or_touch_another_partners_files(server: Server, user_keys: Keys) -> None:
    server.outbox.put("acme", "acme-only.997", b"acme data")
    res = await run(server, "globex", user_keys.globex, "ls -la /\nls -la /outbox\n-get /acme/outbox/acme-only.997\n")
    assert res.returncode == 0, res.stderr
    listing = [line for line in res.stdout.splitlines() if not line.startswith("sftp>")]
    assert listing and not any("acme" in line for line in listing)
    assert not (server.work / "acme-only.997").exists()
    # and globex's key does not open acme's account
    res = await run(server, "acme", user_keys.globex, "ls /outbox\n")
    assert res.returncode != 0
    assert "Permission denied" in res.stderr
    assert (server.jail / "acme" / "outbox" / "acme-only.997").read_bytes() == b"acme data"


@pytest_twisted.ensureDeferred
async def test_wrong_key_or_password_is_refused(server: Server, user_keys: Keys) -> None:
    res = await run(server, "acme", user_keys.stranger, "ls /\n")
    assert res.returncode != 0 and "Permission denied" in res.stderr
    res = await run(server, "nobody", user_keys.stranger, "ls /\n")
    assert res.returncode != 0 and "Permission denied" in res.stderr
    args = (server.port, "acme")
    good = await threads.deferToThread(sftp_password, *args, PASSWORD, server.known_hosts, "ls /\n", server.work)
    assert good.returncode == 0, good.stderr
    assert "inbox" in good.stdout
    bad = await threads.deferToThread(sftp_password, *args, "wrong", server.known_hosts, "ls /\n", server.work)
    assert bad.returncode != 0 and "Permission denied" in bad.stderr
    # globex has no password hash: password login is refused even with an empty password
    nopw = await threads.deferToThread(
        sftp_password, server.port, "globex", "", server.known_hosts, "ls /\n", server.work
    )
    assert nopw.returncode != 0


@pytest_twisted.ensureDeferred
async def test_no_shell_no_exec_no_forwarding(server: Server, user_keys: Keys) -> None:
    base = ["ssh", "-F", "/dev/null", "-p", str(server.port), "-i", str(user_keys.acme_ed25519)]
    base += ["-o", f"UserKnownHostsFile={server.known_hosts}", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
    for extra in (["acme@127.0.0.1", "id"], ["-T", "acme@127.0.0.1"], ["-W", f"127.0.0.1:{server.port}", "acme@127.0.0.1"]):
        res = await threads.deferToThread(
            subprocess.run, base + extra, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
        )
        assert res.returncode != 0, (extra, res.stdout)
        assert "uid=" not in res.stdout


@pytest_twisted.ensureDeferred
async def test_limits_upload_size_sessions_and_failed_logins(tmp_path: Path, user_keys: Keys) -> None:
    limits = SFTPLimits(max_upload_bytes=10_000, max_sessions_per_user=1, failed_logins_per_window=2)
    srv = await start_server(tmp_path, make_users(user_keys), limits)
    try:
        (srv.work / "big.edi").write_bytes(b"x" * 50_000)
        (srv.work / "small.edi").write_bytes(b"y" * 5_000)
        res = await run(srv, "acme", user_keys.acme_ed25519, "-put big.edi /inbox/big.edi\nput small.edi /inbox/s.edi\n")
        assert res.returncode == 0, res.stderr
        assert set(srv.spool.payloads()) == {"s.edi"}
        assert jail_files(srv) == set()  # the oversize upload was discarded
        # one session at a time: hold one open, the second is refused
        holder = subprocess.Popen(
            ["sftp", "-b", "-", "-F", "/dev/null", "-P", str(srv.port), "-i", str(user_keys.acme_ed25519),
             "-o", f"UserKnownHostsFile={srv.known_hosts}", "-o", "IdentitiesOnly=yes", "acme@127.0.0.1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert holder.stdin is not None and holder.stdout is not None
            holder.stdin.write("pwd\n")
            holder.stdin.flush()
            line = await threads.deferToThread(holder.stdout.readline)
            assert "Remote working directory" in line or "sftp>" in line
            second = await run(srv, "acme", user_keys.acme_ed25519, "ls /\n")
            assert second.returncode != 0
        finally:
            holder.stdin.close()
            await threads.deferToThread(holder.wait, 10)
        # two failed logins from 127.0.0.1 block even the right key for the window
        for _ in range(2):
            assert (await run(srv, "acme", user_keys.stranger, "ls /\n")).returncode != 0
        blocked = await run(srv, "acme", user_keys.acme_ed25519, "ls /\n")
        assert blocked.returncode != 0
        assert "too many failed logins" in blocked.stderr
    finally:
        await srv.service.stopService()


@pytest_twisted.ensureDeferred
async def test_small_uploads_are_held_in_memory_large_ones_go_through_a_staging_file(
    server: Server, user_keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small uploads never touch the jail; one past MEMORY_MAX, and one that would pass the shared
    budget, go on in a staging file. Every one arrives whole, and nothing stays held or staged."""
    from gateway.transport.sftp import files

    small, big = os.urandom(3_000), os.urandom(files.MEMORY_MAX + 70_000)
    (server.work / "small.edi").write_bytes(small)
    (server.work / "big.edi").write_bytes(big)
    staged: list[str] = []
    real_spill = files.UploadFile._spill

    def spill(self: files.UploadFile) -> None:
        real_spill(self)
        staged.append(self.real)

    monkeypatch.setattr(files.UploadFile, "_spill", spill)
    res = await run(server, "acme", user_keys.acme_ed25519, "put small.edi /inbox/s.edi\nput big.edi /inbox/b.edi\n")
    assert res.returncode == 0, res.stderr
    assert len(staged) == 1 and "/inbox/.incoming/" in staged[0]  # the big one only
    monkeypatch.setattr(files, "MEMORY_BUDGET", 1_000)  # now even a small one does not fit
    res = await run(server, "acme", user_keys.acme_ed25519, "put small.edi /inbox/s2.edi\n")
    assert res.returncode == 0, res.stderr
    assert len(staged) == 2
    assert server.spool.payloads() == {"s.edi": small, "b.edi": big, "s2.edi": small}
    assert files.memory_held() == 0
    assert jail_files(server) == set()
