"""The native codec's receive path for a body held in a file (large messages).

The same layers as ``NativeCodec._peel``, in the same order and with the same dispositions, but no
layer is ever held whole: base64 is decoded, the EnvelopedData decrypted and the CompressedData
inflated a chunk at a time into temp files next to the body; MIME and ASN.1 structure are read
through a small window (``filebuf.FileView``); the signed part and the MIC are hashed a chunk at a
time (``Region``); the payload is copied out of the innermost entity in the kernel. Memory stays at a
few MiB whatever the message size.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from typing import BinaryIO

from gateway.transport.as2 import as2headers, certs, cms_envelope, cms_signed, filebuf, mime
from gateway.transport.as2.codec import InboundResult, IsDuplicate, Resolve
from gateway.transport.as2.errors import (
    DecryptionFailed,
    InsufficientSecurity,
    MalformedMessage,
)
from gateway.transport.as2.filebuf import FileView
from gateway.transport.as2.native import MAX_LAYERS, PKCS7_MIME, NativeCodec, State, smime_kind
from gateway.transport.as2.profiles import LocalIdentity, PartnerProfile

SIG_TAIL = 1 << 20  # the signature part and both closing delimiters must lie in the last MiB
_HEAD = mime.MAX_HEADER_BLOCK + 4


class Region:
    """Digests of a file region (``cms_signed.Digestible``): every name asked for or ``prefetch``ed is
    computed in one pass, ``prefix`` first, the region made canonical on the way when ``canon``."""

    def __init__(
        self, view: FileView, prefetch: tuple[str, ...] = (), canon: bool = False, prefix: bytes = b""
    ) -> None:
        self.view, self.prefetch, self.canon, self.prefix = view, prefetch, canon, prefix
        self.cache: dict[str, bytes] = {}
        self.bare_lf: bool | None = None  # seen while hashing the raw bytes

    def digest(self, name: str) -> bytes:
        if name not in self.cache:
            names = [name, *(n for n in self.prefetch if n != name and n not in self.cache)]
            hs = [hashlib.new(n, self.prefix) for n in names]
            chunks = self.view.chunks()
            bare, prev_cr = False, False
            for c in filebuf.canonical_chunks(chunks) if self.canon else chunks:
                if not self.canon and not bare:
                    lfs = c.count(b"\n") - c.count(b"\r\n") - (1 if prev_cr and c[:1] == b"\n" else 0)
                    bare, prev_cr = lfs > 0, c.endswith(b"\r")
                for h in hs:
                    h.update(c)
            if not self.canon:
                self.bare_lf = bare
            self.cache.update((n, h.digest()) for n, h in zip(names, hs, strict=True))
        return self.cache[name]


class _Canonical:
    """The canonical form of a signed part, the second signature candidate: the raw region when it
    has no bare LF, else a CRLF copy written on first use."""

    def __init__(self, raw: Region, work: _Work) -> None:
        self.raw, self.work = raw, work
        self.copy: Region | None = None

    def _copy(self) -> Region | None:
        if self.raw.bare_lf is None:
            self.raw.digest(self.raw.prefetch[0] if self.raw.prefetch else "sha256")
        if self.raw.bare_lf and self.copy is None:
            fh = self.work.new()
            n = filebuf.write_all(fh, filebuf.canonical_chunks(self.raw.view.chunks()))
            self.copy = Region(FileView(fh.fileno(), 0, n), self.raw.prefetch)
        return self.copy

    def digest(self, name: str) -> bytes:
        copy = self._copy()
        return (copy or self.raw).digest(name)

    @property
    def view(self) -> FileView:
        copy = self._copy()
        return (copy or self.raw).view


class _EntityMic:
    """RFC 4130 7.3.1 for an encrypted, unsigned message: the digest of the decrypted entity in
    canonical form (``mime.canonical_entity``, a chunk at a time)."""

    def __init__(self, entity: FileView) -> None:
        self.entity = entity
        self.region: Region | None = None

    def digest(self, name: str) -> bytes:
        if self.region is None:
            try:
                h, end, start = mime.header_block(self.entity[:_HEAD])
                head = mime.canonical(self.entity[:end]) + b"\r\n\r\n" if end else b"\r\n"
                body = self.entity.sub(start, len(self.entity))
                self.region = Region(body, canon=mime.body_is_lines(h), prefix=head)
            except MalformedMessage:  # unreadable: the MDN says so; hash it as it came
                self.region = Region(self.entity)
        return self.region.digest(name)


class _Work:
    """The temp files of one message, in the body's directory; all removed by ``close`` except the
    one kept (the payload, which the caller moves into the spool)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.files: list[tuple[BinaryIO, str]] = []

    def new(self, prefix: str = "as2-work-") -> BinaryIO:
        fd, path = tempfile.mkstemp(dir=self.directory, prefix=prefix)
        fh = os.fdopen(fd, "w+b")
        self.files.append((fh, path))
        return fh

    def close(self, keep: str | None = None) -> None:
        for fh, path in self.files:
            fh.close()
            if path != keep:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass


