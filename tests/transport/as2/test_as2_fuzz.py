"""Hypothesis over mutated AS2 messages: every input gives a result with a clear disposition (or is
processed), never an exception, an internal error or a hang."""

from __future__ import annotations

import binascii
import time
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.transport.as2 import cms_envelope, cms_signed, der, filebuf, mime
from gateway.transport.as2.certs import self_signed
from gateway.transport.as2.errors import As2Error
from gateway.transport.as2.filebuf import FileView
from gateway.transport.as2.native import NativeCodec
from gateway.transport.as2.profiles import LocalIdentity, PartnerProfile, utcnow

codec = NativeCodec(max_size=1 << 20)
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=1)
def world() -> dict[str, object]:
    a, b = self_signed("A", bits=1024), self_signed("B", bits=1024)  # small keys: fuzzing is about parsing
    us, them = LocalIdentity("A", (a,)), LocalIdentity("B", (b,))
    payload = b"ISA*00*X~GS*PO~ST*850*1~SE*2*1~\r\n" * 5
    out = {}
    for name, opts in {
        "full": {"compress": True},
        "signed": {"encrypt": None},
        "compressed": {"encrypt": None, "sign": None, "compress": True},
        "lf": {"sign": None},
    }.items():
        body = payload.replace(b"\r\n", b"\n") if name == "lf" else payload  # encrypted only: LF text
        msg = codec.build_message(
            body,
            sender=them,
            receiver=PartnerProfile("A", (a.cert,), **opts),  # type: ignore[arg-type]
            content_type="text/plain" if name == "lf" else "application/edi-x12",
        )
        out[name] = msg
    lax = PartnerProfile("B", (b.cert,), require_signed=False, require_encrypted=False)
    return {"us": us, "lax": lax, "msgs": out, "b": b}


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, pos, val in ops:
        if not buf:
            break
        p = pos % len(buf)
        if kind == 0:
            buf[p] ^= 1 << (val % 8)
        elif kind == 1:
            del buf[p:]
        elif kind == 2:
            buf[p:p] = bytes([val % 256]) * (1 + val % 5)
        elif kind == 3:
            buf[p] = val % 256
        else:
            del buf[p : p + 1 + val % 64]
    return bytes(buf)


OPS = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 1 << 20), st.integers(0, 1 << 10)), min_size=1, max_size=6
)


def _check(headers: dict[str, str], body: bytes) -> None:
    w = world()
    start = time.monotonic()
    res = codec.parse_message(
        headers, body, resolve=lambda f, t: (w["us"], w["lax"]), is_duplicate=lambda _m: False
    )  # type: ignore[arg-type,return-value]
    assert time.monotonic() - start < 2.0
    assert not res.detail.startswith("internal error"), res.detail
    assert res.error is not None or res.payload is not None
    codec.build_mdn(res)  # an MDN can always be built


@FUZZ
@given(kind=st.sampled_from(["full", "signed", "compressed"]), ops=OPS)
def test_mutated_body(kind: str, ops: list[tuple[int, int, int]]) -> None:
    msg = world()["msgs"][kind]  # type: ignore[index]
    _check(msg.headers, _mutate(msg.body, ops))


@FUZZ
@given(kind=st.sampled_from(["full", "signed", "compressed"]), ops=OPS, b64=st.booleans())
def test_mutated_body_same_on_the_file_path(
    tmp_path_factory: pytest.TempPathFactory, kind: str, ops: list[tuple[int, int, int]], b64: bool
) -> None:
    """The file receive path (large bodies) reads the same bytes the same way: same disposition, MIC
    and payload as in memory, no exception, no temp file left (chunks are 1 MiB, so this also holds
    within one chunk only; ``test_chunk_edges`` moves the edges)."""
    w = world()
    msg = w["msgs"][kind]  # type: ignore[index]
    headers, body = dict(msg.headers), _mutate(msg.body, ops)
    if b64 and kind != "signed":  # base64 is for application/pkcs7-mime bodies
        headers["Content-Transfer-Encoding"] = "base64"
        body = _mutate(mime.wrap64(msg.body), ops)
    work = tmp_path_factory.mktemp("fuzz")
    src = work / "body"
    src.write_bytes(body)
    kw = {"resolve": lambda f, t: (w["us"], w["lax"]), "is_duplicate": lambda _m: False}
    mem = codec.parse_message(headers, body, **kw)  # type: ignore[arg-type]
    res, path = codec.parse_file(headers, str(src), out_dir=str(work), **kw)  # type: ignore[arg-type]
    payload = open(path, "rb").read() if path else None  # noqa: SIM115
    assert not res.detail.startswith("internal error"), res.detail
    assert (res.error, res.mic, payload) == (mem.error, mem.mic, mem.payload)
    assert res.detail.split(":")[0] == mem.detail.split(":")[0]  # counts in base64 errors differ
    assert sorted(p.name for p in work.iterdir()) == sorted(["body", *([Path(path).name] if path else [])])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["full", "signed", "compressed", "lf"]),
    chunk=st.integers(1, 5000),
    window=st.integers(2, 300),
    b64=st.booleans(),
)
def test_chunk_edges(
    tmp_path_factory: pytest.TempPathFactory, kind: str, chunk: int, window: int, b64: bool
) -> None:
    """Every chunk and window size gives the in-memory result: base64 quads, CRLF pairs, cipher
    blocks, padding, zlib and BER pieces cut anywhere."""
    w = world()
    msg = w["msgs"][kind]  # type: ignore[index]
    headers, body = dict(msg.headers), msg.body
    if b64 and kind != "signed":
        headers["Content-Transfer-Encoding"] = "base64"
        body = mime.wrap64(body)
    work = tmp_path_factory.mktemp("edges")
    (work / "body").write_bytes(body)
    kw = {"resolve": lambda f, t: (w["us"], w["lax"]), "is_duplicate": lambda _m: False}
    mem = codec.parse_message(headers, body, **kw)  # type: ignore[arg-type]
    saved = filebuf.CHUNK, filebuf._WINDOW
    filebuf.CHUNK, filebuf._WINDOW = chunk, window
    try:
        res, path = codec.parse_file(headers, str(work / "body"), out_dir=str(work), **kw)  # type: ignore[arg-type]
    finally:
        filebuf.CHUNK, filebuf._WINDOW = saved
    assert mem.error is None and res.error is None, (mem.detail, res.detail)
    assert res.mic == mem.mic and path is not None
    assert Path(path).read_bytes() == mem.payload


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@FUZZ
@given(
    text=st.binary(max_size=40).map(lambda b: bytes(b"QUJDRAa=\n=\r "[x % 12] for x in b)),
    cuts=st.lists(st.integers(0, 60), max_size=8),
)
def test_chunked_base64_is_a2b_base64(text: bytes, cuts: list[int]) -> None:
    try:
        want: bytes | None = binascii.a2b_base64(text)
    except binascii.Error:
        want = None
    try:
        got: bytes | None = b"".join(filebuf.b64_chunks(iter(_cut(text, cuts))))
    except As2Error:
        got = None
    assert got == want


