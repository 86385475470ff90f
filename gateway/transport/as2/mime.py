"""Just enough MIME for AS2: header blocks, Content-Type parameters, multipart splitting that keeps the
exact bytes of each part (signatures cover them), transfer decodings and canonical line endings.

Python's ``email`` package is not used: it re-serialises (changing bytes a signature covers) and is
the main cost of pyas2lib.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable
from functools import lru_cache

from gateway.transport.as2.errors import MalformedMessage

MAX_HEADER_BLOCK = 64 * 1024
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ':' (RFC 5322 ftext)
_TOKEN = re.compile(r'\s*([^\s;=]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]*)\s*')


class Headers(dict[str, str]):
    """Header fields by lower-case name (the last one wins)."""

    def ctype(self) -> tuple[str, dict[str, str]]:
        return parse_params(self.get("content-type", "text/plain"))


def headers_from(pairs: Iterable[tuple[str, str]]) -> Headers:
    h = Headers()
    for k, v in pairs:
        h[k.strip().lower()] = v.strip()
    return h


def split_entity(data: bytes) -> tuple[Headers, bytes]:
    """Split a MIME entity into its header fields and its body (exact bytes)."""
    h, _, start = header_block(data)
    return h, data[start:]


def header_block(data: bytes) -> tuple[Headers, int, int]:
    """The header fields of an entity, where its header block ends and where its body starts. Only
    the first ``MAX_HEADER_BLOCK + 4`` bytes are looked at."""
    if data[:2] == b"\r\n":
        return Headers(), 0, 2
    if data[:1] == b"\n":
        return Headers(), 0, 1
    m = _HEADER_END.search(data, 0, MAX_HEADER_BLOCK + 4)
    if m is None:
        raise MalformedMessage("MIME entity has no end of headers")
    return _fields(data[: m.start()]), m.start(), m.end()


def _fields(block: bytes) -> Headers:
    h = Headers()
    name = None
    for line in block.decode("latin-1").replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t"):
            if name is None:
                raise MalformedMessage("MIME header continuation without a header")
            h[name] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep or not _FIELD_NAME.fullmatch(key):
            raise MalformedMessage(f"malformed MIME header line {line[:60]!r}")
        name = key.lower()
        h[name] = value.strip()
    return h


@lru_cache(maxsize=256)
def _parse_params(value: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    main, _, rest = value.partition(";")
    if '"' not in rest and "\\" not in rest:  # fast path: no quoted strings
        pairs = []
        for item in rest.split(";"):
            k, sep, v = item.partition("=")
            if sep and k.strip():
                pairs.append((k.strip().lower(), v.strip()))
        return main.strip().lower(), tuple(pairs)
    return _parse_quoted(main, rest)


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """``type/sub; a=b; c="d"`` -> ("type/sub", {"a": "b", "c": "d"}); names lower-cased."""
    main, pairs = _parse_params(value)
    return main, dict(pairs)


def _parse_quoted(main: str, rest: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if m is None:
            nxt = rest.find(";", pos)
            if nxt < 0:
                break
            pos = nxt + 1
            continue
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        params[m.group(1).lower()] = v
        pos = m.end()
        if pos < len(rest) and rest[pos] == ";":
            pos += 1
    return main.strip().lower(), tuple(params.items())


def delimiter(boundary: str) -> bytes:
    if not boundary or len(boundary) > 200 or not boundary.isascii():
        raise MalformedMessage("multipart without a usable boundary")
    return b"--" + boundary.encode("ascii")


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts of a multipart body, each exactly as sent (headers and content, without the CRLF that
    belongs to the next delimiter)."""
    delim = delimiter(boundary)
    close = body.rfind(delim + b"--")
    if close < 0:
        raise MalformedMessage("multipart without its closing delimiter")
    if body.startswith(delim):
        first = 0
    else:
        first = body.find(b"\n" + delim)
        if first < 0 or first > close:
            raise MalformedMessage("multipart without an opening delimiter")
        first += 1
    parts = []
    pos = first
    while pos < close:
        line_end = body.find(b"\n", pos, close)
        if line_end < 0:
            raise MalformedMessage("multipart delimiter line is not terminated")
        start = line_end + 1
        nxt = body.find(b"\n" + delim, start - 1, close + 1)
        end = nxt if nxt >= 0 else close
        part_end = end - 1 if end > start and body[end - 1 : end] == b"\r" else end
        parts.append(body[start:part_end])
        pos = end + 1
    return parts


