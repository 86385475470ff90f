"""The spool side of :class:`gateway.transport.inbox.Inbox`."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

from gateway.transport.inbox import Received

if TYPE_CHECKING:
    from gateway.store.store import Store


class SpoolInbox:
    """Stores what transports receive in ``in/``, durably and audited, before they answer. Arrivals are
    written in batches by the store's intake thread (:mod:`gateway.store.intake`); the index row of each
    is written just after, off the answer path (``Store.message_received`` knows the arrival
    meanwhile)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def accept(self, payload: bytes, received: Received) -> str:
        return self.submit(payload, received).result()

    def accept_file(self, path: str, received: Received) -> str:
        return self.submit_file(path, received).result()

    def submit(self, payload: bytes, received: Received) -> Future[str]:
        return self.store.intake.submit(payload, None, received)

    def submit_file(self, path: str, received: Received) -> Future[str]:
        return self.store.intake.submit(None, path, received)
