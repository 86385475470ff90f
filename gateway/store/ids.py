"""Spool item ids: sortable by creation time, unique across processes and restarts.

Form: ``20260513T101530123456Z-9f3a1c07b2`` (UTC to the microsecond, then 40 random bits drawn once
per process, then nothing else). Within a process the time part is strictly increasing, so two ids
never collide; across processes the random part separates them.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import UTC, datetime

ID_RE = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{10}$")

_lock = threading.Lock()
_last_us = 0
_token = os.urandom(5).hex()
_stamp_s, _stamp = -1, ""  # the last second formatted, and its text (strftime is most of an id's cost)


def _forked() -> None:
    """A forked child gets a token of its own and has issued nothing yet."""
    global _lock, _last_us, _token
    _lock = threading.Lock()  # another thread may have held it at the fork
    _last_us, _token = 0, os.urandom(5).hex()


os.register_at_fork(after_in_child=_forked)


def _second(s: int) -> str:
    global _stamp_s, _stamp
    if s != _stamp_s:
        _stamp_s, _stamp = s, datetime.fromtimestamp(s, UTC).strftime("%Y%m%dT%H%M%S")
    return _stamp


def new_id() -> str:
    global _last_us
    with _lock:
        now_us = time.time_ns() // 1000
        _last_us = max(now_us, _last_us + 1)
        us = _last_us
        token = _token
        stamp = _second(us // 1_000_000)
    return f"{stamp}{us % 1_000_000:06d}Z-{token}"


def process_token() -> str:
    """The random part of every id this process makes (``new_id``)."""
    return _token


def last_issued() -> str:
    """The newest id this process has made (``""`` before the first); every id made later sorts after it."""
    with _lock:
        if not _last_us:
            return ""
        us = _last_us
        stamp = _second(us // 1_000_000)
    return f"{stamp}{us % 1_000_000:06d}Z-{_token}"


def is_id(name: str) -> bool:
    return bool(ID_RE.match(name))


def id_time(item_id: str) -> datetime:
    return datetime.strptime(item_id[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
