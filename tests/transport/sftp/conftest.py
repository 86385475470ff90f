from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import pytest_twisted

from gateway.transport.sftp import InboxDoneMode, SFTPLimits, SFTPOutbox, SFTPService, SFTPUserConfig
from gateway.transport.sftp.hostkey import load_or_create_host_key, public_line

from .helpers import FolderInbox, make_key

PASSWORD = "correct horse battery"


@dataclass
class Keys:
    dir: Path
    acme_ed25519: Path
    acme_ecdsa: Path
    acme_rsa: Path
    globex: Path
    stranger: Path


@pytest.fixture(scope="session")
def user_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("userkeys")
    return Keys(
        d,
        make_key(d, "acme_ed25519"),
        make_key(d, "acme_ecdsa", "ecdsa"),
        make_key(d, "acme_rsa", "rsa"),
        make_key(d, "globex"),
        make_key(d, "stranger"),
    )


@dataclass
class Server:
    service: SFTPService
    port: int
    jail: Path
    spool: FolderInbox
    outbox: SFTPOutbox
    known_hosts: Path
    host_key_line: str
    work: Path


def make_users(keys: Keys) -> list[SFTPUserConfig]:
    cheap_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    return [
        SFTPUserConfig(
            name="acme",
            partner="acme",
            authorized_keys=(
                str(keys.acme_ed25519) + ".pub",
                str(keys.acme_ecdsa) + ".pub",
                str(keys.acme_rsa) + ".pub",
            ),
            password_hash=cheap_hash,
        ),
        SFTPUserConfig(
            name="globex",
            partner="globex",
            authorized_keys=((Path(str(keys.globex) + ".pub")).read_text(),),
            delete_after_download=False,
            inbox_done_mode=InboxDoneMode.KEEP,
        ),
    ]


async def start_server(tmp_path: Path, users: list[SFTPUserConfig], limits: SFTPLimits | None = None) -> Server:
    from twisted.internet import reactor

    jail = tmp_path / "jail"
    spool = FolderInbox(tmp_path / "spool")
    host_key = tmp_path / "state" / "ssh_host_ed25519_key"
    svc = SFTPService(reactor, "tcp:0:interface=127.0.0.1", users, str(jail), str(host_key), spool, limits)
    await svc.startService()
    port = svc.port.getHost().port
    line = public_line(load_or_create_host_key(host_key))
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {line}\n")
    work = tmp_path / "work"
    work.mkdir()
    return Server(svc, port, jail, spool, SFTPOutbox(str(jail)), known, line, work)


@pytest_twisted.async_yield_fixture
async def server(tmp_path: Path, user_keys: Keys):
    srv = await start_server(tmp_path, make_users(user_keys))
    yield srv
    await srv.service.stopService()
