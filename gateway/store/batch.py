"""A batch: many spool puts, audit events and moves made durable in ONE group-commit round.

A worker that produces several effects for one piece of work (the pipeline: per item, the queued
documents, their ``delivery.scheduled`` and ``document.indexed`` events, the functional ack and its
control numbers, the item's move to ``done/``) stages them all and calls :meth:`Batch.commit`:

1. the staged events are appended to the trail in one go (``AuditLog.stage_many``); everything else
   staged is written and renamed already (without a writeback head start per file: the
   round writes them all); new items are hidden from ``Spool.list`` so no
   worker can pick them up before they are durable;
2. one round makes all of it durable: the new items, the audit day file, the new metas of the moves
   (and whatever other threads queued for the same round);
3. only then are the moves renamed (an input leaves ``work/`` only after its outputs are durable);
   their ``item.moved`` events and folder entries ride along with the next round (see
   ``GroupCommit.defer``): a crash before it leaves the item where it was, and running it again
   finds its documents already queued;
4. the events are projected into the index in one SQLite transaction, and the new items listed.

Control numbers taken through :attr:`Batch.control_numbers` are handed out only in what this round
makes durable, so their allocation commits without its own sync (see
``Index.allocate_control_number``).

Reads during the batch go through :attr:`Batch.index`, which adds the batch's staged documents to
the real index, so cross-document rules see documents earlier in the same batch as before.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Unpack

import structlog

from gateway.rules.docindex import InMemoryDocumentIndex
from gateway.store import fsio
from gateway.store.audit import EventFields
from gateway.store.controlnumbers import LIMITS
from gateway.store.events import EventWriter
from gateway.store.spool import SpoolItem, Staged, StagedMove

if TYPE_CHECKING:
    from gateway.store.store import Store

log = structlog.get_logger()


class Batch(EventWriter):
    def __init__(self, store: Store) -> None:
        self.store = store
        self.spool = store.spool
        self.index = _StagedIndex(store.index)
        self.control_numbers = _BatchControlNumbers(self)
        self._staged: list[Staged] = []
        self._moves: list[tuple[StagedMove, dict[str, Any]]] = []
        self._events: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        self._pending: list[tuple[dict[str, Any], dict[str, Any] | None]] = []  # (event, index body), at commit
        self._marks: list[int] = []
        self._audit: dict[str, int] = {}  # day file -> one open descriptor for the round
        self.rounds = 0

    # -- staging ----------------------------------------------------------------------------------
    def put(self, state: str, payload: bytes, meta: dict[str, Any]) -> str:
        """Stage a new item in ``state``; it is durable (and listed) once :meth:`commit` returns."""
        staged = self.spool.stage_put(state, payload, meta, head_start=False)
        self._staged.append(staged)
        return staged.item_id

    def record(self, event: str, *, body: dict[str, Any] | None = None, **fields: Unpack[EventFields]) -> dict[str, Any]:
        """Stage an event: appended to the trail at :meth:`commit`, with the batch's other events in
        one go (see ``AuditLog.stage_many``), made durable in the round, then projected into the
        index. The returned dict is the event; its ``seq``, ``time`` and ``hash`` are filled in when
        it is appended."""
        spec: dict[str, Any] = {"event": event, **fields}
        self._pending.append((spec, body))
        data, keys = fields.get("data") or {}, fields.get("keys") or {}
        if body is not None and event == "document.indexed":
            self.index.add(body, data.get("state", "received"))
        elif event == "document.state" and keys.get("doc_id") in self.index.states:
            self.index.states[keys["doc_id"]] = data["state"]
        return spec

    def _append_pending(self) -> None:
        """Append the staged events to the trail (one lock, one descriptor per day file)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        events, fds = self.store.audit.stage_many([spec for spec, _ in pending])
        for ev, (spec, body) in zip(events, pending, strict=True):
            spec.clear()
            spec.update(ev)  # the caller's dict becomes the event
            self._events.append((spec, body))
        self._keep_audit(fds)

    def _keep_audit(self, fds: dict[str, int], into: dict[str, int] | None = None) -> None:
        """Keep the audit files' descriptors for the round (in ``into``, the batch's own by default)."""
        keep = self._audit if into is None else into
        for path, fd in fds.items():
            if path in keep or not self.store.audit.fsync:
                os.close(fd)  # one descriptor per file is enough: fdatasync covers the whole file
            else:
                keep[path] = fd

    def move(self, item_id: str, to_state: str, note: str = "", **data: Any) -> None:
        """Stage a move (audited as ``item.moved``, like ``Store.move``), done after the round."""
        update = {"reason": data["reason"]} if "reason" in data else None
        staged = self.spool.stage_move(item_id, to_state, note, update, head_start=False)
        if staged is not None:
            self._moves.append((staged, {"to": to_state, "note": note, **data}))

    def fail(self, item_id: str, reason: str) -> None:
        """Stage a move to ``failed/`` (audited as ``item.failed``, like ``Store.fail``)."""
        staged = self.spool.stage_move(item_id, "failed", reason, {"reason": reason}, head_start=False)
        if staged is not None:
            self._moves.append((staged, {"reason": reason, "failed": True}))

    @property
    def open_files(self) -> int:
        """Descriptors held for the next round (callers commit early to stay well under the limit)."""
        return sum(len(s.files) for s in self._staged) + len(self._moves) + len(self._audit)

    def empty(self) -> bool:
        return not (self._staged or self._moves or self._events or self._marks or self._pending)

    # -- committing ---------------------------------------------------------------------------------
    def commit(self) -> list[SpoolItem]:
        """Make everything staged durable in one round, then do the moves and update the index.

        Returns the moved items. On a failed round the staged puts and moves are removed (their
        events stay in the trail, as after any failed write) and the error is raised. The batch is
        empty afterwards and may be used again.
        """
        try:
            self._append_pending()
        except BaseException:
            self.abort()
            raise
        staged, moves, events, marks, audit = self._take()
        files: dict[str, int] = {}
        dirs: dict[str, None] = {}
        for s in staged:
            files.update(s.files)
            dirs.update(dict.fromkeys(s.dirs))
        for m, _ in moves:
            files[m.tmp_meta] = m.fd
        files.update(audit)
        try:
            if files or dirs:
                self.spool.group_commit.sync(files, dirs)
                self.rounds += 1
        except BaseException:
            for s in staged:
                s.abort()
            for m, _ in moves:
                m.abort()
            raise
        finally:
            fsio.close_all(audit.values())
            for s in staged:
                s.close()
            self.spool.reveal(s.item_id for s in staged)
        moved = self._finish_moves(moves)
        self._project(events, marks)
        if staged and self.store.after_commit is not None:
            self.store.after_commit()  # the pipeline worker tells the daemon its new items are durable
        return moved

    def abort(self) -> None:
        """Drop what is staged (nothing of it was durable or listed)."""
        staged, moves, _, _, audit = self._take()
        fsio.close_all(audit.values())
        for s in staged:
            s.abort()
        for m, _ in moves:
            m.abort()
        self.spool.reveal(s.item_id for s in staged)

    def _take(self) -> tuple[list[Staged], list[tuple[StagedMove, dict[str, Any]]],
                             list[tuple[dict[str, Any], dict[str, Any] | None]], list[int], dict[str, int]]:
        out = (self._staged, self._moves, self._events, self._marks, self._audit)
        self._staged, self._moves, self._events, self._marks, self._audit = [], [], [], [], {}
        self._pending = []
        self.index.clear()
        return out

    def _finish_moves(self, moves: list[tuple[StagedMove, dict[str, Any]]]) -> list[SpoolItem]:
        moved: list[SpoolItem] = []
        later: dict[str, int] = {}
        dirs: list[str] = []
        specs = []
        for m, data in moves:
            it, touched = self.spool.finish_move(m)
            moved.append(it)
            dirs += touched
            event = "item.failed" if data.pop("failed", False) else "item.moved"
            specs.append({"event": event, "partner": it.meta.get("partner"), "item_id": it.id, "data": data})
        if specs:
            _, fds = self.store.audit.stage_many(specs)
            self._keep_audit(fds, later)
        if later or dirs:
            self.spool.group_commit.defer(later, dirs)
        return moved

    def _project(self, events: list[tuple[dict[str, Any], dict[str, Any] | None]], marks: list[int]) -> None:
        try:
            self.store.index.apply_many(events, marks)
        except sqlite3.Error as exc:
            log.warning("index.batch_apply_failed", events=len(events), error=str(exc))
            for seq in marks:
                self.store.index.mark_applied(seq)
            for ev, body in events:
                self.store._apply(ev, body)  # one at a time: the failing one is logged alone


