"""Run codec work in a process pool sized to the cores, so the reactor keeps answering.

Codec work is CPU-bound and mostly holds the GIL (MIME, ASN.1, base64, hashing small buffers), so
threads would not scale. Arguments and results cross the process boundary by pickle; profiles pickle
as DER and are parsed once per worker (see ``profiles``). Results come back as Deferreds, fired on
the reactor thread.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool

from gateway.transport.as2.codec import InboundResult, MdnResult, OutboundMessage, get_codec
from gateway.transport.as2.profiles import LocalIdentity, PartnerProfile

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Received:
    result: InboundResult  # with ``local`` and ``partner`` left out (the caller passed them in)
    mdn_headers: dict[str, str] | None  # None when the sender asked for no MDN
    mdn_body: bytes | None


def receive(
    codec_name: str,
    headers: Mapping[str, str],
    body: bytes,
    local: LocalIdentity | None,
    partner: PartnerProfile | None,
    duplicate: bool,
) -> Received:
    """Parse a message and build its MDN (the whole receive path); runs in a worker."""
    found = (local, partner) if local is not None and partner is not None else None
    codec = get_codec(codec_name)
    result = codec.parse_message(
        headers, body, resolve=lambda _f, _t: found, is_duplicate=lambda _m: duplicate
    )
    mdn_headers = mdn_body = None
    if result.mdn.wanted:
        mdn_headers, mdn_body = codec.build_mdn(result)
    # Profiles hold keys: do not ship them back through the pipe for nothing.
    return Received(replace(result, local=None, partner=None), mdn_headers, mdn_body)


def build(
    codec_name: str, payload: bytes, sender: LocalIdentity, receiver: PartnerProfile, **kw: Any
) -> OutboundMessage:
    return get_codec(codec_name).build_message(payload, sender=sender, receiver=receiver, **kw)


def check_mdn(
    codec_name: str,
    headers: Mapping[str, str],
    body: bytes,
    outbound: OutboundMessage,
    partner: PartnerProfile,
) -> MdnResult:
    return get_codec(codec_name).parse_mdn(headers, body, outbound=outbound, partner=partner)


class CodecPool:
    """``await pool.receive(...)`` from ``async def`` code on the reactor."""

    def __init__(self, reactor: Any, workers: int | None = None) -> None:
        """``reactor`` provides IReactorFromThreads and IReactorThreads."""
        self._reactor = reactor
        # spawn, not fork: the parent runs a reactor and threads.
        self._executor = ProcessPoolExecutor(
            max_workers=workers or os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")
        )

    def _run(self, fn: Callable[..., T], *args: Any, **kw: Any) -> Deferred[T]:
        d: Deferred[T] = Deferred()
        future = self._executor.submit(fn, *args, **kw)

        def done(f: Future[T]) -> None:
            exc = f.exception()
            if exc is not None:
                self._reactor.callFromThread(d.errback, exc)
            else:
                self._reactor.callFromThread(d.callback, f.result())

        future.add_done_callback(done)
        return d

    def receive(
        self,
        codec_name: str,
        headers: Mapping[str, str],
        body: bytes,
        local: LocalIdentity | None,
        partner: PartnerProfile | None,
        duplicate: bool,
    ) -> Deferred[Received]:
        return self._run(receive, codec_name, dict(headers), body, local, partner, duplicate)

    def build(
        self, codec_name: str, payload: bytes, sender: LocalIdentity, receiver: PartnerProfile, **kw: Any
    ) -> Deferred[OutboundMessage]:
        return self._run(build, codec_name, payload, sender, receiver, **kw)

    def check_mdn(
        self,
        codec_name: str,
        headers: Mapping[str, str],
        body: bytes,
        outbound: OutboundMessage,
        partner: PartnerProfile,
    ) -> Deferred[MdnResult]:
        return self._run(check_mdn, codec_name, dict(headers), body, outbound, partner)

    def shutdown(self) -> Deferred[None]:
        """Wait for running work to finish (queued work is cancelled), off the reactor thread."""
        return deferToThreadPool(
            self._reactor,
            self._reactor.getThreadPool(),
            self._executor.shutdown,
            wait=True,
            cancel_futures=True,
        )
