"""The spool side of :class:`gateway.transport.inbox.Inbox`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.transport.inbox import Received

if TYPE_CHECKING:
    from gateway.store.store import Store


class SpoolInbox:
    """Stores what transports receive in ``in/``, durably and audited, before they answer. The index
    row of each arrival is written just after, off the answer path (``Store.message_received`` knows
    the arrival meanwhile)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def accept(self, payload: bytes, received: Received) -> str:
        return self.store.accept(payload, received, index_later=True)

    def accept_file(self, path: str, received: Received) -> str:
        return self.store.accept_file(path, received, index_later=True)
