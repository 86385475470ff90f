"""HTTP listeners that cap request bodies and stop gracefully.

Shared by the ERP API and the AS2 endpoint:

- ``CappedRequest`` refuses a body over the site's ``body_max`` with 413, from the declared
  Content-Length before reading it, or as soon as a chunked body passes the cap.
- ``DrainingSite`` tracks its connections and in-flight requests.
- ``HTTPListenerService`` listens on a Twisted endpoint string and, on stop: stops listening, waits for
  in-flight requests up to the drain timeout, then closes each connection politely and waits for it
  to go, so the last responses are not thrown away by the reactor's shutdown.
"""

from __future__ import annotations

from typing import Any

import structlog
from twisted.application import service
from twisted.internet import defer, task
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.web import http, resource, server

log = structlog.get_logger(__name__)

_413 = (b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Type: text/plain\r\n"
        b"Content-Length: %d\r\n\r\n%s")


class CappedRequest(server.Request):
    site: DrainingSite
    channel: TrackingChannel

    def gotLength(self, length: int | None) -> None:
        inflight = self.channel.site.inflight
        inflight.add(self)
        self.notifyFinish().addBoth(lambda _: inflight.discard(self))
        self._received = 0
        limit = self.channel.site.body_max
        if length is not None and length > limit:
            self._refuse(length, limit)
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        self._received += len(data)
        limit = self.channel.site.body_max
        if self._received > limit:
            self._refuse(self._received, limit)
            return
        super().handleContentChunk(data)

    def _refuse(self, size: int, limit: int) -> None:
        body = f"request body of {size} bytes is over the limit of {limit} bytes\n".encode()
        log.warning("http_body_too_large", size=size, limit=limit, path=self.path.decode("latin-1") if self.path
                    else None, peer=str(self.channel.transport.getPeer()))  # type: ignore[misc,union-attr]  # zope interface; transport is set while connected
        self.channel.site.inflight.discard(self)
        self.channel.transport.write(_413 % (len(body), body))  # type: ignore[union-attr, call-arg, misc]  # zope interface; transport is set while connected
        self.channel.transport.loseConnection()  # type: ignore[misc,union-attr]  # zope interface; transport is set while connected


class TrackingChannel(http.HTTPChannel):
    site: DrainingSite

    def connectionMade(self) -> None:
        super().connectionMade()
        self.factory.channels.add(self)

    def connectionLost(self, reason: Any) -> None:  # type: ignore[override]  # Twisted always passes the reason
        self.factory.channels.discard(self)
        waiters, self.factory.gone_waiters = self.factory.gone_waiters, []
        super().connectionLost(reason)
        for d in waiters:
            d.callback(None)


class DrainingSite(server.Site):
    protocol = TrackingChannel  # type: ignore[assignment]  # Twisted types protocol as a zero-argument factory
    requestFactory = CappedRequest
    displayTracebacks = False
    noisy = False

    def __init__(self, root: resource.Resource, body_max: int, **kw: Any) -> None:
        # No endpoint takes HTML form posts (AS2 bodies are MIME, the API's are JSON). Twisted would
        # otherwise parse every POST's Content-Type through the email package first: in an AS2 load
        # test that was a sixth of the reactor thread's time.
        kw["parsePOSTFormSubmission"] = False
        super().__init__(root, **kw)
        self.body_max = body_max
        self.channels: set[TrackingChannel] = set()
        self.inflight: set[server.Request] = set()
        self.gone_waiters: list[defer.Deferred[None]] = []

    def log(self, request: http.Request) -> None:  # access log: one structured line per request
        log.debug("http_request", method=request.method.decode("latin-1"), path=request.uri.decode("latin-1"),
                  code=request.code, peer=getattr(request.getClientAddress(), "host", None))


class HTTPListenerService(service.Service):
    def __init__(self, name: str, reactor: Any, endpoint: str, site: DrainingSite, drain_timeout: float) -> None:
        self.name = name
        self.reactor = reactor
        self.endpoint = endpoint
        self.site = site
        self.drain_timeout = drain_timeout
        self.port: IListeningPort | None = None

    async def listen(self) -> IListeningPort:
        self.port = await serverFromString(self.reactor, self.endpoint).listen(self.site)
        log.info("listening", listener=self.name, endpoint=self.endpoint, address=str(self.port.getHost()))  # type: ignore[misc]  # zope interface method
        return self.port

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self.port is not None:
            await self.port.stopListening()  # type: ignore[misc]  # zope interface method; a listening port returns a Deferred
            self.port = None
        clock: IReactorTime = self.reactor
        waited = 0.0
        while self.site.inflight and waited < self.drain_timeout:
            await task.deferLater(clock, 0.05, lambda: None)
            waited += 0.05
        if self.site.inflight:
            log.warning("drain_timeout", listener=self.name, abandoned=len(self.site.inflight))
        for channel in list(self.site.channels):
            channel.loseConnection()
        waited = 0.0
        while self.site.channels and waited < 2.0:
            await task.deferLater(clock, 0.05, lambda: None)
            waited += 0.05
        for channel in list(self.site.channels):
            channel.transport.abortConnection()  # type: ignore[union-attr]  # channels in the set are connected
