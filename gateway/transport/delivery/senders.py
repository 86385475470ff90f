"""Senders, one per destination kind: each takes one queued item and returns an ``Outcome``.

``http``: POST with ``Content-Type``, ``Idempotency-Key`` (stable per document and destination),
``X-Acorn-Signature: sha256=<hex HMAC-SHA256 of the body>`` with the destination's secret, and a timeout.
``folder``: an atomic, durable write named by the document id (a repeat overwrites the same file).
Transports that send to partners (AS2, SFTP) register their own kinds with ``register``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from twisted.internet import defer, threads
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers

from gateway.config import Destination
from gateway.store.fsio import fsync_dir
from gateway.transport.delivery.policy import Outcome, http_outcome


@dataclass(frozen=True, slots=True)
class Parcel:
    """What a sender gets: the payload and the facts it needs about it."""

    item_id: str
    payload: bytes
    destination: str
    idempotency_key: str
    partner: str | None
    document: str | None
    doc_id: str | None
    content_type: str
    filename: str | None = None


Sender = Callable[[Parcel], Awaitable[Outcome]]
KEEP_ALIVE = 4  # idle connections kept per host: the delivery service's default concurrency


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def read_secret(path: Any) -> bytes:
    with open(path, "rb") as fh:
        return fh.read().strip()


class HTTPSender:
    def __init__(self, reactor: Any, dest: Destination, pool: HTTPConnectionPool | None = None) -> None:
        self.reactor = reactor
        self.dest = dest
        self.secret = read_secret(dest.secret_file) if dest.secret_file else None
        if pool is None:
            pool = HTTPConnectionPool(reactor, persistent=True)
            pool.maxPersistentPerHost = KEEP_ALIVE  # as many as the delivery service runs at once
        self.agent = Agent(reactor, pool=pool)

    async def __call__(self, parcel: Parcel) -> Outcome:
        headers = Headers({
            b"content-type": [parcel.content_type.encode()],
            b"idempotency-key": [parcel.idempotency_key.encode()],
            b"user-agent": [b"acorn-gateway"],
        })
        for name, value in (("x-acorn-partner", parcel.partner), ("x-acorn-document", parcel.document),
                            ("x-acorn-document-id", parcel.doc_id)):
            if value:
                headers.addRawHeader(name.encode(), value.encode())
        if self.secret is not None:
            headers.addRawHeader(b"x-acorn-signature", signature(self.secret, parcel.payload).encode())
        assert self.dest.url is not None
        d = self.agent.request(b"POST", self.dest.url.encode(), headers, FileBodyProducer(BytesIO(parcel.payload)))  # type: ignore[arg-type]  # FileBodyProducer implements IBodyProducer (zope)
        d.addTimeout(self.dest.timeout, self.reactor)
        try:
            response = await d
            body = await readBody(response).addTimeout(self.dest.timeout, self.reactor)
        except defer.TimeoutError:
            return Outcome(False, retry=True, detail=f"no answer within {self.dest.timeout:g}s")
        except Exception as exc:  # connection refused, reset, DNS: all retried
            return Outcome(False, retry=True, detail=f"{type(exc).__name__}: {exc}")
        return http_outcome(response.code, body)


class FolderSender:
    def __init__(self, reactor: Any, dest: Destination) -> None:
        self.dest = dest

    def _write(self, parcel: Parcel) -> None:
        assert self.dest.path is not None
        os.makedirs(self.dest.path, exist_ok=True)
        name = (parcel.doc_id or parcel.item_id) + (".json" if parcel.content_type == "application/json" else "")
        final = os.path.join(self.dest.path, parcel.filename or name)
        tmp = os.path.join(self.dest.path, f".tmp-{parcel.item_id}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, parcel.payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        fsync_dir(str(self.dest.path))

    async def __call__(self, parcel: Parcel) -> Outcome:
        try:
            await threads.deferToThread(self._write, parcel)
        except OSError as exc:
            return Outcome(False, retry=True, detail=f"cannot write to {self.dest.path}: {exc.strerror}")
        return Outcome(True)


SenderFactory = Callable[[Any, Destination], Sender]
_FACTORIES: dict[str, SenderFactory] = {"http": HTTPSender, "folder": FolderSender}


def register(kind: str, factory: SenderFactory) -> None:
    _FACTORIES[kind] = factory


def build(reactor: Any, dest: Destination) -> Sender | None:
    factory = _FACTORIES.get(dest.kind)
    return factory(reactor, dest) if factory else None