class _BatchControlNumbers:
    """``ControlNumbers.next`` for numbers that leave only in what the batch makes durable."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self._reserved: dict[tuple[str, str], list[int]] = {}

    def reserve(self, partner: str, levels: list[str]) -> None:
        """Take the numbers an envelope is about to ask for (``next`` hands them out in order) in one
        index transaction and one append to the trail, instead of one of each per number. A number
        reserved and then not used (the envelope failed) is skipped with its record, like any other."""
        for level in levels:
            if level not in LIMITS:
                raise ValueError(f"unknown control number level {level!r}; expected one of {sorted(LIMITS)}")
        at = datetime.now(UTC)
        taken = self.batch.store.index.allocate_control_numbers(
            partner, [(level, LIMITS[level]) for level in levels], at.isoformat(timespec="microseconds"), synced=False)
        events, fds = self.batch.store.audit.stage_many([
            {"event": "control_number.allocated", "partner": partner, "now": at,
             "data": {"level": level, "value": value, "allocations": allocations}}
            for level, (value, allocations) in zip(levels, taken, strict=True)])
        self.batch._keep_audit(fds)
        self.batch._marks.extend(ev["seq"] for ev in events)  # the index wrote them itself
        for level, (value, _) in zip(levels, taken, strict=True):
            self._reserved.setdefault((partner, level), []).append(value)

    def next(self, partner: str, level: str) -> int:
        if level not in LIMITS:
            raise ValueError(f"unknown control number level {level!r}; expected one of {sorted(LIMITS)}")
        reserved = self._reserved.get((partner, level))
        if reserved:
            return reserved.pop(0)
        at = datetime.now(UTC)
        value, allocations = self.batch.store.index.allocate_control_number(
            partner, level, LIMITS[level], at.isoformat(timespec="microseconds"), synced=False
        )
        # Appended at once, not with the batch's other events at commit: the allocation is committed in
        # the index already, and its record must be in the trail even if this process dies before the
        # round (the number is then skipped, with a record, never handed out again).
        ev, path, fd = self.batch.store.audit.stage(
            "control_number.allocated", partner=partner, now=at, head_start=False,
            data={"level": level, "value": value, "allocations": allocations})
        self.batch._keep_audit({path: fd})
        self.batch._marks.append(ev["seq"])  # the index wrote it itself
        return value

    def current(self, partner: str, level: str) -> int | None:
        return self.batch.store.index.control_number(partner, level)


class _StagedIndex:
    """The real index plus the documents staged in the batch (for lookups and cross-document rules)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.staged = InMemoryDocumentIndex()
        self.states: dict[str, str] = {}

    def add(self, doc: dict[str, Any], state: str) -> None:
        self.staged.add(doc)
        self.states[doc["doc_id"]] = state

    def clear(self) -> None:
        self.staged = InMemoryDocumentIndex()
        self.states = {}

    def documents_for_po(self, partner: str, po_number: str, kind: str) -> list[dict[str, Any]]:
        found = self.real.documents_for_po(partner, po_number, kind)
        more = self.staged.documents_for_po(partner, po_number, kind)
        if not more:
            return list(found)
        known = {d.get("doc_id") for d in found}
        merged = found + [d for d in more if d.get("doc_id") not in known]
        return sorted(merged, key=lambda d: (d.get("received_at", ""), d.get("doc_id", "")))

    def key_used(self, partner: str, key_kind: Any, value: str, since: datetime,
                 exclude_doc_id: str | None = None) -> bool:
        return self.staged.key_used(partner, key_kind, value, since, exclude_doc_id) or \
            self.real.key_used(partner, key_kind, value, since, exclude_doc_id)

    def document(self, doc_id: str) -> dict[str, Any] | None:
        row = self.real.document(doc_id)
        if row is not None or doc_id not in self.states:
            return row
        doc = next(d for d in self.staged.docs if d.get("doc_id") == doc_id)
        return {"doc_id": doc_id, "partner": doc.get("partner"), "kind": doc.get("document"),
                "state": self.states[doc_id], "body": doc}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)
