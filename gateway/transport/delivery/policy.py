"""Retry policy: exponential backoff with jitter, and which failures are worth retrying."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    retry: bool = True  # only meaningful when not ok
    status: int | None = None  # HTTP status, when there was one
    detail: str = ""


def http_outcome(status: int, body: bytes = b"") -> Outcome:
    """2xx succeeds; 408, 429 and 5xx are retried; any other 4xx (and 3xx) is a permanent refusal."""
    text = body[:300].decode("utf-8", "replace").strip()
    if 200 <= status < 300:
        return Outcome(True, status=status)
    retry = status in (408, 425, 429) or status >= 500
    return Outcome(False, retry=retry, status=status, detail=f"HTTP {status}" + (f": {text}" if text else ""))


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 2.0
    factor: float = 2.0
    maximum: float = 600.0
    jitter: float = 0.5  # the delay is drawn uniformly from [delay * (1 - jitter), delay]

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        r = (rng or random).random()
        return base * (1 - self.jitter * r)
