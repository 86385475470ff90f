"""The gateway's memory: the durable spool, the SQLite index and the hash-chained audit trail.

Open everything with :meth:`Store.open`; see the modules for the details of each part.
"""

from gateway.store.audit import AuditLog
from gateway.store.auditcheck import VerifyResult, verify
from gateway.store.controlnumbers import ControlNumbers
from gateway.store.fsio import DiskFull
from gateway.store.inbox import SpoolInbox
from gateway.store.index import LIFECYCLE, Index
from gateway.store.lock import StoreLocked
from gateway.store.spool import ItemNotFound, Spool, SpoolItem
from gateway.store.store import Store

__all__ = [
    "LIFECYCLE",
    "AuditLog",
    "ControlNumbers",
    "DiskFull",
    "Index",
    "ItemNotFound",
    "Spool",
    "SpoolInbox",
    "SpoolItem",
    "Store",
    "StoreLocked",
    "VerifyResult",
    "verify",
]
