"""SFTPPoller (conch client) against our own server and against OpenSSH's sshd."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import task

from gateway.transport.inbox import Received
from gateway.transport.sftp.config import SFTPRemoteConfig
from gateway.transport.sftp.poller import SFTPPoller

from .conftest import Keys, Server
from .helpers import FolderInbox, find_sshd, make_key, start_sshd

pytestmark = pytest.mark.integration


def make_poller(tmp_path: Path, remote: SFTPRemoteConfig, inbox=None) -> tuple[SFTPPoller, FolderInbox, task.Clock]:  # type: ignore[no-untyped-def]
    from twisted.internet import reactor

    local = FolderInbox(tmp_path / "client-spool")
    clock = task.Clock()
    poller = SFTPPoller(
        reactor, clock, remote, inbox or local, str(tmp_path / "client-spool-staging"), str(tmp_path / "outgoing")
    )
    return poller, local, clock


def remote_for(server: Server, keys: Keys, **kw) -> SFTPRemoteConfig:  # type: ignore[no-untyped-def]
    args = dict(
        partner="acme", host="127.0.0.1", port=server.port, user="acme", key_path=str(keys.acme_ed25519),
        known_host_key=server.host_key_line, inbound_dir="/outbox", outbound_dir="/inbox", poll_interval_s=30,
    )
    args.update(kw)
    return SFTPRemoteConfig(**args)


@pytest_twisted.ensureDeferred
async def test_poll_downloads_deletes_after_durable_and_uploads_then_renames(
    server: Server, user_keys: Keys, tmp_path: Path
) -> None:
    server.outbox.put("acme", "a.edi", b"A" * 100_000)
    server.outbox.put("acme", "b.edi", b"B")
    poller, local, clock = make_poller(tmp_path, remote_for(server, user_keys))
    poller.startService()
    try:
        poller.queue("ship-1.856", b"856 payload")
        assert poller._running is not None  # the first poll starts at once
        first = await poller._running
        assert first.errors == []
        assert local.payloads() == {"a.edi": b"A" * 100_000, "b.edi": b"B"}
        assert list((server.jail / "acme" / "outbox").iterdir()) == []  # deleted remotely after durable
        assert server.spool.payloads() == {"ship-1.856": b"856 payload"}  # uploaded .part, then renamed
        assert list((tmp_path / "outgoing").iterdir()) == []
        # the next poll comes from the injected clock
        server.outbox.put("acme", "c.edi", b"C")
        clock.advance(29)
        assert poller._running is None
        clock.advance(1)
        assert poller._running is not None
        second = await poller._running
        assert len(second.downloaded) == 1 and local.payloads()["c.edi"] == b"C"
    finally:
        await poller.stopService()


class RefusingInbox(FolderInbox):
    def accept_file(self, path: str, received: Received) -> str:
        raise OSError(28, "No space left on device")


@pytest_twisted.ensureDeferred
async def test_remote_file_stays_when_the_spool_refuses_it(server: Server, user_keys: Keys, tmp_path: Path) -> None:
    server.outbox.put("globex", "a.edi", b"A")  # globex: the server keeps downloaded files
    remote = remote_for(server, user_keys, user="globex", key_path=str(user_keys.globex))
    poller, _local, _clock = make_poller(tmp_path, remote, RefusingInbox(tmp_path / "x"))
    result = await poller.poll()
    assert result.downloaded == [] and "No space left" in result.errors[0]
    assert (server.jail / "globex" / "outbox" / "a.edi").read_bytes() == b"A"
    assert list((tmp_path / "client-spool-staging").iterdir()) == []


@pytest_twisted.ensureDeferred
async def test_unknown_host_key_is_refused_with_a_clear_error(server: Server, user_keys: Keys, tmp_path: Path) -> None:
    server.outbox.put("acme", "a.edi", b"A")
    other = Path(str(make_key(tmp_path, "impostor")) + ".pub").read_text()
    poller, local, _clock = make_poller(tmp_path, remote_for(server, user_keys, known_host_key=other))
    result = await poller.poll()
    assert result.downloaded == []
    assert "does not match the pinned key" in result.errors[0]
    assert local.items == []
    assert (server.jail / "acme" / "outbox" / "a.edi").exists()


@pytest_twisted.ensureDeferred
async def test_wrong_user_key_fails_cleanly(server: Server, user_keys: Keys, tmp_path: Path) -> None:
    poller, _local, _clock = make_poller(tmp_path, remote_for(server, user_keys, key_path=str(user_keys.stranger)))
    result = await poller.poll()
    assert result.errors and result.downloaded == []


SSHD, WHY_NOT = find_sshd()


@pytest.mark.skipif(SSHD is None, reason=WHY_NOT)
@pytest_twisted.ensureDeferred
async def test_poller_against_openssh_sshd(user_keys: Keys, tmp_path: Path) -> None:
    assert SSHD is not None
    sshd_dir = tmp_path / "sshd"
    sshd_dir.mkdir()
    proc, port, host_line = start_sshd(SSHD, sshd_dir, user_keys.acme_ed25519)
    try:
        remote_out, remote_in = tmp_path / "remote-out", tmp_path / "remote-in"
        remote_out.mkdir()
        remote_in.mkdir()
        (remote_out / "po1.edi").write_bytes(b"PO1" * 20_000)
        (remote_out / "po2.edi").write_bytes(b"PO2")
        (remote_out / "half.edi.part").write_bytes(b"in progress")  # a temp name is left alone
        remote = SFTPRemoteConfig(
            partner="acme", host="127.0.0.1", port=port, user=getpass.getuser(),
            key_path=str(user_keys.acme_ed25519), known_host_key=host_line,
            inbound_dir=str(remote_out), outbound_dir=str(remote_in), after_download="rename",
        )
        poller, local, _clock = make_poller(tmp_path, remote)
        poller.queue("inv-1.810", b"810 payload")
        result = await poller.poll()
        assert result.errors == []
        assert local.payloads() == {"po1.edi": b"PO1" * 20_000, "po2.edi": b"PO2"}
        assert sorted(p.name for p in remote_out.iterdir()) == [".done", "half.edi.part"]
        assert sorted(p.name for p in (remote_out / ".done").iterdir()) == ["po1.edi", "po2.edi"]
        assert [p.name for p in remote_in.iterdir()] == ["inv-1.810"]
        assert (remote_in / "inv-1.810").read_bytes() == b"810 payload"
        # sshd's real host key is not the one we pinned: refused
        bad = make_poller(tmp_path / "b", SFTPRemoteConfig(
            partner="acme", host="127.0.0.1", port=port, user=getpass.getuser(),
            key_path=str(user_keys.acme_ed25519), known_host_key=Path(str(user_keys.globex) + ".pub").read_text(),
            inbound_dir=str(remote_out), outbound_dir=str(remote_in),
        ))[0]
        (remote_out / "po3.edi").write_bytes(b"PO3")
        refused = await bad.poll()
        assert "does not match the pinned key" in refused.errors[0]
        assert (remote_out / "po3.edi").exists()
    finally:
        proc.terminate()
        proc.wait(10)
