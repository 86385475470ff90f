"""The spool side of :class:`gateway.transport.inbox.Inbox`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.transport.inbox import Received

if TYPE_CHECKING:
    from gateway.store.store import Store


class SpoolInbox:
    """Stores what transports receive in ``in/``, durably and audited, before they answer."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def accept(self, payload: bytes, received: Received) -> str:
        return self.store.accept(payload, received)

    def accept_file(self, path: str, received: Received) -> str:
        return self.store.accept_file(path, received)
