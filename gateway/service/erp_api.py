"""The ERP-facing API on the ``api`` listener (``/v1``).

- ``POST /v1/documents``: a canonical JSON document (po_acknowledgement, ship_notice, invoice, inventory)
  for a partner. Checked, mapped with the partner's outbound route, validated, and queued to the
  partner: ``202 {"id": ...}``; a retry with the same ``Idempotency-Key`` answers ``200`` with the same id;
  ``422`` lists the findings; ``400`` for a body that is not JSON; ``401`` without a valid bearer token.
- ``GET /v1/documents/{id}``: the document's state, its deliveries and, once it has come back, the
  partner's functional acknowledgement.
- ``GET /v1/openapi.json``: this API described in OpenAPI 3.1.

Bearer tokens come from ``api.clients[].token_file``; a client may be limited to some partners.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import structlog
from twisted.internet import defer, threads
from twisted.web import resource, server

from gateway.config import GatewayConfig
from gateway.pipeline.outbound import OutboundProcessor
from gateway.service.api import json_response

log = structlog.get_logger(__name__)


def load_clients(config: GatewayConfig) -> list[tuple[bytes, dict[str, Any]]]:
    clients = []
    for c in config.api_clients:
        path = config.base / c["token_file"]
        with open(path, "rb") as fh:
            clients.append((fh.read().strip(), c))
    return clients


class _Auth:
    def __init__(self, clients: Callable[[], list[tuple[bytes, dict[str, Any]]]]) -> None:
        self.clients = clients

    def client(self, request: server.Request) -> dict[str, Any] | None:
        header = request.getHeader(b"authorization") or b""
        if not header.lower().startswith(b"bearer "):
            return None
        token = header[7:].strip()
        found = None
        for secret, client in self.clients():
            if hmac.compare_digest(secret, token):
                found = client
        return found


def _unauthorized(request: server.Request) -> bytes:
    request.setHeader(b"www-authenticate", b'Bearer realm="acorn-gateway"')
    return json_response(request, 401, {"error": "unauthorized",
                                        "message": "send Authorization: Bearer <token> of a configured api client"})


def _finish(request: server.Request, status: int, body: Any) -> None:
    if request.finished or getattr(request, "_disconnected", False):
        return
    request.write(json_response(request, status, body))
    request.finish()


class Documents(resource.Resource):
    def __init__(self, gateway: Any, auth: _Auth) -> None:
        super().__init__()
        self.gateway = gateway
        self.auth = auth

    def getChild(self, path: bytes, request: server.Request) -> resource.Resource:
        if path:
            return Document(self.gateway, self.auth, path.decode("utf-8", "replace"))
        return self

    def render_POST(self, request: server.Request) -> Any:
        client = self.auth.client(request)
        if client is None:
            return _unauthorized(request)
        try:
            doc = json.loads(request.content.read())  # type: ignore[union-attr]  # content is set once the headers are in
        except (ValueError, UnicodeDecodeError) as exc:
            return json_response(request, 400, {"error": "invalid_json", "message": str(exc)})
        key = (request.getHeader(b"idempotency-key") or b"").decode("utf-8", "replace") or None
        processor = OutboundProcessor(self.gateway.store, self.gateway.config, self.gateway.catalog)
        d = threads.deferToThread(processor.submit, doc, client["name"], key, tuple(client.get("partners") or ()))

        def answered(sub: Any) -> None:
            if sub.duplicate:
                _finish(request, 200, {"id": sub.doc_id, "duplicate": True})
            elif sub.ok:
                _finish(request, 202, {"id": sub.doc_id, "state": "queued", "queued": sub.queued,
                                       "warnings": [f.to_dict() for f in sub.findings]})
            else:
                _finish(request, 422, {"error": "invalid_document",
                                       "findings": [f.to_dict() for f in sub.findings]})

        def failed(f: Any) -> None:
            log.error("erp_submit_failed", client=client["name"], error=str(f.value), error_type=f.type.__name__)
            _finish(request, 500, {"error": "internal_error", "message": "the document was not accepted"})

        d.addCallbacks(answered, failed)
        request.notifyFinish().addErrback(lambda _: setattr(request, "_disconnected", True))
        return server.NOT_DONE_YET


class Document(resource.Resource):
    isLeaf = True

    def __init__(self, gateway: Any, auth: _Auth, doc_id: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.auth = auth
        self.doc_id = doc_id

    def render_GET(self, request: server.Request) -> Any:
        if self.auth.client(request) is None:
            return _unauthorized(request)
        d = defer.maybeDeferred(threads.deferToThread, self._lookup)
        d.addCallback(lambda body: _finish(request, 200, body) if body else
                      _finish(request, 404, {"error": "not_found", "id": self.doc_id}))
        d.addErrback(lambda f: _finish(request, 500, {"error": "internal_error", "message": str(f.value)}))
        return server.NOT_DONE_YET

    def _lookup(self) -> dict[str, Any] | None:
        store = self.gateway.store
        row = store.index.document(self.doc_id)
        if row is None:
            return None
        edi = store.index.outbound_edi(self.doc_id)
        ack = None
        if edi and edi.get("ack_status"):
            ack = {"kind": edi["ack_kind"], "status": edi["ack_status"], "codes": edi["ack_codes"],
                   "at": edi["ack_at"]}
        deliveries = [{k: d.get(k) for k in ("destination", "state", "attempts", "last_error", "updated_at")}
                      for d in store.index.deliveries_for_doc(self.doc_id)]
        return {"id": self.doc_id, "partner": row["partner"], "document": row["kind"], "state": row["state"],
                "received_at": row["received_at"], "state_at": row.get("state_at"),
                "edi": {k: edi[k] for k in ("interchange_control", "group_control", "transaction_control",
                                            "transaction_type")} if edi else None,
                "deliveries": deliveries, "partner_ack": ack}


class OpenAPI(resource.Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        spec = json.loads(resources.files("gateway.service").joinpath("openapi.json").read_text())
        return json_response(request, 200, spec)


def install(api_root: resource.Resource, gateway: Any) -> None:
    """Mount ``/v1`` under the api root."""
    auth = _Auth(lambda: gateway.api_clients)
    v1 = resource.Resource()
    v1.putChild(b"documents", Documents(gateway, auth))  # type: ignore[arg-type]  # Resource implements IResource (zope)
    v1.putChild(b"openapi.json", OpenAPI())  # type: ignore[arg-type]  # Resource implements IResource (zope)
    api_root.putChild(b"v1", v1)  # type: ignore[arg-type]  # Resource implements IResource (zope)
