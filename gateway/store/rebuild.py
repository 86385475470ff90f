"""Rebuilding the index from the audit trail and the spool.

Events are replayed in order into a fresh database beside the old one; document bodies come from the
spool item named by the event (or from the event itself). Control-number counters of the old index are
kept when it is still readable and ahead of the trail (an allocation the crash kept out of the
trail is never handed out again). The new file then replaces the old one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gateway.store import fsio
from gateway.store.auditcheck import events
from gateway.store.index import Index
from gateway.store.spool import Spool


@dataclass
class RebuildReport:
    events: int = 0
    documents: int = 0
    missing_bodies: list[str] = field(default_factory=list)
    counters_kept: int = 0


def count_events(audit_dir: str) -> int:
    from gateway.store.audit import day_files

    n = 0
    for name in day_files(audit_dir):
        with open(os.path.join(audit_dir, name), "rb") as f:
            n += sum(1 for _ in f)
    return n


def _body(spool: Spool, ev: dict[str, Any]) -> dict[str, Any] | None:
    data = ev.get("data") or {}
    if data.get("document"):
        return dict(data["document"])
    doc_id = (ev.get("keys") or {}).get("doc_id")
    if not ev.get("item_id"):
        return None
    try:
        payload, _ = spool.get(ev["item_id"])
        parsed = json.loads(payload)
    except (LookupError, ValueError, OSError):
        return None
    for doc in parsed if isinstance(parsed, list) else [parsed]:
        if isinstance(doc, dict) and doc.get("doc_id") == doc_id:
            return doc
    return None


def rebuild(
    spool: Spool, audit_dir: str, index_path: str, progress: Callable[[int], None] | None = None
) -> RebuildReport:
    rep = RebuildReport()
    tmp = index_path + ".rebuild"
    for suffix in ("", "-wal", "-shm"):
        fsio._unlink_quiet(tmp + suffix)
    new = Index(tmp, synchronous="OFF")
    try:
        for ev in events(audit_dir):
            rep.events += 1
            if ev["event"] == "document.indexed":
                body = _body(spool, ev)
                if body is None:
                    rep.missing_bodies.append(str((ev.get("keys") or {}).get("doc_id")))
                    continue
                new.apply(ev, body)
                rep.documents += 1
            else:
                new.apply(ev)
            if progress:
                progress(1)
        rep.counters_kept = _keep_counters(new, index_path)
        new.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        new.close()
    for suffix in ("-wal", "-shm"):
        fsio._unlink_quiet(index_path + suffix)
    os.replace(tmp, index_path)
    fsio.fsync_dir(os.path.dirname(os.path.abspath(index_path)))
    return rep


def _keep_counters(new: Index, old_path: str) -> int:
    if not os.path.exists(old_path):
        return 0
    try:
        old = sqlite3.connect(f"file:{old_path}?mode=ro", uri=True)
        rows = old.execute(
            "SELECT partner, level, value, allocations, updated_at FROM control_numbers"
        ).fetchall()
        old.close()
    except sqlite3.DatabaseError:
        return 0
    kept = 0
    with new.lock, new.db.atomic():
        for partner, level, value, allocations, at in rows:
            cur = new.db.execute(
                "INSERT INTO control_numbers VALUES (?, ?, ?, ?, ?) ON CONFLICT (partner, level) DO UPDATE SET"
                " value = excluded.value, allocations = excluded.allocations, updated_at = excluded.updated_at"
                " WHERE excluded.allocations > control_numbers.allocations",
                (partner, level, value, allocations, at),
            )
            kept += cur.rowcount
    return kept


CATCH_UP_WINDOW = 10_000


def tail_events(audit_dir: str, after_seq: int) -> Iterator[dict[str, Any]]:
    """Events with ``seq`` > ``after_seq``, in order, reading only the newest day files needed."""
    from gateway.store.audit import day_files

    files = day_files(audit_dir)
    start = 0
    for i in range(len(files) - 1, -1, -1):
        start = i
        with open(os.path.join(audit_dir, files[i]), "rb") as f:
            first = f.readline()
        if first and int(json.loads(first)["seq"]) <= after_seq:
            break
    for name in files[start:]:
        with open(os.path.join(audit_dir, name), "rb") as f:
            for raw in f:
                ev = json.loads(raw)
                if int(ev["seq"]) > after_seq:
                    yield ev


def catch_up(spool: Spool, audit_dir: str, index: Index, window: int = CATCH_UP_WINDOW) -> int:
    """Apply the events of the trail's last ``window`` sequence numbers that the index lacks.

    The index commits without syncing (``synchronous=NORMAL``), so a power cut may take its last
    transactions; the trail, synced before any caller was answered, still has them. ``apply`` skips
    the events already applied, so running this again changes nothing. An index that never recorded
    an applied event (made before this tracking) is left alone: ``gatewayctl index rebuild`` covers it.
    Returns the number of events applied.
    """
    top = index.applied_seq()
    if top is None:
        return 0
    applied = 0
    for ev in tail_events(audit_dir, max(0, top - window)):
        seq = int(ev["seq"])
        if index.is_applied(seq):
            continue
        body = None
        if ev["event"] == "document.indexed":
            body = _body(spool, ev)
            if body is None:
                continue  # body gone with its item: only a rebuild reports it
        index.apply(ev, body)
        applied += index.is_applied(seq)  # events that change nothing are not recorded
    index.prune_applied(window * 5)
    return applied
