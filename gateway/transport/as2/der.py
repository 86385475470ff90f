"""A small, strict BER/DER reader and a DER writer: just what CMS needs.

The reader accepts BER on input (indefinite lengths, constructed OCTET STRINGs) because real AS2
stations send it, and rejects everything else loudly: high tag numbers, lengths longer than four
bytes, lengths past the end of the buffer, nesting deeper than ``MAX_DEPTH``, trailing bytes. Every
failure raises :class:`DerError` (a ``ValueError``), never ``IndexError`` or a hang.

A node is a tuple ``(tag, start, end, next, head)``: the identifier octet, the content range
``buf[start:end]``, the offset just past the whole element (after the end-of-contents octets for
indefinite lengths) and the offset of its identifier octet.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

MAX_DEPTH = 24

Node = tuple[int, int, int, int, int]

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
OCTET_STRING_C = 0x24
NULL = 0x05
OID = 0x06
UTC_TIME = 0x17


class DerError(ValueError):
    """Malformed or unsupported ASN.1."""


def read(buf: bytes, pos: int = 0, end: int | None = None, depth: int = 0) -> Node:
    """Read the element starting at ``pos`` (bounded by ``end``)."""
    if end is None:
        end = len(buf)
    if depth > MAX_DEPTH:
        raise DerError("ASN.1 nested too deeply")
    if pos + 2 > end:
        raise DerError(f"ASN.1 element truncated at offset {pos}")
    head = pos
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise DerError(f"unsupported high tag number at offset {pos}")
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        if not tag & 0x20:
            raise DerError(f"indefinite length on a primitive element at offset {pos - 2}")
        return _read_indefinite(buf, tag, pos, end, depth, head)
    else:
        n = first & 0x7F
        if n > 4:
            raise DerError(f"ASN.1 length of {n} bytes at offset {pos - 2}")
        if pos + n > end:
            raise DerError(f"ASN.1 length truncated at offset {pos}")
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise DerError(f"ASN.1 element at offset {pos} runs past its container ({length} bytes)")
    return tag, pos, pos + length, pos + length, head


def _read_indefinite(buf: bytes, tag: int, start: int, end: int, depth: int, head: int) -> Node:
    pos = start
    while True:
        if pos + 2 > end:
            raise DerError("indefinite-length element without end-of-contents")
        if buf[pos] == 0 and buf[pos + 1] == 0:
            return tag, start, pos, pos + 2, head
        pos = read(buf, pos, end, depth + 1)[3]


def children(buf: bytes, node: Node, depth: int = 0) -> Iterator[Node]:
    """Iterate over the elements inside a constructed ``node``."""
    if not node[0] & 0x20:
        raise DerError(f"expected a constructed element, got tag 0x{node[0]:02x}")
    pos, end = node[1], node[2]
    while pos < end:
        child = read(buf, pos, end, depth + 1)
        yield child
        pos = child[3]


def items(buf: bytes, node: Node, expect: int | None = None) -> list[Node]:
    """The children of ``node`` as a list, after checking its tag."""
    if expect is not None and node[0] != expect:
        raise DerError(f"expected tag 0x{expect:02x}, got 0x{node[0]:02x}")
    return list(children(buf, node))


def top(buf: bytes) -> Node:
    """Read the single element that must fill ``buf``."""
    node = read(buf, 0, len(buf))
    if node[3] != len(buf):
        raise DerError(f"{len(buf) - node[3]} trailing bytes after the ASN.1 element")
    return node


def octets(buf: bytes, node: Node, depth: int = 0) -> bytes:
    """The value of an OCTET STRING (or an implicitly tagged one), primitive or BER-constructed."""
    if not node[0] & 0x20:
        return bytes(buf[node[1] : node[2]])
    if depth > MAX_DEPTH:
        raise DerError("constructed string nested too deeply")
    parts = []
    for c in children(buf, node, depth):
        if c[0] not in (OCTET_STRING, OCTET_STRING_C):
            raise DerError(f"constructed string holds tag 0x{c[0]:02x}")
        parts.append(octets(buf, c, depth + 1))
    return b"".join(parts)


def segments(buf: bytes, node: Node, depth: int = 0) -> list[tuple[int, int]]:
    """Where the value of an OCTET STRING lies in ``buf``: its content range when primitive, the ranges
    of its primitive pieces in order when BER-constructed (same checks as ``octets``, no copy)."""
    if not node[0] & 0x20:
        return [(node[1], node[2])]
    if depth > MAX_DEPTH:
        raise DerError("constructed string nested too deeply")
    out: list[tuple[int, int]] = []
    for c in children(buf, node, depth):
        if c[0] not in (OCTET_STRING, OCTET_STRING_C):
            raise DerError(f"constructed string holds tag 0x{c[0]:02x}")
        out += segments(buf, c, depth + 1)
    return out


def expect(node: Node, tag: int, what: str) -> Node:
    if node[0] != tag:
        raise DerError(f"{what}: expected tag 0x{tag:02x}, got 0x{node[0]:02x}")
    return node


def oid_str(buf: bytes, node: Node) -> str:
    expect(node, OID, "object identifier")
    return _oid_decode(bytes(buf[node[1] : node[2]]))


@lru_cache(maxsize=512)
def _oid_decode(raw: bytes) -> str:
    if not raw or raw[-1] & 0x80:
        raise DerError("malformed object identifier")
    arcs: list[int] = []
    value = 0
    for b in raw:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def integer(buf: bytes, node: Node) -> int:
    expect(node, INTEGER, "integer")
    if node[2] == node[1]:
        raise DerError("empty integer")
    return int.from_bytes(buf[node[1] : node[2]], "big", signed=True)


def raw(buf: bytes, node: Node) -> bytes:
    """The whole encoding of ``node``, header included."""
    return bytes(buf[node[4] : node[3]])


# ---- writer (DER) ----


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def seq(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """A DER SET OF: members sorted by their encodings."""
    return tlv(SET, b"".join(sorted(parts)))


def enc_int(value: int) -> bytes:
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def enc_octets(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


@lru_cache(maxsize=512)
def enc_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


ENC_NULL = b"\x05\x00"
