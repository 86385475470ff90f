"""The AS2 HTTP endpoint (``POST /as2``): body cap, streaming to the spool, partner lookup, MDN.

``AS2Site`` caps bodies (413, from ``DrainingSite``) and streams any body over ``MEMORY_BODY`` into a
temp file under ``spool/tmp`` (the spool's filesystem, so the payload later moves in by rename). The
resource answers protocol problems it can see without decoding (missing or unknown AS2 ids, bad basic
auth, garbage headers) with a 4xx and a one-line reason; everything after that is the station's:
decode in the codec pool, store durably, and only then the MDN.
"""

from __future__ import annotations

import os
import tempfile
from io import BytesIO
from typing import TYPE_CHECKING, Any

import structlog
from twisted.internet import defer
from twisted.web import resource, server

from gateway.service.http import CappedRequest, DrainingSite

if TYPE_CHECKING:
    from gateway.transport.as2.station import Station

log = structlog.get_logger(__name__)
MEMORY_BODY = 1024 * 1024  # bodies up to this size stay in memory; larger ones stream to spool/tmp


class SpoolingRequest(CappedRequest):
    site: AS2Site
    spool_path: str | None = None

    def gotLength(self, length: int | None) -> None:
        super().gotLength(length)
        content = getattr(self, "content", None)
        if content is None:  # refused (413)
            return
        if length is not None and length <= MEMORY_BODY:
            if not isinstance(content, BytesIO):
                content.close()
                self.content = BytesIO()
            return
        content.close()
        fd, self.spool_path = tempfile.mkstemp(dir=self.channel.site.tmp_dir, prefix="as2-body-")  # type: ignore[attr-defined]  # the channel's site is the AS2Site
        self.content = os.fdopen(fd, "w+b")

    def take_body(self) -> bytes | str:
        """The body: bytes, or the path of the temp file (which the caller then owns)."""
        if self.spool_path is None:
            return self.content.getvalue()  # type: ignore[union-attr]  # content is set once the headers are in
        self.content.close()  # type: ignore[union-attr]  # content is set once the headers are in
        path, self.spool_path = self.spool_path, None
        return path

    def connectionLost(self, reason: Any) -> None:
        self.drop_body()
        super().connectionLost(reason)

    def drop_body(self) -> None:
        if self.spool_path is not None:
            try:
                self.content.close()  # type: ignore[union-attr]  # content is set once the headers are in
                os.unlink(self.spool_path)
            except OSError:
                pass
            self.spool_path = None


class AS2Site(DrainingSite):
    requestFactory = SpoolingRequest

    def __init__(self, root: resource.Resource, body_max: int, tmp_dir: str, **kw: Any) -> None:
        super().__init__(root, body_max, **kw)
        os.makedirs(tmp_dir, exist_ok=True)
        self.tmp_dir = tmp_dir


class AS2Resource(resource.Resource):
    isLeaf = True

    def __init__(self, station: Station) -> None:
        super().__init__()
        self.station = station

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"Acorn EDI Gateway AS2 endpoint: POST AS2 messages (and asynchronous MDNs) here.\n"

    def render_POST(self, request: server.Request) -> Any:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        d = defer.Deferred.fromCoroutine(self.station.handle(request, gone))
        d.addErrback(self._crashed, request, gone)
        return server.NOT_DONE_YET

    def _crashed(self, failure: Any, request: Any, gone: list[bool]) -> None:
        log.error(
            "as2_request_crashed",
            error=str(failure.value),
            error_type=failure.type.__name__,
            traceback=failure.getTraceback(),
        )
        if isinstance(request, SpoolingRequest):
            request.drop_body()
        if not gone and not request.finished:
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.write(b"internal error; the message was not stored, please resend\n")
            request.finish()


def build_site(station: Station, body_max: int, tmp_dir: str) -> AS2Site:
    root = resource.Resource()
    as2 = AS2Resource(station)
    root.putChild(b"as2", as2)  # type: ignore[arg-type]  # Resource implements IResource (zope)
    root.putChild(b"", as2)  # type: ignore[arg-type]  # zope IResource; partners configured with a bare host:port URL
    return AS2Site(root, body_max, tmp_dir)
