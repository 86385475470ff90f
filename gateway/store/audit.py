"""The audit trail: append-only JSON Lines, one file per UTC day, every event hash-chained.

Each event carries ``seq`` (1, 2, 3, ... across all files), ``prev`` (the ``hash`` of the event
before it, 64 zeros for the first) and ``hash`` (SHA-256 of the event's canonical JSON without
``hash``). ``HEAD`` names the newest file and the last sequence number written at the time it was
saved (on open, on every new day and on close), so deleting the newest file is caught as well.

Appends are serialised with ``flock`` on ``<audit>/.lock``, so the daemon and ``gatewayctl`` may
both append.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import threading
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

import structlog

from gateway.store import fsio

log = structlog.get_logger()
GENESIS = "0" * 64
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\.jsonl$")


def canonical(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in event.items() if k != "hash"})).hexdigest()


def day_files(audit_dir: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(audit_dir) if DAY_RE.match(n))
    except FileNotFoundError:
        return []


def last_line(path: str) -> bytes | None:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        block = 65536
        while True:
            start = max(0, size - block)
            f.seek(start)
            data = f.read(size - start).rstrip(b"\n")
            nl = data.rfind(b"\n")
            if nl >= 0 or start == 0:
                line = data[nl + 1 :]
                return line or None
            block *= 4


class EventFields(TypedDict, total=False):
    """What an audit event says besides its type; the keyword arguments of every ``record``/``append``."""

    partner: str | None
    keys: dict[str, Any] | None  # business keys: doc_id, po_number, shipment_id, ...
    item_id: str | None  # the spool item it is about
    size: int | None  # the payload's byte count
    sha256: str | None  # the payload's SHA-256
    data: dict[str, Any] | None  # anything else, per event type
    now: datetime | None  # the event's time (default: when it is appended)


class AuditLog:
    def __init__(self, audit_dir: str, node: str, fsync: bool = True) -> None:
        self.dir = os.path.abspath(audit_dir)
        self.node = node
        self.fsync = fsync
        os.makedirs(self.dir, exist_ok=True)
        self._lock = threading.Lock()
        self._lock_fd = os.open(os.path.join(self.dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._seen: tuple[str, int] | None = None  # (file, size) our cached tail belongs to
        self._seq, self._prev = 0, GENESIS
        with self._locked():
            self._repair_tail()
            self._load_tail()
            self._save_head()

    # -- locking and tail ------------------------------------------------------------------
    def _locked(self, wait: bool = True) -> _FileLock:
        return _FileLock(self._lock, self._lock_fd, wait)

    def _repair_tail(self) -> None:
        files = day_files(self.dir)
        if not files:
            return
        path = os.path.join(self.dir, files[-1])
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                f.truncate(keep)
                os.fsync(f.fileno())
                log.warning("audit.torn_tail_removed", file=files[-1], bytes=len(data) - keep)

    def _load_tail(self) -> None:
        files = day_files(self.dir)
        self._seq, self._prev, self._seen = 0, GENESIS, None
        for name in reversed(files):
            path = os.path.join(self.dir, name)
            line = last_line(path)
            if line:
                ev = json.loads(line)
                self._seq, self._prev = int(ev["seq"]), str(ev["hash"])
                self._seen = (name, os.path.getsize(path))
                return

    def _save_head(self) -> None:
        files = day_files(self.dir)
        head = {
            "file": self._seen[0] if self._seen else (files[-1] if files else None),
            "seq": self._seq,
            "hash": self._prev,
        }
        tmp = os.path.join(self.dir, fsio.TMP_PREFIX + "HEAD")
        fsio._unlink_quiet(tmp)
        fsio.write_new(tmp, canonical(head) + b"\n", True)
        os.replace(tmp, os.path.join(self.dir, "HEAD"))
        fsio.fsync_dir(self.dir)

    # -- appending -------------------------------------------------------------------------
    def append(self, event: str, **fields: Unpack[EventFields]) -> dict[str, Any]:
        """Append one event durably and return it (with ``seq`` and ``hash``)."""
        ev, path, fd = self.stage(event, **fields)
        try:
            if self.fsync:
                os.fdatasync(fd)
        except OSError as exc:
            raise fsio._wrap(exc) from exc
        finally:
            os.close(fd)
        return ev

    def stage(
        self, event: str, *, head_start: bool = True, **fields: Unpack[EventFields]
    ) -> tuple[dict[str, Any], str, int]:
        """Append one event without waiting for the disk: return it, its day file and an open descriptor
        of that file, which the caller makes durable (``fdatasync``, or a group commit round) and closes.

        Later events only become durable together with this one (an append-only file is synced whole).
        ``head_start`` starts the writeback at once (see ``Spool.stage_put``).
        """
        with self._locked():
            ev, path, fd = self._append_locked({"event": event, **fields}, None, head_start)
        return ev, path, fd

    def stage_many(self, specs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Append several events at once, without waiting for the disk: one hold of the trail's lock
        and one open descriptor per day file, instead of a lock, a size check, an open and a close per
        event (a pipeline batch appends about ten per item, while the daemon appends too).

        Each spec holds :meth:`stage`'s keyword arguments, ``event`` included. Returns the events, in
        order, and ``{day file: open descriptor}``, which the caller makes durable and closes. On an
        error the events appended before it stay (as after single appends) and the error is raised.
        """
        out, fds = self._stage(specs, keep_going=False)
        return [ev for ev in out if not isinstance(ev, OSError)], fds  # (an error was raised)

    def stage_each(
        self, specs: list[dict[str, Any]], wait: bool = True
    ) -> tuple[list[dict[str, Any] | OSError], dict[str, int]]:
        """Like :meth:`stage_many`, but an event that cannot be appended (disk full) does not stop the
        others: its place in the returned list holds the error instead of the event. With
        ``wait=False``, :class:`TrailBusy` is raised at once, nothing appended, when another thread or
        process holds the trail's lock."""
        return self._stage(specs, keep_going=True, wait=wait)

    def _stage(
        self, specs: list[dict[str, Any]], keep_going: bool, wait: bool = True
    ) -> tuple[list[dict[str, Any] | OSError], dict[str, int]]:
        fds: dict[str, int] = {}
        out: list[dict[str, Any] | OSError] = []
        try:
            with self._locked(wait):
                for spec in specs:
                    try:
                        out.append(self._append_locked(spec, fds, False)[0])
                    except OSError as exc:
                        if not keep_going:
                            raise
                        out.append(exc)
        except BaseException:
            fsio.close_all(fds.values())
            raise
        return out, fds

    def _append_locked(
        self, spec: dict[str, Any], fds: dict[str, int] | None, head_start: bool
    ) -> tuple[dict[str, Any], str, int]:
        """Append one event (the caller holds the lock). With ``fds``, descriptors are kept there and
        reused; the file's size is then known from the last append, not asked for again."""
        when = (spec.get("now") or datetime.now(UTC)).astimezone(UTC)
        name = when.strftime("%Y-%m-%d") + ".jsonl"
        path = os.path.join(self.dir, name)
        fd = fds.get(path) if fds is not None else None
        if fd is not None and self._seen is not None and self._seen[0] == name:
            current = self._seen[1]  # we hold the lock since our last append to it
        else:
            try:
                current = os.path.getsize(path)
            except FileNotFoundError:
                current = -1
            if self._seen != (name, current):
                self._load_tail()  # another process appended, or a new day begins
        new_file = current < 0
        ev: dict[str, Any] = {
            "seq": self._seq + 1,
            "time": when.isoformat(timespec="microseconds"),
            "node": self.node,
            "event": spec["event"],
            "partner": spec.get("partner"),
            "keys": spec.get("keys") or {},
            "item_id": spec.get("item_id"),
            "bytes": spec.get("size"),
            "sha256": spec.get("sha256"),
            "prev": self._prev,
        }
        if spec.get("data"):
            ev["data"] = spec["data"]
        ev["hash"] = event_hash(ev)
        line = canonical(ev) + b"\n"
        if fd is None:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            except OSError as exc:
                raise fsio._wrap(exc) from exc
            if fds is not None:
                fds[path] = fd
        try:
            before = max(current, 0)
            try:
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, "short write to the audit trail", path)
            except OSError as exc:
                os.ftruncate(fd, before)  # never leave half a line behind
                raise fsio._wrap(exc) from exc
            if self.fsync and head_start:
                fsio.start_writeback(fd)
            self._seq, self._prev = ev["seq"], ev["hash"]
            self._seen = (name, before + len(line))
            if new_file:
                os.fdatasync(fd)
                fsio.fsync_dir(self.dir)
                self._save_head()
        except BaseException:
            if fds is None:
                os.close(fd)
            raise
        return ev, path, fd

    def close(self) -> None:
        with self._locked():
            self._load_tail()
            self._save_head()
        os.close(self._lock_fd)


class TrailBusy(Exception):
    """The trail's lock is held elsewhere and the caller asked not to wait for it."""


class _FileLock:
    def __init__(self, tlock: threading.Lock, fd: int, wait: bool = True) -> None:
        self.tlock, self.fd, self.wait = tlock, fd, wait

    def __enter__(self) -> None:
        if not self.tlock.acquire(self.wait):
            raise TrailBusy("the audit trail is being appended to by another thread")
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX if self.wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.tlock.release()
            raise TrailBusy("the audit trail is being appended to by another process") from None
        except BaseException:
            self.tlock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.tlock.release()
