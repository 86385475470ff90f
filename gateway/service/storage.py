"""The store as a service of the daemon: opened (and locked) before anything listens, closed last."""

from __future__ import annotations

from typing import Any

import structlog
from twisted.application import service

from gateway.config import GatewayConfig
from gateway.store import Store

log = structlog.get_logger(__name__)


def open_store(config: GatewayConfig) -> Store:
    """Lock and open the spool, index and audit trail named by ``paths``; raises ``StoreLocked``."""
    return Store.open(str(config.paths.spool), str(config.paths.audit), str(config.paths.index), node=config.node,
                      sync=config.store_sync)


class StoreService(service.Service):
    name = "store"

    def __init__(self, store: Store) -> None:
        self.store = store

    def stopService(self) -> Any:
        super().stopService()
        self.store.close()
        log.info("store_closed")
