"""The codec process pool: the whole receive path runs in workers while the reactor keeps ticking."""

from __future__ import annotations

import os
import signal
import time

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from gateway.transport.as2.codec import DEFAULT_MAX_SIZE
from gateway.transport.as2.native import NativeCodec
from gateway.transport.as2.pool import CodecPool, WorkerLost, check_mdn_job, receive_job

from .conftest import Party, identity, profile


@pytest_twisted.ensureDeferred
async def test_receive_in_pool_while_reactor_ticks(us: Party, them: Party) -> None:
    pool = CodecPool(reactor, workers=2)
    pool.start()
    ticks = []
    loop = task.LoopingCall(lambda: ticks.append(1))
    loop.clock = reactor
    loop.start(0.01)
    try:
        payloads = [b"ISA*%d~" % i * 100 for i in range(12)]
        outs = [
            NativeCodec().build_message(
                p, sender=identity(them, "PARTNER"), receiver=profile(us, "ACMEVENDOR")
            )
            for p in payloads
        ]
        for name in ("native", "pyas2lib"):
            got = []
            for out in outs:
                got.append(
                    await pool.run(receive_job, name, out.headers, out.body, identity(us, "ACMEVENDOR"),
                                   profile(them, "PARTNER"), False, None, DEFAULT_MAX_SIZE)
                )
            assert [g.result.payload for g in got] == payloads
            assert all(g.result.ok and g.result.mic == o.mic for g, o in zip(got, outs, strict=True))
            mdn = got[0]
            assert mdn.mdn_headers is not None and mdn.mdn_body is not None
            checked = await pool.run(check_mdn_job, name, mdn.mdn_headers, mdn.mdn_body, outs[0],
                                     profile(us, "ACMEVENDOR"))
            assert checked.ok, checked.error
        # A partner the caller could not resolve: the job answers with the codec's own refusal.
        other = profile(them, "SOMEONEELSE")
        unknown = await pool.run(receive_job, "native", outs[0].headers, outs[0].body, identity(us, "ACMEVENDOR"),
                                 other, False, None, DEFAULT_MAX_SIZE)
        assert unknown.result.error == "unknown-trading-partner" and unknown.mdn_body is not None
    finally:
        loop.stop()
        await pool.stop()
    assert len(ticks) > 3


@pytest_twisted.ensureDeferred
async def test_a_job_error_comes_back_and_a_killed_worker_is_replaced() -> None:
    """A job's exception reaches its caller; a worker killed while it holds a job fails that job
    (WorkerLost) and is replaced, and the pool goes on answering."""
    pool = CodecPool(reactor, workers=2)
    pool.start()
    try:
        with pytest.raises(ValueError, match="invalid literal"):
            await pool.run(int, "not a number")
        assert await pool.run(int, "42") == 42
        slow = pool.run(time.sleep, 30)  # goes to the idle worker with no job
        holder = next(w for w in pool._procs if w.pending)
        os.kill(holder.proc.pid, signal.SIGKILL)
        with pytest.raises(WorkerLost):
            await slow
        for _ in range(100):  # the replacement is spawned once the loss is seen
            if len(pool._procs) == 2:
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        assert len(pool._procs) == 2 and holder not in pool._procs
        assert [await pool.run(abs, -i) for i in range(6)] == list(range(6))
    finally:
        await pool.stop()
    assert pool._procs == []


@pytest_twisted.ensureDeferred
async def test_profiles_travel_once_per_worker(us: Party, them: Party) -> None:
    """The profiles of a job are sent to each worker once; later jobs name them by number."""
    pool = CodecPool(reactor, workers=1)
    pool.start()
    ours, theirs = identity(us, "ACMEVENDOR"), profile(them, "PARTNER")
    try:
        out = NativeCodec().build_message(b"ISA*1~", sender=identity(them, "PARTNER"), receiver=profile(us, "ACMEVENDOR"))
        w = pool._procs[0]
        assert w.sent == set()
        got = await pool.run(receive_job, "native", out.headers, out.body, ours, theirs, False, None,
                             DEFAULT_MAX_SIZE)
        assert len(w.sent) == 2  # both profiles went with the first job
        assert pool._defs_for(w, (ours, theirs)) == b""  # and need not go again
        again = await pool.run(receive_job, "native", out.headers, out.body, ours, theirs, False, None,
                               DEFAULT_MAX_SIZE)
        assert got.result.ok and again.result.ok and again.result.payload == b"ISA*1~"
    finally:
        await pool.stop()


@pytest_twisted.ensureDeferred
async def test_job_pipe_keeps_what_the_pipe_cannot_take_in_order_and_closes_after_it() -> None:
    """More than a pipe holds is written: the rest waits, goes out in order as the reader drains the
    pipe, and a close asked for meanwhile comes only after the last byte."""
    from gateway.transport.as2.pool import _JobPipe

    r, w = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(w, False)
    pipe = _JobPipe(reactor, w)
    frames = [bytes([i]) * 50_000 for i in range(1, 7)]  # 300 KB: a Linux pipe holds 64 KB
    for f in frames:
        pipe.write(f)
    assert pipe.waiting  # the pipe is full: the rest waits for the reactor
    pipe.close()
    assert pipe.fd == w  # not closed while bytes wait
    got = bytearray()
    os.set_blocking(r, False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            chunk = os.read(r, 1 << 16)
        except BlockingIOError:
            await task.deferLater(reactor, 0.001, lambda: None)
            continue
        if not chunk:
            break  # the write end closed: after everything
        got += chunk
    os.close(r)
    assert bytes(got) == b"".join(frames)
    assert pipe.fd == -1 and not pipe.waiting


def test_job_pipe_to_a_reader_that_is_gone_drops_the_frame_quietly() -> None:
    from gateway.transport.as2.pool import _JobPipe

    r, w = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(w, False)
    os.close(r)
    pipe = _JobPipe(reactor, w)
    pipe.write(b"job")  # EPIPE: the worker ended; its jobs fail through processEnded, not here
    assert pipe.fd == -1
    pipe.write(b"next")  # and nothing more is tried
    assert pipe.fd == -1 and not pipe.waiting
