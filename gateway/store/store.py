"""The store facade: spool + index + audit trail, opened together under the spool lock.

Every operation that changes what the gateway knows appends an audit event first and then
projects it into the index, so the trail alone can rebuild the index. All methods block (fsync,
SQLite); the daemon calls them off the reactor thread. They are safe to call from several threads.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Unpack

import structlog

from gateway.store import fsio
from gateway.store.audit import AuditLog, EventFields, TrailBusy, day_files
from gateway.store.controlnumbers import ControlNumbers
from gateway.store.events import EventWriter
from gateway.store.ids import id_time
from gateway.store.index import Index
from gateway.store.intake import Arrival, Intake
from gateway.store.later import LaterIndex
from gateway.store.lock import SpoolLock
from gateway.store.rebuild import CATCH_UP_WINDOW, catch_up
from gateway.store.recovery import RecoveryReport, recover
from gateway.store.spool import Spool, SpoolItem, Staged
from gateway.transport.inbox import Received

if TYPE_CHECKING:
    from gateway.store.batch import Batch

log = structlog.get_logger()
DIRTY = ".open"


def _one(results: list[str | Exception]) -> str:
    if isinstance(results[0], Exception):
        raise results[0]
    return results[0]


def _run_started(marker: str) -> str:
    """The id prefix (UTC, to the second) of the moment the crashed run opened, one minute early."""
    try:
        at = datetime.fromtimestamp(os.stat(marker).st_mtime, UTC) - timedelta(minutes=1)
    except OSError:
        return ""
    return at.strftime("%Y%m%dT%H%M%S")


@dataclass
class StagedArrivals:
    """Arrivals staged by :meth:`Store.stage_arrivals`, waiting for their durability round. ``out``
    holds, per arrival, the error that kept it out (or None until the round gives its item id);
    ``ok`` the staged items with their events; ``unrecorded`` staged items whose events the round
    appends first (the trail was busy); ``fds`` the trail's open day files, synced in the round."""

    out: list[str | Exception | None]
    ok: list[tuple[int, Staged, dict[str, Any]]] = field(default_factory=list)
    unrecorded: list[tuple[int, Staged]] = field(default_factory=list)
    fds: dict[str, int] = field(default_factory=dict)


