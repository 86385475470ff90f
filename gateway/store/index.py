"""The index: SQLite (WAL) through sqlite-utils, a projection of the audit trail.

Every change reaches the index as an audit event passed to :meth:`Index.apply` (the store appends
the event first), so replaying the trail rebuilds it (see :mod:`gateway.store.rebuild`). The one
exception is the control-number counter, which the index allocates itself, inside one transaction,
before the allocation is audited.

One connection, guarded by a lock, serves every thread: writes are short, and SQLite allows one
writer anyway. Other processes (``gatewayctl``) may read and write too; WAL plus a busy timeout
keeps them out of each other's way.

Durability: the index runs with ``synchronous=NORMAL`` (WAL): a commit is not synced, so a power cut
(not a process crash) may lose the last transactions. The audit trail and the spool are the truth:
each applied event's ``seq`` is recorded in ``applied_events`` in the same transaction, and
:meth:`catch_up` (run by ``Store.open``) re-applies the events of the trail's tail that the index does
not have, exactly once. Control-number allocations, which the index hands out before they are
audited, still commit with ``synchronous=FULL``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from gateway.rules.docindex import InMemoryDocumentIndex, KeyKind

LIFECYCLE = ("received", "acknowledged", "shipped", "invoiced", "paid", "rejected")
KEY_KINDS: tuple[KeyKind, ...] = ("po_number", "shipment_id", "invoice_number", "sscc")

SCHEMA = """
CREATE TABLE IF NOT EXISTS interchanges (
  partner TEXT NOT NULL, sender TEXT NOT NULL, control_number TEXT NOT NULL,
  received_at TEXT NOT NULL, item_id TEXT, seq INTEGER);
CREATE INDEX IF NOT EXISTS interchanges_dup ON interchanges (partner, sender, control_number, received_at);
CREATE TABLE IF NOT EXISTS messages (
  partner TEXT NOT NULL, message_id TEXT NOT NULL, direction TEXT NOT NULL, item_id TEXT,
  at TEXT NOT NULL, mdn_status TEXT, mdn_at TEXT, PRIMARY KEY (partner, message_id, direction));
