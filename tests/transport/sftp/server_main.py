"""Run an SFTPService over a real store in this process (for the crash test and the benchmark).

usage: python server_main.py SPOOL_DIR JAIL_DIR HOST_KEY AUTHORIZED_KEY_FILE PORT_FILE [USERS [INBOX]]
Writes the listening port to PORT_FILE once it listens; USERS (default 1) users named u0, u1, ...
share the key. INBOX is "store" (default: gateway.store) or "folder" (the tests' fsyncing FolderInbox).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import structlog
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from gateway.pipeline.service import REACTOR_TURN
from gateway.store.inbox import SpoolInbox
from gateway.store.store import Store
from gateway.transport.sftp import SFTPLimits, SFTPService, SFTPUserConfig


def main(argv: list[str]) -> None:
    structlog.configure(
        processors=[structlog.processors.TimeStamper(fmt="iso"), structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    spool, jail, host_key, pubkey, port_file = argv[:5]
    n_users = int(argv[5]) if len(argv) > 5 else 1
    if len(argv) > 6 and argv[6] == "folder":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from helpers import FolderInbox

        inbox: Any = FolderInbox(Path(spool) / "in")
    else:
        store = Store.open(spool, os.path.join(spool, "audit"), os.path.join(spool, "index.sqlite"))
        inbox = SpoolInbox(store)
    users = [SFTPUserConfig(name=f"u{i}", partner=f"p{i}", authorized_keys=(pubkey,)) for i in range(n_users)]
    limits = SFTPLimits(max_sessions_per_user=64)
    svc = SFTPService(reactor, "tcp:0:interface=127.0.0.1", users, jail, host_key, inbox, limits)

    def started(_: object) -> None:
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(svc.port.getHost().port))
        os.rename(tmp, port_file)

    d: Deferred[None] = svc.startService()
    d.addCallback(started)
    d.addErrback(lambda f: (print(f.getTraceback(), file=sys.stderr), reactor.stop()))
    reactor.suggestThreadPoolSize(8)
    sys.setswitchinterval(REACTOR_TURN)  # as gatewayd runs
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
