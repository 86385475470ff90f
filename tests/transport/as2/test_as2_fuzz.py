"""Hypothesis over mutated AS2 messages: every input gives a result with a clear disposition (or is
processed), never an exception, an internal error or a hang."""

from __future__ import annotations

import time
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.transport.as2 import cms_envelope, cms_signed, der, mime
from gateway.transport.as2.certs import self_signed
from gateway.transport.as2.errors import As2Error
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
    }.items():
        msg = codec.build_message(payload, sender=them, receiver=PartnerProfile("A", (a.cert,), **opts))  # type: ignore[arg-type]
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