def split_signed(body: bytes, boundary: str) -> tuple[bytes, bytes]:
    """The two parts of a multipart/signed body. Both delimiters after the first are searched from
    the end, so a large signed part is never scanned."""
    delim = delimiter(boundary)
    close = body.rfind(b"\n" + delim + b"--")
    if close < 0:
        raise MalformedMessage("multipart/signed without its closing delimiter")
    sep = body.rfind(b"\n" + delim, 0, close)
    if sep < 0:
        raise MalformedMessage("multipart/signed without a signature part")
    if body.startswith(delim):
        start = len(delim)
    else:
        start = body.find(b"\n" + delim, 0, sep + 1)
        if start < 0 or start >= sep:
            raise MalformedMessage("multipart/signed has one part only")
        start += 1 + len(delim)
    start = body.find(b"\n", start, sep + 1) + 1
    if start <= 0 or start > sep + 1:
        raise MalformedMessage("multipart/signed delimiter line is not terminated")
    first_end = sep - 1 if body[sep - 1 : sep] == b"\r" else sep
    sig_start = body.find(b"\n", sep + 1, close + 1) + 1
    if sig_start <= 0:
        raise MalformedMessage("multipart/signed delimiter line is not terminated")
    sig_end = close - 1 if body[close - 1 : close] == b"\r" else close
    return body[start:first_end], body[sig_start : max(sig_start, sig_end)]


def decode_body(headers: Headers, body: bytes) -> bytes:
    cte = headers.get("content-transfer-encoding", "binary").lower()
    if cte == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error as e:
            raise MalformedMessage(f"bad base64 body: {e}") from None
    if cte == "quoted-printable":
        return binascii.a2b_qp(body)
    if cte in ("binary", "8bit", "7bit", ""):
        return body
    raise MalformedMessage(f"unknown Content-Transfer-Encoding {cte!r}")


def canonical(data: bytes) -> bytes:
    """Line endings as CRLF (RFC 5751 canonical form)."""
    if b"\n" not in data.replace(b"\r\n", b""):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def body_is_lines(h: Headers) -> bool:
    """Whether an entity's body is line-oriented text for canonicalisation: everything but the
    ``binary`` transfer encoding (7bit, 8bit, base64 and quoted-printable bodies are lines)."""
    return h.get("content-transfer-encoding", "").strip().lower() != "binary"


def canonical_entity(data: bytes) -> bytes:
    """A MIME entity in canonical form (RFC 5751 section 3.1.1, as RFC 4130 section 7.3.1 asks for the
    MIC of an encrypted, unsigned message): header lines end in CRLF, and so do body lines unless the
    body is ``binary``."""
    h, end, start = header_block(data)
    head = canonical(data[:end]) + b"\r\n\r\n" if end else b"\r\n"
    body = data[start:]
    return head + (canonical(body) if body_is_lines(h) else body)


def quote(value: str) -> str:
    """A header parameter value, quoted when it is not a plain token."""
    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def entity(headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in headers).encode("latin-1", "replace") + b"\r\n" + body


def wrap64(data: bytes) -> bytes:
    """Base64 in 76-character CRLF lines."""
    b = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join(b[i : i + 76] for i in range(0, len(b), 76)) + b"\r\n"


def unquote_id(value: str) -> str:
    """An AS2 name without its quotes (RFC 4130 allows quoted names)."""
    v = value.strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        v = re.sub(r"\\(.)", r"\1", v[1:-1]) if "\\" in v else v[1:-1]
    return v
