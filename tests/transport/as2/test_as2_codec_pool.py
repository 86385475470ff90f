"""The codec process pool: the whole receive path runs in workers while the reactor keeps ticking."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor, task

from gateway.transport.as2.codec import DEFAULT_MAX_SIZE
from gateway.transport.as2.native import NativeCodec
from gateway.transport.as2.pool import CodecPool, check_mdn_job, receive_job

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