CREATE TABLE IF NOT EXISTS documents (
  doc_id TEXT PRIMARY KEY, partner TEXT NOT NULL, kind TEXT NOT NULL, received_at TEXT NOT NULL,
  state TEXT NOT NULL, state_at TEXT, item_id TEXT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS doc_keys (
  doc_id TEXT NOT NULL, partner TEXT NOT NULL, key_kind TEXT NOT NULL, value TEXT NOT NULL,
  received_at TEXT NOT NULL, kind TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS doc_keys_lookup ON doc_keys (partner, key_kind, value, received_at);
CREATE INDEX IF NOT EXISTS doc_keys_doc ON doc_keys (doc_id);
CREATE TABLE IF NOT EXISTS deliveries (
  item_id TEXT NOT NULL, destination TEXT NOT NULL, idempotency_key TEXT, state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_retry_at TEXT, last_error TEXT, updated_at TEXT,
  PRIMARY KEY (item_id, destination));
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_retry_at);
CREATE TABLE IF NOT EXISTS control_numbers (
  partner TEXT NOT NULL, level TEXT NOT NULL, value INTEGER NOT NULL, allocations INTEGER NOT NULL,
  updated_at TEXT, PRIMARY KEY (partner, level));
CREATE TABLE IF NOT EXISTS control_number_log (
  partner TEXT NOT NULL, level TEXT NOT NULL, value INTEGER NOT NULL, allocations INTEGER NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS applied_events (seq INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS outbound_edi (
  doc_id TEXT PRIMARY KEY, partner TEXT NOT NULL, interchange_control TEXT, group_control TEXT,
  transaction_control TEXT, transaction_type TEXT, at TEXT NOT NULL,
  ack_kind TEXT, ack_status TEXT, ack_codes TEXT, ack_at TEXT);
CREATE INDEX IF NOT EXISTS outbound_edi_ack ON outbound_edi (partner, group_control, transaction_control);
"""


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def document_keys(doc: dict[str, Any]) -> dict[str, list[str]]:
    """The business keys of a canonical document, by kind (same reading as the in-memory index)."""
    return {k: sorted(InMemoryDocumentIndex.keys(doc, k)) for k in KEY_KINDS}


class _synchronous:
    """Switch the connection's ``synchronous`` setting for one transaction (caller holds the lock)."""

    def __init__(self, index: Index, mode: str) -> None:
        self.index, self.mode = index, mode

    def __enter__(self) -> None:
        if self.mode != self.index.synchronous:
            self.index.db.execute(f"PRAGMA synchronous={self.mode}")

    def __exit__(self, *exc: object) -> None:
        if self.mode != self.index.synchronous:
            self.index.db.execute(f"PRAGMA synchronous={self.index.synchronous}")


class Index:
    """Implements :class:`gateway.rules.docindex.DocumentIndex` plus the gateway's own lookups."""

    def __init__(self, path: str, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.synchronous = synchronous
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self.lock = threading.RLock()
        with self.lock:
            self.db.enable_wal()
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.executescript(SCHEMA)
        # Lookups made on the reactor thread (the AS2 duplicate check) read through a connection of
        # their own: in WAL mode a reader never waits for a writer, so the reactor is not held up
        # behind the lock while a worker applies a batch of events. It sees committed data only.
        self._reader = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        self._read_lock = threading.Lock()
        self._sql: dict[tuple[str, str, tuple[str, ...]], str] = {}

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """A write transaction that takes SQLite's write lock at once (``BEGIN IMMEDIATE``).

        Another process writes too (the pipeline worker, ``gatewayctl``): a deferred transaction
        that reads first and then writes fails at once with "database is locked" when the other
        process wrote meanwhile, where an immediate one waits its turn (the busy timeout). The
        caller holds ``self.lock``; nested calls become savepoints."""
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._read_lock:
            self._reader.close()
        with self.lock:
            self.db.close()

    def _committed_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._read_lock:
            return _dicts(self._reader.execute(sql, params))

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.lock:
            return _dicts(self.db.execute(sql, params))

    def _insert(self, table: str, rows: list[dict[str, Any]], verb: str = "INSERT") -> None:
        """Plain ``INSERT`` (or ``INSERT OR IGNORE`` / ``INSERT OR REPLACE``) of rows that share their
        columns; lists and dicts are stored as JSON text. (sqlite-utils' ``insert`` inspects the table
        on every call, which made it most of the cost of indexing an arrival.)"""
        if not rows:
            return
        cols = tuple(rows[0])
        sql = self._sql.get((verb, table, cols))
        if sql is None:
            sql = f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            self._sql[(verb, table, cols)] = sql
        self.db.conn.executemany(sql, [tuple(_cell(r[c]) for c in cols) for r in rows])

    # -- applying audit events -------------------------------------------------------------
    def apply(self, ev: dict[str, Any], body: dict[str, Any] | None = None) -> None:
        """Project one audit event into the tables (events that change nothing are ignored)."""
        kind = ev["event"]
        handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
        if handler is None:
            return
        with self.lock, self._tx():
            if "seq" in ev:
                cur = self.db.execute("INSERT OR IGNORE INTO applied_events (seq) VALUES (?)", (ev["seq"],))
                if cur.rowcount == 0:
                    return  # applied already (catch-up after a crash)
            handler(ev, ev.get("keys") or {}, ev.get("data") or {}, body)

    def apply_many(self, events: list[tuple[dict[str, Any], dict[str, Any] | None]],
                   marks: list[int] | tuple[int, ...] = ()) -> None:
        """Project several audit events in one transaction (one commit for a batch), and record
        ``marks``: events whose effect the index wrote itself (control-number allocations). On an
        SQLite error nothing of the batch is applied and the error is raised."""
        with self.lock, self._tx():
            for seq in marks:
                self.db.execute("INSERT OR IGNORE INTO applied_events (seq) VALUES (?)", (seq,))
            for ev, body in events:
                handler = getattr(self, "_on_" + ev["event"].replace(".", "_"), None)
                if handler is None:
                    continue
                cur = self.db.execute("INSERT OR IGNORE INTO applied_events (seq) VALUES (?)", (ev["seq"],))
                if cur.rowcount == 0:
                    continue
                handler(ev, ev.get("keys") or {}, ev.get("data") or {}, body)

    def mark_applied(self, seq: int) -> None:
        """Record an audited event whose effect the index wrote itself (a control-number allocation)."""
        with self.lock, self._tx():
            self.db.execute("INSERT OR IGNORE INTO applied_events (seq) VALUES (?)", (seq,))

    def applied_seq(self) -> int | None:
        """The highest audit ``seq`` applied, or ``None`` for an index that never recorded one."""
        with self.lock:
            row = self.db.execute("SELECT max(seq) FROM applied_events").fetchone()
        return row[0] if row and row[0] is not None else None

    def is_applied(self, seq: int) -> bool:
        with self.lock:
            return self.db.execute("SELECT 1 FROM applied_events WHERE seq = ?", (seq,)).fetchone() is not None

    def prune_applied(self, keep: int) -> None:
        """Forget all but the last ``keep`` applied sequence numbers (the catch-up window)."""
        top = self.applied_seq()
        if top is not None:
            with self.lock, self._tx():
                self.db.execute("DELETE FROM applied_events WHERE seq <= ?", (top - keep,))

    def _on_item_received(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        if keys.get("message_id") and ev.get("partner"):
            self._insert("messages", [
                {
                    "partner": ev["partner"],
                    "message_id": keys["message_id"],
                    "direction": "in",
                    "item_id": ev["item_id"],
                    "at": ev["time"],
                }],
                "INSERT OR IGNORE",
            )

    def _on_message_sent(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        self._insert("messages", [
            {
                "partner": ev["partner"],
                "message_id": keys["message_id"],
                "direction": "out",
                "item_id": ev.get("item_id"),
                "at": ev["time"],
            }],
            "INSERT OR REPLACE",
        )

    def _on_mdn_received(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        self.db.execute(
            "UPDATE messages SET mdn_status = ?, mdn_at = ? WHERE partner = ? AND message_id = ? AND direction = 'out'",
            (data.get("status"), ev["time"], ev["partner"], keys["message_id"]),
        )

    def _on_interchange_received(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        self._insert("interchanges", [
            {
                "partner": ev["partner"],
                "sender": keys["sender"],
                "control_number": keys["control_number"],
                "received_at": data.get("received_at") or ev["time"],
                "item_id": ev.get("item_id"),
                "seq": ev["seq"],
            }],
            "INSERT",
        )

    def _on_document_indexed(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], body: Any
    ) -> None:
        doc = body if body is not None else data.get("document")
        if doc is None:
            raise ValueError(f"document {keys.get('doc_id')!r}: body not available")
        doc_id, received = doc["doc_id"], _iso(doc.get("received_at") or ev["time"])
        self.db.execute("DELETE FROM doc_keys WHERE doc_id = ?", (doc_id,))
        self._insert("documents", [
            {
                "doc_id": doc_id,
                "partner": doc["partner"],
                "kind": doc["document"],
                "received_at": received,
                "state": data.get("state", "received"),
                "state_at": ev["time"],
                "item_id": ev.get("item_id"),
                "body": json.dumps(doc, sort_keys=True),
            }],
            "INSERT OR REPLACE",
        )
        rows = [
            {
                "doc_id": doc_id,
                "partner": doc["partner"],
                "key_kind": k,
                "value": v,
                "received_at": received,
                "kind": doc["document"],
            }
            for k, values in document_keys(doc).items()
            for v in values
        ]
        if rows:
            self._insert("doc_keys", rows)

    def _on_document_edi_queued(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        self._insert("outbound_edi", [
            {
                "doc_id": keys["doc_id"],
                "partner": ev["partner"],
                "interchange_control": keys.get("interchange_control"),
                "group_control": keys.get("group_control"),
                "transaction_control": keys.get("transaction_control"),
                "transaction_type": keys.get("transaction_type"),
                "at": ev["time"],
            }],
            "INSERT OR REPLACE",
        )

    def _on_ack_received(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        """A partner's 997/999/CONTRL: mark the outbound documents it answers."""
        params: list[Any] = [data.get("kind"), data.get("status"), json.dumps(data.get("codes") or []), ev["time"],
                             ev["partner"], keys.get("group_control") or ""]
        where = "partner = ? AND group_control = ?"
        if keys.get("transaction_control"):
            where += " AND transaction_control = ?"
            params.append(keys["transaction_control"])
        elif data.get("level") != "group":
            return
        self.db.execute(
            f"UPDATE outbound_edi SET ack_kind = ?, ack_status = ?, ack_codes = ?, ack_at = ? WHERE {where}", params
        )

    def outbound_edi(self, doc_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM outbound_edi WHERE doc_id = ?", (doc_id,))
        if not rows:
            return None
        row = rows[0]
        row["ack_codes"] = json.loads(row["ack_codes"]) if row.get("ack_codes") else []
        return row

    def _on_document_state(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        self.db.execute(
            "UPDATE documents SET state = ?, state_at = ? WHERE doc_id = ?",
            (data["state"], ev["time"], keys["doc_id"]),
        )

    def _on_delivery_scheduled(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        self._insert("deliveries", [
            {
                "item_id": ev["item_id"],
                "destination": data["destination"],
                "idempotency_key": data.get("idempotency_key"),
                "state": "pending",
                "attempts": 0,
                "next_retry_at": data.get("next_retry_at") or ev["time"],
                "last_error": None,
                "updated_at": ev["time"],
            }],
            "INSERT OR REPLACE",
        )

    def _on_delivery_attempted(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        state = (
            "delivered" if data.get("ok") else ("failed" if data.get("next_retry_at") is None else "pending")
        )
        self.db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, state = ?, next_retry_at = ?, last_error = ?, updated_at = ?"
            " WHERE item_id = ? AND destination = ?",
            (
                state,
                data.get("next_retry_at"),
                data.get("error"),
                ev["time"],
                ev["item_id"],
                data["destination"],
            ),
        )

    def _on_control_number_allocated(
        self, ev: dict[str, Any], keys: dict[str, Any], data: dict[str, Any], _: Any
    ) -> None:
        # Live allocations are written by allocate_control_number; this runs on rebuild only.
        self.db.execute(
            "INSERT INTO control_numbers VALUES (?, ?, ?, ?, ?) ON CONFLICT (partner, level) DO UPDATE SET"
            " value = excluded.value, allocations = excluded.allocations, updated_at = excluded.updated_at"
            " WHERE excluded.allocations > control_numbers.allocations",
            (ev["partner"], data["level"], data["value"], data["allocations"], ev["time"]),
        )
        self._insert("control_number_log", [
            {
                "partner": ev["partner"],
                "level": data["level"],
                "value": data["value"],
                "allocations": data["allocations"],
                "at": ev["time"],
            }],
            "INSERT",
        )

    # -- control numbers -------------------------------------------------------------------
    def allocate_control_numbers(
        self, partner: str, levels: list[tuple[str, int]], at: str, synced: bool = True
    ) -> list[tuple[int, int]]:
        """Take the next number for each ``(level, limit)`` in order, all in one transaction (an
        envelope's ISA13, GS06 and ST02s); return ``(value, allocations)`` for each. Synced as
        :meth:`allocate_control_number`."""
        out: list[tuple[int, int]] = []
        with self.lock, _synchronous(self, "FULL" if synced else self.synchronous), self._tx():
            for level, limit in levels:
                out.append(self._allocate(partner, level, limit, at))
        return out

    def _allocate(self, partner: str, level: str, limit: int, at: str) -> tuple[int, int]:
        row = self.db.execute(
            "SELECT value, allocations FROM control_numbers WHERE partner = ? AND level = ?", (partner, level)
        ).fetchone()
        value, allocations = (row[0] % limit) + 1 if row else 1, (row[1] if row else 0) + 1
        self.db.execute("INSERT OR REPLACE INTO control_numbers VALUES (?, ?, ?, ?, ?)",
                        (partner, level, value, allocations, at))
        self.db.execute("INSERT INTO control_number_log VALUES (?, ?, ?, ?, ?)", (partner, level, value, allocations, at))
        return value, allocations

    def allocate_control_number(
        self, partner: str, level: str, limit: int, at: str, synced: bool = True
    ) -> tuple[int, int]:
        """Take the next number for (partner, level) in one transaction; return (value, allocations).

        This commit is synced (``synchronous=FULL``) whatever the index's mode: a number handed out
        must survive a power cut even before its audit event is written. ``synced=False`` is for a
        caller that hands the number out only after its audit event is durable (a batch: the
        document carrying it becomes visible after the round that syncs the event; after a power
        cut the catch-up from the trail restores the counter).
        """
        with self.lock, _synchronous(self, "FULL" if synced else self.synchronous), self._tx():
            return self._allocate(partner, level, limit, at)

    def control_number(self, partner: str, level: str) -> int | None:
        rows = self._rows(
            "SELECT value FROM control_numbers WHERE partner = ? AND level = ?", (partner, level)
        )
        return rows[0]["value"] if rows else None

    # -- duplicate detection and message matching -----------------------------------------
    def interchange_seen(
        self, partner: str, sender: str, control_number: str, since: datetime | str
    ) -> str | None:
        """The spool item of an earlier interchange with this sender and control number at or after
        ``since``, or ``None``."""
        with self.lock:
            row = self.db.execute(
                "SELECT item_id FROM interchanges WHERE partner = ? AND sender = ? AND control_number = ?"
                " AND received_at >= ? ORDER BY received_at LIMIT 1",
                (partner, sender, control_number, _iso(since)),
            ).fetchone()
        return row[0] if row else None

    def message(self, partner: str, message_id: str, direction: str = "in") -> dict[str, Any] | None:
        """The committed message row (read without waiting for a writer: see ``__init__``)."""
        rows = self._committed_rows(
            "SELECT * FROM messages WHERE partner = ? AND message_id = ? AND direction = ?",
            (partner, message_id, direction),
        )
        return rows[0] if rows else None

    # -- documents (the DocumentIndex protocol) --------------------------------------------
    def documents_for_po(self, partner: str, po_number: str, kind: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT d.body FROM documents d WHERE d.doc_id IN (SELECT doc_id FROM doc_keys WHERE partner = ?"
            " AND key_kind = 'po_number' AND value = ? AND kind = ?) ORDER BY d.received_at, d.doc_id",
            (partner, po_number, kind),
        )
        return [json.loads(r["body"]) for r in rows]

    def key_used(
        self, partner: str, key_kind: KeyKind, value: str, since: datetime, exclude_doc_id: str | None = None
    ) -> bool:
        with self.lock:
            row = self.db.execute(
                "SELECT 1 FROM doc_keys WHERE partner = ? AND key_kind = ? AND value = ? AND received_at >= ?"
                " AND doc_id IS NOT ? LIMIT 1",
                (partner, key_kind, value, _iso(since), exclude_doc_id),
            ).fetchone()
        return row is not None

    def document(self, doc_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM documents WHERE doc_id = ?", (doc_id,))
        if not rows:
            return None
        row = rows[0]
        row["body"] = json.loads(row["body"])
        return row

    def deliveries_for_doc(self, doc_id: str) -> list[dict[str, Any]]:
        """Deliveries whose idempotency key is ``<doc_id>:<destination>``."""
        return self._rows("SELECT * FROM deliveries WHERE idempotency_key >= ? AND idempotency_key < ? "
                          "ORDER BY destination", (doc_id + ":", doc_id + ";"))

    def documents_for_item(self, item_id: str) -> list[str]:
        return [
            r["doc_id"]
            for r in self._rows("SELECT doc_id FROM documents WHERE item_id = ? ORDER BY doc_id", (item_id,))
        ]

    # -- deliveries -----------------------------------------------------------------------
    def deliveries(self, item_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM deliveries WHERE item_id = ? ORDER BY destination", (item_id,))

    def documents_by_state(self, kind: str, state: str, partner: str | None = None) -> list[dict[str, Any]]:
        """Documents of one kind in one lifecycle state (bodies parsed), oldest first."""
        sql = "SELECT doc_id, partner, kind, state, received_at, state_at, body FROM documents WHERE kind = ? AND state = ?"
        params: list[Any] = [kind, state]
        if partner:
            sql += " AND partner = ?"
            params.append(partner)
        rows = self._rows(sql + " ORDER BY received_at", tuple(params))
        for r in rows:
            r["body"] = json.loads(r["body"])
        return rows

    def due_deliveries(self, now: datetime | str, limit: int = 100) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM deliveries WHERE state = 'pending' AND next_retry_at <= ? ORDER BY next_retry_at LIMIT ?",
            (_iso(now), limit),
        )

    # -- comparing two indexes (rebuild check) --------------------------------------------
    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's content, in a canonical order (for comparing a rebuilt index)."""
        out = {}
        with self.lock:
            for table in (
                "interchanges",
                "messages",
                "documents",
                "doc_keys",
                "deliveries",
                "control_numbers",
                "outbound_edi",
            ):
                cols = [c for c in self.db[table].columns_dict if c not in ("seq",)]
                rows = self.db.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
                out[table] = sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))
        return out