@FUZZ
@given(
    text=st.binary(max_size=40).map(lambda b: bytes(b"a\r\n"[x % 3] for x in b)),
    cuts=st.lists(st.integers(0, 60), max_size=8),
)
def test_chunked_crlf_is_canonical(text: bytes, cuts: list[int]) -> None:
    assert b"".join(filebuf.canonical_chunks(iter(_cut(text, cuts)))) == mime.canonical(text)


@FUZZ
@given(data=st.binary(max_size=300))
def test_der_reader_on_a_file_view_agrees(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    """``der`` over a ``FileView`` (how large bodies are read) takes and refuses exactly what it does
    over bytes, and ``segments`` covers exactly what ``octets`` returns."""
    path = tmp_path_factory.mktemp("der") / "d"
    path.write_bytes(data)
    with open(path, "rb") as fh:
        view = FileView(fh.fileno(), 0, len(data))
        outcomes = []
        for buf in (data, view):
            try:
                node = der.top(buf)  # type: ignore[arg-type]
                pieces = der.segments(buf, node) if node[0] in (0x04, 0x24) else []  # type: ignore[arg-type]
                value = b"".join(data[a:b] for a, b in pieces)
                if pieces:
                    assert value == der.octets(data, node)
                outcomes.append(("ok", node, value))
            except der.DerError as e:
                outcomes.append(("error", str(e), b""))
        assert outcomes[0] == outcomes[1]


@FUZZ
@given(
    ops=OPS,
    header=st.sampled_from(["Content-Type", "AS2-From", "Message-ID", "Disposition-Notification-Options"]),
    junk=st.text(max_size=80),
)
def test_mutated_headers(ops: list[tuple[int, int, int]], header: str, junk: str) -> None:
    msg = world()["msgs"]["signed"]  # type: ignore[index]
    headers = dict(msg.headers)
    headers[header] = _mutate(headers.get(header, "x").encode(), ops).decode("latin-1") + junk
    _check(headers, msg.body)


@FUZZ
@given(data=st.binary(max_size=300))
def test_der_reader_on_random_bytes(data: bytes) -> None:
    for fn in (
        lambda d: cms_envelope.open_envelope(d, world()["us"].keys),  # type: ignore[attr-defined]
        lambda d: cms_envelope.decompress(d, 1 << 16),
        lambda d: cms_signed.verify_detached(d, [b"x"], [world()["b"].cert], utcnow()),  # type: ignore[attr-defined]
        lambda d: mime.split_entity(d),
    ):
        try:
            fn(data)
        except As2Error:
            pass


def test_deep_nesting_is_refused() -> None:
    blob = b"\x30\x80" * 200 + b"\x00\x00" * 200
    with pytest.raises(der.DerError):
        der.top(blob)


def test_zip_bomb_is_refused() -> None:
    bomb = cms_envelope.compress(b"\0" * (4 << 20))
    with pytest.raises(As2Error, match="exceeds"):
        cms_envelope.decompress(bomb, 1 << 20)


@lru_cache(maxsize=1)
def mdn_world() -> tuple[object, dict[str, str], bytes, PartnerProfile]:
    w = world()
    b = w["b"]
    a_pair = w["us"].keys[0]  # type: ignore[attr-defined]
    to_b = PartnerProfile("B", (b.cert,))  # type: ignore[attr-defined]
    out = codec.build_message(b"ISA~" * 50, sender=w["us"], receiver=to_b)  # type: ignore[arg-type]
    res = codec.parse_message(
        out.headers,
        out.body,
        resolve=lambda f, t: (LocalIdentity("B", (b,)), PartnerProfile("A", (a_pair.cert,))),  # type: ignore[arg-type]
        is_duplicate=lambda _m: False,
    )
    headers, body = codec.build_mdn(res)
    return out, headers, body, to_b


@FUZZ
@given(ops=OPS)
def test_mutated_mdn_never_raises_and_never_passes_when_changed(ops: list[tuple[int, int, int]]) -> None:
    out, headers, body, partner = mdn_world()
    assert codec.parse_mdn(headers, body, outbound=out, partner=partner).ok  # type: ignore[arg-type]
    mutated = _mutate(body, ops)
    r = codec.parse_mdn(headers, mutated, outbound=out, partner=partner)  # type: ignore[arg-type]
    if r.ok:  # only changes outside the signed part and the signature's meaning may pass
        assert r.mic_ok and r.signed
