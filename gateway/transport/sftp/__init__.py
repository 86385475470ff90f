"""SFTP transport: the partner-facing server (``SFTPService``), the outbox the gateway fills
(``SFTPOutbox``) and the client that polls partners' servers (``SFTPPoller``)."""

from gateway.transport.sftp.config import InboxDoneMode, SFTPLimits, SFTPRemoteConfig, SFTPUserConfig
from gateway.transport.sftp.outbox import SFTPOutbox
from gateway.transport.sftp.service import SFTPService

__all__ = [
    "InboxDoneMode",
    "SFTPLimits",
    "SFTPOutbox",
    "SFTPRemoteConfig",
    "SFTPService",
    "SFTPUserConfig",
]
