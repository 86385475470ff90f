"""The listeners' HTTP site: POST bodies are never parsed as HTML forms (AS2 bodies are MIME, the API's
JSON), so Twisted does not run every POST's Content-Type through the email package."""

from __future__ import annotations

from twisted.web import http, resource
from twisted.web.test.requesthelper import DummyChannel

from gateway.service.http import DrainingSite


class _Ok(resource.Resource):
    isLeaf = True

    def render_POST(self, request: http.Request) -> bytes:
        return b"ok"


def test_post_bodies_are_not_parsed_as_forms(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    site = DrainingSite(_Ok(), body_max=1024)
    calls: list[bytes] = []
    monkeypatch.setattr(http, "_parseContentType", lambda line: calls.append(line) or b"")
    channel = DummyChannel()
    channel.site = site
    request = site.requestFactory(channel)
    request.requestHeaders.setRawHeaders(b"content-type", [b"application/x-www-form-urlencoded"])
    request.gotLength(7)
    request.handleContentChunk(b"a=1&b=2")
    request.requestReceived(b"POST", b"/as2?x=1", b"HTTP/1.1")
    assert calls == []  # the body was left alone ...
    assert request.args == {b"x": [b"1"]}  # ... the query string is still read
    assert site._parsePOSTFormSubmission is False
