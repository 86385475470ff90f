"""A small AS2 load generator: pre-built messages posted over keep-alive HTTP/1.1 with N in flight.

Messages are built before the clock starts (signed + encrypted, signed sync MDN requested), so the
client costs little while it runs: each response is checked by text (HTTP 200, disposition exactly
``processed``, Received-Content-MIC equal to the MIC of the message) and a sample of MDNs is verified
cryptographically afterwards by the caller. Bounded: every message is posted once; 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

_DISP = re.compile(rb"Disposition:[^\r\n;]*;\s*([^\r\n]+)", re.I)
_MIC = re.compile(rb"Received-Content-MIC:\s*([^,\r\n]+)", re.I)


@dataclass(frozen=True, slots=True)
class Prebuilt:
    headers: dict[str, str]
    body: bytes
    mic: str


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    bad: list[str] = field(default_factory=list)
    seconds: float = 0.0
    mdns: list[tuple[dict[str, str], bytes]] = field(default_factory=list)  # a sample, for verification

    def pct(self, p: float) -> float:
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(p / 100 * len(s)))] if s else float("nan")

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def _request(host: str, port: int, path: str, msg: Prebuilt) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(msg.body)}"]
    lines += [f"{k}: {v}" for k, v in msg.headers.items() if k.lower() != "content-length"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + msg.body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.read()
    return status, headers, body


async def _worker(
    host: str, port: int, path: str, queue: asyncio.Queue[Prebuilt], run: Run, sample: int
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                msg = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            writer.write(_request(host, port, path, msg))
            await writer.drain()
            status, headers, body = await _read_response(reader)
            run.latencies.append(time.perf_counter() - t0)
            disp, mic = _DISP.search(body), _MIC.search(body)
            if status != 200:
                run.bad.append(f"HTTP {status}: {body[:120]!r}")
            elif disp is None or disp.group(1).strip() != b"processed":
                run.bad.append(f"disposition {disp.group(1) if disp else None!r}")
            elif mic is None or mic.group(1).strip().decode() != msg.mic:
                run.bad.append("MIC differs")
            else:
                run.ok += 1
                if len(run.mdns) < sample:
                    run.mdns.append(({"Content-Type": headers.get("content-type", "")}, body))
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def _post_all(host: str, port: int, path: str, msgs: list[Prebuilt], inflight: int, sample: int) -> Run:
    queue: asyncio.Queue[Prebuilt] = asyncio.Queue()
    for m in msgs:
        queue.put_nowait(m)
    run = Run()
    t0 = time.perf_counter()
    await asyncio.gather(*(_worker(host, port, path, queue, run, sample) for _ in range(inflight)))
    run.seconds = time.perf_counter() - t0
    return run


def post_all(port: int, msgs: list[Prebuilt], inflight: int = 8, path: str = "/as2", sample: int = 5) -> Run:
    return asyncio.run(_post_all("127.0.0.1", port, path, msgs, inflight, sample))
