"""The one call every inbound transport makes: hand received bytes to the gateway.

Transports (AS2, SFTP, HTTP API, watched folders) depend only on this protocol. The daemon wires it to
the durable spool (``gateway.store``). ``accept`` returns only once the item is durable on disk, so a
transport may acknowledge the partner (MDN, SFTP close OK, HTTP 2xx) as soon as it returns; it raises
on any failure, and then the transport must answer with an error.

``accept`` blocks (fsync) and may be called from any thread but the reactor's. Protocol code on the
reactor uses ``submit``/``submit_file`` of an :class:`AsyncInbox` instead and waits on the future
(``gateway.transport.futures.when_done`` turns it into a Deferred). This module stays free of Twisted:
the store imports it.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Received:
    partner: str  # partner id from partners/*.yaml
    transport: str  # "as2", "sftp", "http", "folder"
    message_id: str | None = None  # AS2 Message-ID, SFTP path, HTTP idempotency key
    filename: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # MIC, AS2 headers, remote address, ...


class Inbox(Protocol):
    def accept(self, payload: bytes, received: Received) -> str:
        """Store ``payload`` durably; return the spool item id."""
        ...

    def accept_file(self, path: str, received: Received) -> str:
        """Store the file at ``path`` (complete, written by the transport on the spool's filesystem,
        not necessarily synced) by moving it into the spool; return the spool item id once the
        file's data, its meta and the move are durable. The inbox syncs the file itself: the spool
        does it in the round it shares with concurrent arrivals, so transports must not fsync
        first (that would be one more device flush per file, outside the shared round)."""
        ...


class AsyncInbox(Inbox, Protocol):
    def submit(self, payload: bytes, received: Received, stage_now: bool = False) -> Future[str]:
        """Queue ``payload`` to be stored; the future resolves to the spool item id once it is
        durable, or to the error that kept it out. Never blocks; ``stage_now`` as for
        :meth:`submit_file`."""
        ...

    def submit_file(self, path: str, received: Received, stage_now: bool = False) -> Future[str]:
        """:meth:`submit` for the file at ``path`` (see :meth:`Inbox.accept_file`). ``stage_now`` asks
        for the item to be written in the calling thread and only its durability round queued: for a
        small file and a caller with time to spare; it still never waits for a lock."""
        ...

