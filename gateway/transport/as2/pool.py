"""Running the AS2 codecs off the reactor: a process pool sized to the cores.

Codec work (RSA, AES, SHA, MIME) is CPU-bound and holds the GIL, so it runs in worker processes; the
reactor only moves bytes. Each job carries the profiles it needs (they pickle as DER, and each worker
parses a given key once, see ``profiles``). Large bodies never cross the process boundary: the worker
reads the request body from its spool temp file and writes the payload next to it.

``CodecPool(workers=0)`` runs the same jobs in a thread of this process (tests, ``gatewayctl``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from twisted.internet import defer, threads

from gateway.transport.as2.codec import InboundResult, MdnResult, OutboundMessage, get_codec
from gateway.transport.as2.profiles import LocalIdentity, PartnerProfile

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Received:
    """What a receive job hands back: the parsed result (its payload in ``payload_path`` when the body
    came as a file), and the MDN to send once the payload is durable."""

    result: InboundResult
    payload_path: str | None
    mdn_headers: dict[str, str] | None
    mdn_body: bytes | None
    codec_seconds: float
    mdn_seconds: float


def _codec(name: str, max_size: int) -> Any:
    codec = get_codec(name)
    if hasattr(codec, "max_size"):
        codec.max_size = max_size
    return codec


def receive_job(
    codec_name: str,
    headers: dict[str, str],
    body: bytes | str,
    local: LocalIdentity,
    partner: PartnerProfile,
    duplicate: bool,
    out_dir: str | None,
    max_size: int,
) -> Received:
    """Parse one inbound message (``body`` bytes, or the path of a file holding them) and build its MDN.
    A codec that reads files (native) never holds a file body whole; the payload comes back as a file
    in ``out_dir`` either way when the body came as a file."""
    codec = _codec(codec_name, max_size)
    started = time.perf_counter()

    def resolve(f: str, t: str) -> tuple[LocalIdentity, PartnerProfile] | None:
        return (local, partner) if (f, t) == (partner.as2_id, local.as2_id) else None

    path = None
    if isinstance(body, str) and out_dir is not None and hasattr(codec, "parse_file"):
        # a large body: read, decrypted and hashed a chunk at a time, the payload written to a file
        result, path = codec.parse_file(
            headers, body, resolve=resolve, is_duplicate=lambda _: duplicate, out_dir=out_dir
        )
        parsed = time.perf_counter()
    else:
        if isinstance(body, str):
            with open(body, "rb") as fh:
                data = fh.read()
        else:
            data = body
        result = codec.parse_message(headers, data, resolve=resolve, is_duplicate=lambda _: duplicate)
        del data
        parsed = time.perf_counter()
    if result.payload is not None and out_dir is not None:
        fd, path = tempfile.mkstemp(dir=out_dir, prefix="as2-payload-")
        with os.fdopen(fd, "wb") as fh:  # type: ignore[assignment]  # a second file, written
            fh.write(result.payload)
        result = replace(result, payload=None)
    mdn_h = mdn_b = None
    if result.mdn.wanted:
        mdn_h, mdn_b = codec.build_mdn(result)
    # the caller has both profiles already: they (our private key among them) do not travel back
    result = replace(result, local=None, partner=None)
    return Received(result, path, mdn_h, mdn_b, parsed - started, time.perf_counter() - parsed)


def build_job(
    codec_name: str,
    payload: bytes,
    local: LocalIdentity,
    partner: PartnerProfile,
    filename: str | None,
    content_type: str,
) -> OutboundMessage:
    return get_codec(codec_name).build_message(
        payload, sender=local, receiver=partner, filename=filename, content_type=content_type
    )


def check_mdn_job(
    codec_name: str, headers: dict[str, str], body: bytes, outbound: OutboundMessage, partner: PartnerProfile
) -> MdnResult:
    return get_codec(codec_name).parse_mdn(headers, body, outbound=outbound, partner=partner)


def _worker_init() -> None:
    # systemd signals the whole unit: the daemon decides when its workers end (pool shutdown).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:  # but a worker never outlives its parent (a SIGKILLed daemon): Linux PR_SET_PDEATHSIG
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    import gateway.transport.as2.native  # noqa: F401  (warm the imports once)


def _noop() -> int:
    return os.getpid()


class CodecPool:
    def __init__(self, reactor: Any, workers: int | None = None) -> None:
        self.reactor = reactor
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.workers > 0 and self._executor is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["gateway.transport.as2.pool", "gateway.transport.as2.native"])
            self._executor = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init)
            for _ in range(self.workers):
                self._executor.submit(_noop)

    def stop(self) -> defer.Deferred[None]:
        executor, self._executor = self._executor, None
        if executor is None:
            return defer.succeed(None)
        return threads.deferToThread(executor.shutdown, True, cancel_futures=True)

    def run(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        if self._executor is None:
            return threads.deferToThread(fn, *args)
        d: defer.Deferred[T] = defer.Deferred()
        fut = self._executor.submit(fn, *args)

        def done(f: Future[T]) -> None:
            exc = f.exception()
            if exc is not None:
                self.reactor.callFromThread(d.errback, exc)
            else:
                self.reactor.callFromThread(d.callback, f.result())

        fut.add_done_callback(done)
        return d