class Store(EventWriter):
    def __init__(self, spool: Spool, index: Index, audit: AuditLog, lock: SpoolLock, node: str) -> None:
        self.spool, self.index, self.audit, self._lock, self.node = spool, index, audit, lock, node
        self.control_numbers = ControlNumbers(self)
        self.recovery = RecoveryReport()
        self.index_stale = False
        self._attached = False
        # called after every batch round that stored new items (the pipeline worker reports them durable)
        self.after_commit: Callable[[], None] | None = None
        self.later = LaterIndex(self.index.apply_many, self._later_failed)
        # what transports receive, written in batches by one thread (see gateway.store.intake)
        self.intake = Intake(self.stage_arrivals, lambda batches: self.commit_arrivals(batches, index_later=True))

    @classmethod
    def open(
        cls,
        spool_dir: str,
        audit_dir: str,
        index_path: str,
        node: str = "gw1",
        sync: str = "auto",
        audit_fsync: bool = True,
    ) -> Store:
        """Lock the spool (``StoreLocked`` if another process holds it), recover, open index and trail."""
        os.makedirs(spool_dir, exist_ok=True)
        lock = SpoolLock(spool_dir)
        lock.acquire(node)
        try:
            dirty = os.path.join(spool_dir, DIRTY)
            unclean = os.path.exists(dirty)
            spool = Spool(spool_dir, sync)
            report = recover(spool, unclean, _run_started(dirty) if unclean else "")
            if not unclean:
                fsio.write_new(dirty, f"{os.getpid()}\n".encode(), True)
                fsio.fsync_dir(spool.root)
            os.makedirs(os.path.dirname(os.path.abspath(index_path)), exist_ok=True)
            store = cls(spool, Index(index_path), AuditLog(audit_dir, node, fsync=audit_fsync), lock, node)
            store.recovery = report
            caught_up = catch_up(spool, audit_dir, store.index, CATCH_UP_WINDOW if unclean else 0)
            if caught_up:
                log.warning("index.caught_up", events=caught_up)
            store._audit_unrecorded_arrivals()
            for item_id in report.requeued:
                store.record("item.requeued", item_id=item_id, data={"reason": "in work/ at restart"})
            for item_id in report.quarantined:
                store.record(
                    "item.failed", item_id=item_id, data={"reason": "payload without meta after a crash"}
                )
        except BaseException:
            lock.release()
            raise
        log.info("store.opened", spool=spool.root, unclean=unclean, node=node)
        return store

    @classmethod
    def attach(
        cls, spool_dir: str, audit_dir: str, index_path: str, node: str = "gatewayctl", sync: str = "auto"
    ) -> Store:
        """Open beside a running daemon, for operator commands and the pipeline worker: no lock, no
        recovery (the daemon holds the lock and recovered at its start).

        Safe for reads, for ``replay`` (a move out of ``failed/``, which the daemon never touches), for
        audit appends (serialised across processes by the trail's own lock) and for the pipeline's
        work on the items the daemon hands to its worker.
        """
        if not os.path.isdir(spool_dir):
            raise FileNotFoundError(f"no spool at {spool_dir!r}")
        store = cls(
            Spool(spool_dir, sync), Index(index_path), AuditLog(audit_dir, node), SpoolLock(spool_dir), node
        )
        store._attached = True
        return store

    def close(self) -> None:
        self.intake.close()
        self.later.close()
        self.index.close()
        self.audit.close()
        self.spool.close()
        if not self._attached:
            fsio._unlink_quiet(os.path.join(self.spool.root, DIRTY))
            fsio.fsync_dir(self.spool.root)
            self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one write path ------------------------------------------------------------------
    def record(self, event: str, *, body: dict[str, Any] | None = None, **fields: Unpack[EventFields]) -> dict[str, Any]:
        """Append an audit event, then project it into the index.

        The event's durability round is shared with every thread recording or accepting at the same
        time (see :mod:`gateway.store.commit`); it returns once the event is on disk.
        """
        ev, path, fd = self.audit.stage(event, **fields)
        try:
            if self.audit.fsync:
                self.spool.group_commit.sync({path: fd})
        finally:
            os.close(fd)
        self._apply(ev, body)
        return ev

    def _apply(self, ev: dict[str, Any], body: dict[str, Any] | None = None) -> None:
        try:
            self.index.apply(ev, body)
        except sqlite3.Error as exc:
            # The event is on record; the index catches up with `gatewayctl index rebuild`.
            self.index_stale = True
            log.error("index.apply_failed", event_type=ev["event"], seq=ev["seq"], error=str(exc))

    # -- inbound (the transport.inbox.Inbox protocol) ------------------------------------------
    def _received_meta(self, received: Received) -> dict[str, Any]:
        meta = {
            "partner": received.partner,
            "transport": received.transport,
            "message_id": received.message_id,
        }
        if received.filename:
            meta["filename"] = received.filename
        if received.extra:
            meta["extra"] = json.loads(json.dumps(received.extra, default=str))
        return meta

    def _later_failed(self, events: list[dict[str, Any]], exc: Exception) -> None:
        self.index_stale = True  # the events are on record; `gatewayctl index rebuild` catches up
        log.error("index.apply_failed", events=len(events), first_seq=events[0]["seq"], error=str(exc))

    def message_received(self, partner: str, message_id: str) -> bool:
        """Whether a message with this id came in from ``partner`` (index, or arrivals still queued
        for it by ``accept(..., index_later=True)``)."""
        return self.later.has_message(partner, message_id) or \
            self.index.message(partner, message_id, "in") is not None

    def _received_event(self, item_id: str, meta: dict[str, Any]) -> dict[str, Any]:
        keys = {k: meta[k] for k in ("message_id", "filename") if meta.get(k)}
        return {
            "partner": meta.get("partner"),
            "keys": keys,
            "item_id": item_id,
            "size": meta["size"],
            "sha256": meta["sha256"],
            # What the transport established (AS2: cipher, digest, MIC, signer) is on record with the
            # item itself, in the same durability round.
            "data": {"transport": meta.get("transport"), "state": meta["state"],
                     **({"received": meta["extra"]} if meta.get("extra") else {})},
        }

    def _audit_received(self, item_id: str, meta: dict[str, Any]) -> None:
        self.record("item.received", **self._received_event(item_id, meta))

    def accept(self, payload: bytes, received: Received, index_later: bool = False) -> str:
        """Store what a transport received in ``in/``, audited; return the item id once both the item
        and its ``item.received`` event are durable (one shared durability round).

        ``index_later`` leaves the event's index row to a background thread (see
        :mod:`gateway.store.later`), so the caller can answer its partner without waiting for the
        index; :meth:`message_received` knows the arrival either way."""
        return _one(self.accept_many([(payload, None, received)], index_later))

    def accept_file(self, path: str, received: Received, index_later: bool = False) -> str:
        """Like :meth:`accept`, moving the file at ``path`` into the spool."""
        return _one(self.accept_many([(None, path, received)], index_later))

    def accept_many(self, arrivals: Sequence[Arrival], index_later: bool = False) -> list[str | Exception]:
        """:meth:`accept` (``payload``) or :meth:`accept_file` (``path``) for several arrivals at once:
        one hold of the audit trail's lock and one durability round for all of them. Returns, in order,
        each arrival's item id, or the exception that kept it out (nothing of it stays behind then)."""
        return self.commit_arrivals([self.stage_arrivals(arrivals)], index_later)[0]

    def stage_arrivals(self, arrivals: Sequence[Arrival], wait: bool = True) -> StagedArrivals:
        """The first half of :meth:`accept_many`: the items written (not durable yet, not listed) and
        their ``item.received`` events appended under one hold of the trail's lock. An arrival that
        cannot be staged has its error in its place, and nothing of it stays behind.

        With ``wait=False`` the call never waits for the trail's lock: if another thread or process
        holds it, the items are written and their events left for :meth:`commit_arrivals` to append.
        That is how an arrival can be staged on the reactor (see ``SpoolInbox.submit_file``)."""
        batch = StagedArrivals([None] * len(arrivals))
        staged: list[tuple[int, Staged]] = []
        try:
            for i, (payload, path, received) in enumerate(arrivals):
                try:
                    meta = self._received_meta(received)
                    if path is None:
                        assert payload is not None
                        staged.append((i, self.spool.stage_put("in", payload, meta)))
                    else:
                        staged.append((i, self.spool.stage_put_file("in", path, meta)))
                except Exception as exc:
                    batch.out[i] = exc
        except BaseException:  # interrupted: what was staged goes
            self.spool.abort_many([st for _, st in staged])
            raise
        if staged:
            self._stage_events(batch, staged, wait)
        return batch

    def _stage_events(self, batch: StagedArrivals, staged: list[tuple[int, Staged]], wait: bool) -> None:
        """Append the ``item.received`` events of ``staged`` (or, when the trail is busy and ``wait`` is
        False, leave them in ``batch.unrecorded`` for the round)."""
        try:
            events, fds = self.audit.stage_each(
                [{"event": "item.received", **self._received_event(st.item_id, st.meta)} for _, st in staged],
                wait,
            )
        except TrailBusy:
            batch.unrecorded.extend(staged)
            return
        except BaseException:
            self.spool.abort_many([st for _, st in staged])  # not on record: not accepted
            raise
        for path, fd in fds.items():
            if path in batch.fds:
                os.close(fd)  # (one descriptor per day file is enough for the round)
            else:
                batch.fds[path] = fd
        for (i, st), ev in zip(staged, events, strict=True):
            if isinstance(ev, OSError):
                self.spool.abort_many([st])
                batch.out[i] = ev
            else:
                batch.ok.append((i, st, ev))

    def commit_arrivals(
        self, batches: list[StagedArrivals], index_later: bool = False
    ) -> list[list[str | Exception]]:
        """The second half of :meth:`accept_many`, for one or more staged batches at once: the events
        still unrecorded appended, then one durability round for all, then the events indexed (or
        queued for the index). Returns each batch's results, in the order of its arrivals."""
        for b in batches:
            if b.unrecorded:
                unrecorded, b.unrecorded = b.unrecorded, []
                try:
                    self._stage_events(b, unrecorded, True)
                except Exception as exc:  # their items are gone (_stage_events removed them)
                    for i, _ in unrecorded:
                        b.out[i] = exc
        ok = [entry for b in batches for entry in b.ok]
        fds = {path: fd for b in batches for path, fd in b.fds.items()}  # one descriptor per file will do
        try:
            if ok:
                self.spool.commit_many([st for _, st, _ in ok], fds if self.audit.fsync else None)
        except OSError as exc:
            for b in batches:
                for i, st, ev in b.ok:
                    self._discarded(st.item_id, ev, exc)
                    b.out[i] = fsio.copy_error(exc)
        else:
            for b in batches:
                for i, st, ev in b.ok:
                    if index_later:
                        self.later.add(ev)
                    else:
                        self._apply(ev)
                    b.out[i] = st.item_id
        finally:
            for b in batches:
                fsio.close_all(b.fds.values())
        return [[r if r is not None else RuntimeError("arrival not handled") for r in b.out] for b in batches]

    def drop_staged(self, batch: StagedArrivals, exc: Exception) -> None:
        """Give up a staged batch that gets no round (the intake closed meanwhile): its items removed
        (an upload moved in goes back where it was), each event already on the trail followed by an
        ``item.discarded``, and every arrival answered with ``exc``."""
        for i, st, ev in batch.ok:
            self.spool.abort_many([st])
            self._discarded(st.item_id, ev, exc)
            batch.out[i] = exc
        for i, st in batch.unrecorded:
            self.spool.abort_many([st])
            batch.out[i] = exc
        fsio.close_all(batch.fds.values())
        batch.ok, batch.unrecorded, batch.fds = [], [], {}

    def _discarded(self, item_id: str, received: dict[str, Any], exc: Exception) -> None:
        """The round that was to make an arrival durable failed: its item is gone, and the trail says so."""
        try:
            self.record(
                "item.discarded",
                partner=received.get("partner"),
                item_id=item_id,
                data={"reason": f"not stored: {exc}", "seq": received["seq"]},
            )
        except OSError as again:
            log.error("audit.discard_unrecorded", item_id=item_id, error=str(again))

    def _audit_unrecorded_arrivals(self) -> None:
        """Audit items a crash left in ``in/`` between their put and their audit event."""
        pending = self.spool.list("in")
        if not pending:
            return
        files = day_files(self.audit.dir)
        first = id_time(pending[0]).strftime("%Y-%m-%d") + ".jsonl"
        known: set[str] = set()
        for name in (f for f in files if f >= first):
            with open(os.path.join(self.audit.dir, name), "rb") as f:
                known.update(ev["item_id"] for ev in map(json.loads, f) if ev["event"] == "item.received")
        for item_id in pending:
            if item_id not in known:
                meta = self.spool.item(item_id).meta
                if len(meta.get("history", [])) == 1:
                    self._audit_received(item_id, meta)

    # -- spool moves, audited ------------------------------------------------------------------
    def move(self, item_id: str, to_state: str, note: str = "", **data: Any) -> SpoolItem:
        it = self.spool.move(
            item_id, to_state, note, {"reason": data["reason"]} if "reason" in data else None
        )
        self.record(
            "item.moved",
            partner=it.meta.get("partner"),
            item_id=item_id,
            data={"to": to_state, "note": note, **data},
        )
        return it

    def fail(self, item_id: str, reason: str) -> SpoolItem:
        it = self.spool.move(item_id, "failed", reason, {"reason": reason})
        self.record("item.failed", partner=it.meta.get("partner"), item_id=item_id, data={"reason": reason})
        return it

    def replay(self, item_id: str, by: str = "operator") -> SpoolItem:
        it = self.spool.item(item_id)
        if it.state != "failed":
            raise ValueError(f"item {item_id} is in {it.state}/, not failed/: only failed items are replayed")
        it = self.spool.move(item_id, "in", f"replayed by {by}", {"reason": None})
        self.record("item.replayed", partner=it.meta.get("partner"), item_id=item_id, data={"by": by})
        return it

    # -- interchanges, messages, documents, deliveries ----------------------------------------
    def duplicate_interchange(
        self, partner: str, sender: str, control_number: str, window: timedelta, now: datetime | None = None
    ) -> str | None:
        since = (now or datetime.now(UTC)) - window
        return self.index.interchange_seen(partner, sender, control_number, since)

    def batch(self) -> Batch:
        """A batch: puts, events and moves staged now and made durable together by its ``commit``."""
        from gateway.store.batch import Batch

        return Batch(self)

    def mdn_received(self, partner: str, message_id: str, status: str) -> dict[str, Any] | None:
        """Record an MDN; return the outbound message it answers (``None`` if unknown)."""
        self.record("mdn.received", partner=partner, keys={"message_id": message_id}, data={"status": status})
        return self.index.message(partner, message_id, "out")