def _split(entity: FileView) -> tuple[mime.Headers, FileView]:
    h, _, start = mime.header_block(entity[:_HEAD])
    return h, entity.sub(start, len(entity))


def _decoded(h: mime.Headers, view: FileView, work: _Work) -> FileView:
    dec = filebuf.decoder(h.get("content-transfer-encoding", "binary"))
    if dec is None:
        return view
    fh = work.new()
    return FileView(fh.fileno(), 0, filebuf.write_all(fh, dec(view.chunks())))


def split_signed(view: FileView, boundary: str) -> tuple[FileView, bytes]:
    """``mime.split_signed`` for a body in a file: the signed part (a view) and the signature part."""
    delim = mime.delimiter(boundary)
    n = len(view)
    tail_at = max(0, n - SIG_TAIL)
    tail = view[tail_at:n]
    close = tail.rfind(b"\n" + delim + b"--")
    if close < 0:
        raise MalformedMessage(
            "multipart/signed without its closing delimiter" + (" in its last MiB" if tail_at else "")
        )
    sep = tail.rfind(b"\n" + delim, 0, close)
    if sep < 0:
        raise MalformedMessage(
            "multipart/signed without a signature part" + (" in its last MiB" if tail_at else "")
        )
    head, abs_sep = view[:_HEAD], tail_at + sep
    if head.startswith(delim):
        start = len(delim)
    else:
        start = head.find(b"\n" + delim, 0, abs_sep + 1)
        if start < 0 or start >= abs_sep:
            raise MalformedMessage(
                "multipart/signed has one part only" + (" in its first 64 KiB" if n > len(head) else "")
            )
        start += 1 + len(delim)
    start = head.find(b"\n", start, abs_sep + 1) + 1
    if start <= 0 or start > abs_sep + 1:
        raise MalformedMessage("multipart/signed delimiter line is not terminated")
    first_end = abs_sep - 1 if abs_sep and view[abs_sep - 1] == 0x0D else abs_sep
    sig_start = tail.find(b"\n", sep + 1, close + 1) + 1
    if sig_start <= 0:
        raise MalformedMessage("multipart/signed delimiter line is not terminated")
    sig_end = close - 1 if tail[close - 1 : close] == b"\r" else close
    return view.sub(start, max(start, first_end)), tail[sig_start : max(sig_start, sig_end)]


