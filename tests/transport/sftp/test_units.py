"""Synchronous unit tests: the jail resolver, password hashes, the login rate limiter, the host key, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from twisted.internet import task

from gateway.cli.main import cli
from gateway.transport.sftp.auth import LoginRateLimiter, hash_password, verify_password
from gateway.transport.sftp.hostkey import fingerprint, load_or_create_host_key
from gateway.transport.sftp.jail import JailViolation, resolve


@pytest.fixture
def jail(tmp_path: Path) -> str:
    root = tmp_path / "jail" / "acme"
    (root / "inbox").mkdir(parents=True)
    (tmp_path / "jail" / "acme2").mkdir()
    return os.path.realpath(root)


@pytest.mark.parametrize(
    "path",
    [b"../acme2/secret", b"/../../etc/passwd", b"inbox/../../x", b"a\x00b", b"\xff\xfe.edi",
     b"inbox/" + b"n" * 256, b"/" + b"d/" * 600, b"inbox\\..\\x", b"inbox/a\nb"],
)
def test_resolver_refuses_escapes_and_junk(jail: str, path: bytes) -> None:
    with pytest.raises(JailViolation) as info:
        resolve(jail, path)
    assert info.value.path == path


def test_resolver_maps_absolute_paths_into_the_jail_and_refuses_symlinks(jail: str) -> None:
    r = resolve(jail, b"/inbox/./x.edi")
    assert (r.virtual, r.real) == ("/inbox/x.edi", os.path.join(jail, "inbox", "x.edi"))
    assert resolve(jail, b"/etc/passwd").real == os.path.join(jail, "etc", "passwd")
    assert resolve(jail, b".").virtual == "/"
    os.symlink("/etc", os.path.join(jail, "inbox", "etc"))
    for p in (b"/inbox/etc", b"/inbox/etc/passwd"):
        with pytest.raises(JailViolation):
            resolve(jail, p)


@pytest.mark.parametrize("scheme", ["bcrypt", "scrypt"])
def test_password_hashes(scheme: str) -> None:
    stored = hash_password("s3cret", scheme)
    assert "s3cret" not in stored
    assert verify_password(b"s3cret", stored)
    assert not verify_password(b"s3cret!", stored)
    with pytest.raises(ValueError):
        verify_password(b"s3cret", "s3cret")  # a plain password is never accepted as a hash


def test_rate_limiter_blocks_per_address_within_the_window() -> None:
    clock = task.Clock()
    limiter = LoginRateLimiter(clock, limit=3, window=60)
    for _ in range(3):
        assert not limiter.blocked("10.0.0.1")
        limiter.failed("10.0.0.1")
    assert limiter.blocked("10.0.0.1")
    assert not limiter.blocked("10.0.0.2")
    clock.advance(61)
    assert not limiter.blocked("10.0.0.1")


def test_host_key_is_created_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ssh_host_ed25519_key"
    first = load_or_create_host_key(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert fingerprint(load_or_create_host_key(path)) == fingerprint(first)
    res = CliRunner().invoke(cli, ["sftp", "hostkey", "--key", str(path), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["created"] is False and info["fingerprint"] == fingerprint(first)
    openssh = subprocess.run(["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True, check=True)
    assert info["fingerprint"] in openssh.stdout


def test_conch_packet_chatter_is_dropped_and_its_warnings_kept() -> None:
    from twisted.logger import LogLevel, globalLogPublisher

    from gateway.transport.sftp.avatar import PartnerFileTransferServer

    seen: list[dict] = []
    globalLogPublisher.addObserver(seen.append)
    try:
        log = PartnerFileTransferServer._log
        log.info("dispatching: {packetType} requestId={reqId}", packetType="OPEN", reqId=b"1")
        log.debug("debug chatter")
        log.warn("Still have data in SETSTAT: {data!r}", data=b"x")
    finally:
        globalLogPublisher.removeObserver(seen.append)
    assert [e["log_level"] for e in seen] == [LogLevel.warn]


def test_an_upload_in_memory_reads_like_a_file_spills_whole_and_gives_back_its_memory(tmp_path: Path) -> None:
    from twisted.internet import reactor

    from gateway.transport.sftp import files
    from gateway.transport.sftp.avatar import PartnerUser, UserState
    from gateway.transport.sftp.config import SFTPLimits, SFTPUserConfig

    from .helpers import FolderInbox

    inbox = FolderInbox(tmp_path / "spool")
    user = PartnerUser(SFTPUserConfig(name="u", partner="p"), str(tmp_path), UserState(), inbox, SFTPLimits(),
                       reactor)
    made: list[str] = []

    def staging() -> tuple[int, str]:
        path = str(tmp_path / f"staged-{len(made)}")
        made.append(path)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640), path

    before = files.memory_held()
    up = files.UploadFile(user, "/inbox/a.edi", "a.edi", staging=staging)
    up.writeChunk(0, b"ISA*")
    up.writeChunk(10, b"GS*")  # past the end: the gap reads as zeros
    up.writeChunk(2, b"AB")  # over what is there
    assert up.readChunk(0, 100) == b"ISAB" + bytes(6) + b"GS*"
    assert up.getAttrs()["size"] == 13 and files.memory_held() == before + 13
    assert made == []
    tail = os.urandom(files.MEMORY_MAX)
    up.writeChunk(13, tail)  # past MEMORY_MAX: on in a staging file, with what was held
    assert len(made) == 1 and files.memory_held() == before
    with open(made[0], "rb") as f:
        assert f.read() == b"ISAB" + bytes(6) + b"GS*" + tail
    assert up.getAttrs()["size"] == 13 + len(tail)
    up.aborted = True
    assert up.close() is None
    assert not os.path.exists(made[0])  # an aborted upload leaves nothing
    held = files.UploadFile(user, "/inbox/b.edi", "b.edi", staging=staging)
    held.writeChunk(0, b"x" * 500)
    held.aborted = True
    assert held.close() is None and files.memory_held() == before and inbox.items == []
