"""The ``api`` listener: health, metrics, and (with the pipeline) the ERP document API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.web import resource, server

import gateway
from gateway.service import metrics


def json_response(request: server.Request, status: int, body: Any) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(body, separators=(",", ":"), default=str).encode() + b"\n"


class Health(resource.Resource):
    isLeaf = True

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self.status = status

    def render_GET(self, request: server.Request) -> bytes:
        body = self.status()
        return json_response(request, 200 if body["status"] == "ok" else 503, body)


class Metrics(resource.Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; version=0.0.4")
        return metrics.render().encode()


class NotFound(resource.Resource):
    isLeaf = True

    def render(self, request: server.Request) -> bytes:
        return json_response(request, 404, {"error": "not_found", "path": request.path.decode("latin-1")})


class ApiRoot(resource.Resource):
    """``/healthz``, ``/metrics`` and anything later layers put under it (``/v1/...``)."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self.putChild(b"healthz", Health(status))  # type: ignore[arg-type]  # Resource implements IResource (zope)
        self.putChild(b"metrics", Metrics())  # type: ignore[arg-type]  # Resource implements IResource (zope)

    def getChild(self, path: bytes, request: server.Request) -> resource.Resource:
        return NotFound()

    def render_GET(self, request: server.Request) -> bytes:
        return json_response(request, 200, {"service": "acorn-gateway", "version": gateway.__version__,
                                            "endpoints": ["/healthz", "/metrics"]})