def _peel(
    codec: NativeCodec,
    h: mime.Headers,
    view: FileView,
    work: _Work,
    local: LocalIdentity,
    partner: PartnerProfile,
    st: State,
    now: datetime,
    prefetch: tuple[str, ...],
) -> tuple[mime.Headers, FileView]:
    if partner.require_encrypted and h.ctype()[0] not in PKCS7_MIME:
        raise InsufficientSecurity(
            "the partner profile requires encrypted messages; this one is not encrypted"
        )
    for _ in range(MAX_LAYERS):
        ctype, params = h.ctype()
        if ctype in PKCS7_MIME:
            data = _decoded(h, view, work)
            kind = smime_kind(params, data[:32])
            out = work.new()
            if kind == "enveloped-data" and not (st.encrypted or st.signed):
                keys = certs.valid_keys(local.keys, now)
                if not keys:
                    raise DecryptionFailed("none of our certificates is valid now")
                opened = cms_envelope.open_envelope_file(data, keys, out)
                entity = FileView(out.fileno(), 0, out.tell())
                st.encrypted, st.cipher, st.key_enc = True, opened.cipher, opened.key_enc
                st.mic_content = _EntityMic(entity)
            elif kind == "compressed-data" and not st.compressed:
                entity = FileView(out.fileno(), 0, cms_envelope.decompress_file(data, codec.max_size, out))
                st.compressed = True
                if st.encrypted and not st.signed:  # RFC 5402 4.2: MIC over the uncompressed entity
                    st.mic_content = _EntityMic(entity)
            else:
                raise MalformedMessage(f"unexpected S/MIME layer {kind!r}")
            h, view = _split(entity)
        elif ctype == "multipart/signed":
            if st.signed:
                raise MalformedMessage("message is signed twice")
            first, sig_part = split_signed(view, params.get("boundary", ""))
            sh, sb = mime.split_entity(sig_part)
            if sh.ctype()[0] not in ("application/pkcs7-signature", "application/x-pkcs7-signature"):
                raise MalformedMessage("second part of multipart/signed is not a PKCS#7 signature")
            raw = Region(first, prefetch)
            v = cms_signed.verify_detached(
                mime.decode_body(sh, sb), [raw, _Canonical(raw, work)], partner.certificates, now
            )
            st.signed, st.digest, st.fingerprint = True, v.digest, certs.fingerprint(v.cert)
            st.mic_content, st.mic_digest = v.content, v.content_digest
            signed = v.content.view if isinstance(v.content, (Region, _Canonical)) else first
            h, view = _split(signed)
        else:
            return h, view
    raise MalformedMessage("too many nested S/MIME layers")


def parse_file(
    codec: NativeCodec,
    headers: Mapping[str, str],
    path: str,
    *,
    resolve: Resolve,
    is_duplicate: IsDuplicate,
    out_dir: str,
    now: datetime | None = None,
) -> tuple[InboundResult, str | None]:
    """``NativeCodec.parse_message`` for a body in the file ``path``: the result (without payload)
    and the path of a new file in ``out_dir`` holding the payload (None when refused). Temp files
    are removed whatever happens; the payload file is the caller's."""
    work = _Work(out_dir)
    kept: list[str] = []
    request = as2headers.mdn_request(as2headers.lower(headers))
    wanted = tuple(
        n for n in (as2headers.choose_micalg(request, None)[0],) if request.micalgs
    )  # hashed with the signature's digest in the same pass

    body = open(path, "rb")  # noqa: SIM115  (open across the whole parse: the MIC may read it last)

    def peel(
        h: mime.Headers, local: LocalIdentity, partner: PartnerProfile, st: State, now: datetime
    ) -> tuple[mime.Headers, Region]:
        top = FileView(body.fileno(), 0, os.fstat(body.fileno()).st_size)
        payload_h, inner = _peel(codec, h, top, work, local, partner, st, now, wanted)
        out = work.new("as2-payload-")
        kept.append(work.files[-1][1])
        dec = filebuf.decoder(payload_h.get("content-transfer-encoding", "binary"))
        if dec is None:
            filebuf.copy_range(inner.fd, inner.start, inner.end, out)
        else:
            filebuf.write_all(out, dec(inner.chunks()))
        out.flush()
        return payload_h, Region(FileView(out.fileno(), 0, os.fstat(out.fileno()).st_size))

    ok = False
    try:
        result = codec.parse_with(headers, peel, resolve=resolve, is_duplicate=is_duplicate, now=now)
        ok = result.error is None
    finally:
        body.close()
        keep = kept[0] if kept and ok else None
        work.close(keep)
    return result, keep
