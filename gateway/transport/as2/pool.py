"""Running the AS2 codecs off the reactor: a process pool sized to the cores.

Codec work (RSA, AES, SHA, MIME) is CPU-bound and holds the GIL, so it runs in worker processes; the
reactor only moves bytes. Large bodies never cross the process boundary: the worker reads the request
body from its spool temp file and writes the payload next to it.

The pool is the reactor's own: each worker is a child process (``spawnProcess``) that reads jobs from
its stdin and writes results to descriptor 3, one length-prefixed pickle each way. The daemon side is
two pipe ends in the reactor's poll loop: no executor threads, no queue feeder, no hop back to the
reactor, so the daemon spends its CPU on HTTP and the store instead of on moving jobs (a
``ProcessPoolExecutor`` cost the daemon about 0.3 ms of CPU per AS2 message in two threads of its
own). Profiles (ours with the private keys, the partner's with its certificates) are sent to a worker
once and named by a number in later jobs, so a job is the message and a few small values.

``CodecPool(workers=0)`` runs the same jobs in a thread of this process (tests, ``gatewayctl``).
"""

from __future__ import annotations

import io
import itertools
import os
import pickle
import signal
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import structlog
from twisted.internet import defer, protocol, threads
from twisted.internet.interfaces import IWriteDescriptor
from zope.interface import implementer

from gateway.service.notify import child_env
from gateway.transport.as2.codec import InboundResult, MdnResult, OutboundMessage, get_codec
from gateway.transport.as2.profiles import LocalIdentity, PartnerProfile

T = TypeVar("T")
log = structlog.get_logger()


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


class WorkerLost(RuntimeError):
    """A codec worker ended while it held the job (killed, or crashed in native code)."""


# -- the wire: a frame is a 4-byte big-endian length and that many bytes ---------------------------
_LEN = struct.Struct(">I")
_JOB = struct.Struct(">QQI")  # a job frame's head: job id, table generation, length of the profile defs
JOB_FD, RESULT_FD = 0, 3  # in the worker: jobs come in on stdin, results go out on descriptor 3
SHARED = (LocalIdentity, PartnerProfile)  # sent once per worker, then named by a number
TABLE_MAX = 256  # profiles remembered; a longer-lived daemon starts a new table (config reloads)


def _frame(data: bytes) -> bytes:
    return _LEN.pack(len(data)) + data


class _JobPickler(pickle.Pickler):
    """Pickles a job; a profile the worker knows becomes its number (``persistent_id``)."""

    def __init__(self, file: io.BytesIO, names: dict[int, tuple[object, int]]) -> None:
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.names = names

    def persistent_id(self, obj: object) -> int | None:
        hit = self.names.get(id(obj)) if type(obj) in SHARED else None
        return hit[1] if hit is not None and hit[0] is obj else None


