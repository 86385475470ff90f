"""File-backed pieces for the large-message receive path: a region of a file read through a small
window cache (so ``der`` and ``mime`` can look at it like ``bytes``), chunked copies and transfer
decodings from one file into another, and canonical (CRLF) line ends a chunk at a time.

Memory stays at a few chunks whatever the file size: nothing here reads a region whole.
"""

from __future__ import annotations

import binascii
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

from gateway.transport.as2.errors import MalformedMessage

CHUNK = 1 << 20
_WINDOW = 64 * 1024
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_B64 = bytes(b for b in range(256) if b not in _B64_ALPHABET)


class FileView:
    """Bytes ``[start, end)`` of an open file, indexable like ``bytes`` (ints and slices), read
    through one cached window. For headers and ASN.1 structure, not for bulk data."""

    __slots__ = ("fd", "start", "end", "_wpos", "_win")

    def __init__(self, fd: int, start: int, end: int) -> None:
        self.fd, self.start, self.end = fd, start, end
        self._wpos, self._win = -1, b""

    def __len__(self) -> int:
        return self.end - self.start

    def __getitem__(self, key: int | slice) -> Any:
        n = self.end - self.start
        if isinstance(key, slice):
            a, b, step = key.indices(n)
            if step != 1:
                raise ValueError("FileView slices have no step")
            if b <= a:
                return b""
            w = self._wpos
            if w >= 0 and w <= a and b <= w + len(self._win):
                return self._win[a - w : b - w]
            if b - a > _WINDOW:
                return os.pread(self.fd, b - a, self.start + a)
            self._load(a)
            return self._win[: b - a]
        if key < 0:
            key += n
        if not 0 <= key < n:
            raise IndexError("FileView index out of range")
        w = self._wpos
        if not (w >= 0 and w <= key < w + len(self._win)):
            self._load(key)
            w = key
        return self._win[key - w]

    def _load(self, pos: int) -> None:
        size = min(_WINDOW, self.end - self.start - pos)
        self._win = os.pread(self.fd, size, self.start + pos)
        if len(self._win) != size:
            raise OSError(f"short read at offset {self.start + pos}")
        self._wpos = pos

    def sub(self, a: int, b: int) -> FileView:
        return FileView(self.fd, self.start + a, self.start + b)

    def chunks(self, a: int = 0, b: int | None = None, size: int | None = None) -> Iterator[bytes]:
        return read_ranges(self.fd, [(self.start + a, self.start + (len(self) if b is None else b))], size)


def read_ranges(fd: int, ranges: Sequence[tuple[int, int]], size: int | None = None) -> Iterator[bytes]:
    """The bytes of absolute file ranges, in chunks of at most ``size`` (default ``CHUNK``)."""
    size = size or CHUNK
    for a, b in ranges:
        pos = a
        while pos < b:
            data = os.pread(fd, min(size, b - pos), pos)
            if not data:
                raise OSError(f"short read at offset {pos}")
            pos += len(data)
            yield data


class Crlf:
    """Bare LF -> CRLF over a stream of chunks (``mime.canonical`` a chunk at a time)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._held + chunk if self._held else chunk
        if data.endswith(b"\r"):  # its LF may start the next chunk
            data, self._held = data[:-1], b"\r"
        else:
            self._held = b""
        if b"\n" not in data:
            return data
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held


def has_bare_lf(chunks: Iterator[bytes]) -> bool:
    prev_cr = False
    for c in chunks:
        if c.count(b"\n") - c.count(b"\r\n") - (1 if prev_cr and c[:1] == b"\n" else 0) > 0:
            return True
        prev_cr = c.endswith(b"\r")
    return False


def digests(chunks: Iterator[bytes], names: Sequence[str]) -> dict[str, bytes]:
    hs = [hashlib.new(n) for n in names]
    for c in chunks:
        for h in hs:
            h.update(c)
    return {n: h.digest() for n, h in zip(names, hs, strict=True)}


def canonical_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    conv = Crlf()
    for c in chunks:
        yield conv.feed(c)
    yield conv.flush()


def b64_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Base64 decoding a chunk at a time, exactly as ``binascii.a2b_base64`` decodes the whole: bytes
    outside the alphabet skipped, a ``=`` that cannot end a quad ignored, and nothing read after the
    first complete padding."""
    pending = b""  # alphabet characters not yet decoded (fewer than 4) and, at its end, a '=' run
    try:
        for c in chunks:
            data = pending + c.translate(None, _NOT_B64)
            if b"=" in data:
                out, pending, done = _pads(data, final=False)
                if out:
                    yield out
                if done:
                    return
                continue
            n = len(data) - len(data) % 4
            pending = data[n:]
            if n:
                yield binascii.a2b_base64(data[:n])
        out, pending, _ = _pads(pending, final=True)
        if out:
            yield out
        if pending:
            binascii.a2b_base64(pending)  # raises the error the whole body would
    except binascii.Error as e:
        raise MalformedMessage(f"bad base64 body: {e}") from None


def _pads(data: bytes, final: bool) -> tuple[bytes, bytes, bool]:
    """Resolve the '=' in ``data``: (decoded bytes, what is left pending, padding complete)."""
    alpha: list[bytes] = []
    count = pos = 0
    while (i := data.find(b"=", pos)) >= 0:
        alpha.append(data[pos:i])
        count += i - pos
        j = i
        while j < len(data) and data[j] == 0x3D:
            j += 1
        if j == len(data) and not final:  # the run may go on in the next chunk
            break
        q = count % 4
        if q >= 2 and j - i >= 4 - q:  # a complete pad sequence ends the data
            text = b"".join(alpha)
            return binascii.a2b_base64(text + b"=" * (4 - q)), b"", True
        pos = j  # a '=' that cannot end this quad is ignored
    else:
        i = len(data)
        alpha.append(data[pos:])
        count += len(data) - pos
    text = b"".join(alpha)
    n = count - count % 4
    return binascii.a2b_base64(text[:n]) if n else b"", text[n:] + data[i:], False


def qp_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Quoted-printable decoding, cut at line ends so soft breaks stay whole."""
    carry = b""
    for c in chunks:
        data = carry + c
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield binascii.a2b_qp(data[:cut])
    if carry:
        yield binascii.a2b_qp(carry)


def decoder(cte: str) -> Callable[[Iterator[bytes]], Iterator[bytes]] | None:
    """The chunked decoder for a Content-Transfer-Encoding; None when the bytes are the content."""
    cte = cte.lower()
    if cte == "base64":
        return b64_chunks
    if cte == "quoted-printable":
        return qp_chunks
    if cte in ("binary", "8bit", "7bit", ""):
        return None
    raise MalformedMessage(f"unknown Content-Transfer-Encoding {cte!r}")


def write_all(fh: BinaryIO, chunks: Iterator[bytes]) -> int:
    n = 0
    for c in chunks:
        fh.write(c)
        n += len(c)
    fh.flush()
    return n


def copy_range(src_fd: int, a: int, b: int, dst: BinaryIO) -> None:
    """Copy file bytes ``[a, b)`` to ``dst`` in the kernel where it can (no user-space buffer)."""
    dst.flush()
    out = dst.fileno()
    pos = a
    try:
        while pos < b:
            n = os.copy_file_range(src_fd, out, min(b - pos, 1 << 30), pos)
            if n <= 0:
                break
            pos += n
    except OSError:
        pass
    if pos < b:
        write_all(dst, read_ranges(src_fd, [(pos, b)]))