def _worker_main() -> None:
    """A codec worker: run jobs from stdin until it closes; results go to descriptor 3."""
    # systemd signals the whole unit: the daemon decides when its workers end (it closes their stdin).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:  # but a worker never outlives its parent (a SIGKILLed daemon): Linux PR_SET_PDEATHSIG
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    import gateway.transport.as2.native  # noqa: F401  (warm the imports before the first job)

    jobs = os.fdopen(JOB_FD, "rb", buffering=1 << 16)
    out = os.fdopen(RESULT_FD, "wb", buffering=0)
    known: dict[int, object] = {}
    generation = -1
    while True:
        head = jobs.read(_LEN.size)
        if len(head) < _LEN.size:
            return  # the daemon closed our stdin: stop
        body = memoryview(jobs.read(_LEN.unpack(head)[0]))
        job_id, gen, defs_len = _JOB.unpack_from(body)
        defs, job = body[_JOB.size : _JOB.size + defs_len], body[_JOB.size + defs_len :]
        if gen != generation:
            known.clear()
            generation = gen
        if defs:
            known.update(pickle.loads(defs))
        try:
            unpickler = pickle.Unpickler(io.BytesIO(job))
            unpickler.persistent_load = known.__getitem__  # type: ignore[method-assign]  # pickle's hook
            fn, args = unpickler.load()
            reply = (job_id, True, fn(*args))
        except Exception as exc:  # the job's error goes back to the caller, the worker goes on
            reply = (job_id, False, exc)
        try:
            data = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an error (or result) that does not pickle: say what it was
            data = pickle.dumps((job_id, False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        out.write(_frame(data))


@implementer(IWriteDescriptor)
class _JobPipe:
    """The daemon's end of a worker's job pipe. A frame is written at once when nothing waits before it:
    one system call, where Twisted's process writer buffers it, asks the poller to watch the pipe, and
    writes and unwatches on the next turn of the loop (three system calls and a loop turn per job).
    What the pipe cannot take yet waits here, in order, and goes out as it drains."""

    def __init__(self, reactor: Any, fd: int) -> None:
        self.reactor = reactor
        self.fd = fd
        self.waiting = bytearray()
        self.closing = False

    def write(self, data: bytes) -> None:
        if self.fd < 0 or self.closing:
            return  # the worker is gone or going: its jobs fail with WorkerLost
        if not self.waiting:
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                n = 0
            except OSError:  # the worker ended (EPIPE): processEnded fails its jobs
                self._close()
                return
            if n == len(data):
                return
            self.reactor.addWriter(self)
            data = data[n:]
        self.waiting += data

    def close(self) -> None:
        """End of jobs: the worker stops once it has read what waits here."""
        self.closing = True
        if not self.waiting:
            self._close()

    def _close(self) -> None:
        if self.fd < 0:
            return
        if self.waiting:
            self.reactor.removeWriter(self)
            self.waiting.clear()
        os.close(self.fd)
        self.fd = -1

    # IWriteDescriptor, for the reactor while frames wait
    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "as2-codec-jobs"

    def doWrite(self) -> None:
        try:
            n = os.write(self.fd, self.waiting)
        except BlockingIOError:
            return
        except OSError:
            self._close()
            return
        del self.waiting[:n]
        if not self.waiting:
            self.reactor.removeWriter(self)
            if self.closing:
                self._close()

    def connectionLost(self, reason: Any) -> None:
        self.waiting.clear()
        self._close()


class _Worker(protocol.ProcessProtocol):
    """One worker process as the reactor sees it: jobs written to its stdin, results read from fd 3."""

    def __init__(self, pool: CodecPool) -> None:
        self.pool = pool
        self.pending: dict[int, defer.Deferred[Any]] = {}
        self.sent: set[int] = set()  # profile numbers this worker has
        self.buf = bytearray()
        self.gone: defer.Deferred[None] = defer.Deferred()
        self.alive = True
        self.proc: Any = None  # the IProcessTransport, set by spawnProcess
        self.jobs: _JobPipe | None = None  # its stdin, set by spawnProcess

    def send(self, job_id: int, d: defer.Deferred[Any], gen: int, defs: bytes, job: bytes) -> None:
        assert self.jobs is not None
        self.pending[job_id] = d
        self.jobs.write(_frame(_JOB.pack(job_id, gen, len(defs)) + defs + job))

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD != RESULT_FD:
            return
        buf = self.buf
        buf += data
        at = 0
        while len(buf) - at >= _LEN.size:
            (size,) = _LEN.unpack_from(buf, at)
            end = at + _LEN.size + size
            if len(buf) < end:
                break
            job_id, ok, value = pickle.loads(memoryview(buf)[at + _LEN.size : end])
            at = end
            d = self.pending.pop(job_id, None)
            if d is not None:
                d.callback(value) if ok else d.errback(value)
        del buf[:at]

    def childConnectionLost(self, childFD: int) -> None:
        if childFD == RESULT_FD:
            self._lost()

    def processEnded(self, reason: Any) -> None:
        self._lost()

    def _lost(self) -> None:
        if not self.alive:
            return
        self.alive = False
        if self.jobs is not None:
            self.jobs.connectionLost(None)
        pending, self.pending = self.pending, {}
        self.pool._worker_lost(self, len(pending))  # first: a caller that retries gets a live worker
        for d in pending.values():
            d.errback(WorkerLost("the codec worker ended while it held this job"))
        self.gone.callback(None)


class CodecPool:
    def __init__(self, reactor: Any, workers: int | None = None) -> None:
        self.reactor = reactor
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._procs: list[_Worker] = []
        self._running = False
        self._ids = itertools.count(1)
        self._names: dict[int, tuple[object, int]] = {}  # id(profile) -> (profile, number)
        self._numbers = itertools.count(1)
        self._generation = 0

    def start(self) -> None:
        if self.workers > 0 and not self._running:
            self._running = True
            for _ in range(self.workers):
                self._spawn()

    def _spawn(self) -> None:
        w = _Worker(self)
        r, wr = os.pipe2(os.O_CLOEXEC)  # the job pipe is ours (see _JobPipe); the child gets r as stdin
        try:
            w.proc = self.reactor.spawnProcess(
                w,
                sys.executable,
                [sys.executable, "-c", "from gateway.transport.as2.pool import _worker_main; _worker_main()"],
                env=child_env(),
                childFDs={JOB_FD: r, 1: 1, 2: 2, RESULT_FD: "r"},
            )
        except BaseException:
            os.close(wr)
            raise
        finally:
            os.close(r)
        os.set_blocking(wr, False)
        w.jobs = _JobPipe(self.reactor, wr)
        self._procs.append(w)

    def _worker_lost(self, w: _Worker, jobs: int) -> None:
        if w in self._procs:
            self._procs.remove(w)
        if self._running:
            log.error("as2_codec_worker_lost", jobs_failed=jobs)
            try:
                self._spawn()
            except Exception as exc:  # noqa: BLE001  (out of processes or descriptors: jobs run in threads)
                log.error("as2_codec_worker_not_replaced", error=str(exc), workers=len(self._procs))

    def stop(self) -> defer.Deferred[None]:
        """Let every worker finish what it holds and end (their stdin is closed); a worker that has not
        ended after 30 s is killed."""
        self._running = False
        procs, self._procs = self._procs, []
        if not procs:
            return defer.succeed(None)
        for w in procs:
            if w.jobs is not None:
                w.jobs.close()

        def kill() -> None:
            for w in procs:
                if w.alive:
                    try:
                        w.proc.signalProcess("KILL")
                    except Exception:  # noqa: BLE001  (ended meanwhile)
                        pass

        call = self.reactor.callLater(30, kill)
        done = defer.DeferredList([w.gone for w in procs])
        done.addBoth(lambda _: call.active() and call.cancel())
        return done.addCallback(lambda _: None)

    def run(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Run ``fn(*args)`` in the worker with the fewest jobs; in a thread when there is no worker
        (``workers=0``, not started, or none could be spawned again)."""
        if not self._running or not self._procs:
            return threads.deferToThread(fn, *args)
        w = min(self._procs, key=lambda p: len(p.pending))
        defs = self._defs_for(w, args)
        buf = io.BytesIO()
        _JobPickler(buf, self._names).dump((fn, args))
        d: defer.Deferred[T] = defer.Deferred()
        w.send(next(self._ids), d, self._generation, defs, buf.getvalue())
        return d

    def _defs_for(self, w: _Worker, args: tuple[Any, ...]) -> bytes:
        """The profiles among ``args`` that ``w`` has not been sent yet, pickled (b"" if none)."""
        new: dict[int, object] = {}
        if len(self._names) + len(args) > TABLE_MAX:  # start over: every worker gets a fresh table
            self._names.clear()
            self._generation += 1
            for p in self._procs:
                p.sent.clear()
        for a in args:
            if type(a) not in SHARED:
                continue
            hit = self._names.get(id(a))
            if hit is None or hit[0] is not a:
                hit = self._names[id(a)] = (a, next(self._numbers))
            if hit[1] not in w.sent:
                new[hit[1]] = a
        if not new:
            return b""
        w.sent.update(new)
        return pickle.dumps(new, pickle.HIGHEST_PROTOCOL)
