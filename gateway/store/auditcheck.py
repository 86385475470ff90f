"""Reading the audit trail: verification of the hash chain, and export for auditors."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TextIO

from gateway.store.audit import GENESIS, day_files, event_hash


@dataclass(frozen=True, slots=True)
class Broken:
    file: str
    line: int
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        return f"audit trail broken at {where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    events: int
    files: int
    broken: Broken | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(audit_dir: str) -> VerifyResult:
    """Check every event's hash, its link to the one before, the sequence, the day file and HEAD."""
    files = day_files(audit_dir)
    prev, seq, count = GENESIS, 0, 0
    for name in files:
        with open(os.path.join(audit_dir, name), "rb") as f:
            lineno = 0
            for lineno, raw in enumerate(f, 1):
                try:
                    ev = json.loads(raw)
                    ev_seq = int(ev["seq"])
                except (ValueError, KeyError, TypeError):
                    return VerifyResult(
                        count, len(files), Broken(name, lineno, None, "line is not an audit event")
                    )
                if ev.get("hash") != event_hash(ev):
                    return VerifyResult(
                        count, len(files), Broken(name, lineno, ev_seq, "event was altered (hash mismatch)")
                    )
                if ev_seq != seq + 1 or ev.get("prev") != prev:
                    reason = (
                        f"chain broken: expected seq {seq + 1} after {prev[:12]}, found seq {ev_seq} after "
                        f"{str(ev.get('prev'))[:12]} (an event or file before it was removed, inserted or reordered)"
                    )
                    return VerifyResult(count, len(files), Broken(name, lineno, ev_seq, reason))
                if not str(ev.get("time", "")).startswith(name[:10]):
                    return VerifyResult(
                        count, len(files), Broken(name, lineno, ev_seq, "event is in the wrong day file")
                    )
                prev, seq, count = ev["hash"], ev_seq, count + 1
            if lineno == 0:
                return VerifyResult(count, len(files), Broken(name, 0, None, "day file is empty"))
    head_path = os.path.join(audit_dir, "HEAD")
    if os.path.exists(head_path):
        with open(head_path, "rb") as f:
            head = json.loads(f.read() or b"{}")
        if head.get("file") and head["file"] not in files:
            return VerifyResult(
                count, len(files), Broken(head["file"], 0, None, "day file named by HEAD was deleted")
            )
        if int(head.get("seq") or 0) > seq:
            return VerifyResult(
                count,
                len(files),
                Broken(
                    files[-1] if files else "-",
                    0,
                    seq,
                    f"events after seq {seq} were removed (HEAD records seq {head['seq']})",
                ),
            )
    return VerifyResult(count, len(files), None)


def _as_dt(value: str | date | datetime | None, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime.combine(value, datetime.max.time() if end else datetime.min.time())
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _mentions_po(ev: dict[str, Any], po: str) -> bool:
    keys = ev.get("keys") or {}
    if keys.get("po_number") == po:
        return True
    return po in (keys.get("po_numbers") or [])


def events(
    audit_dir: str,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    partner: str | None = None,
    po: str | None = None,
    item_id: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Events in order, filtered; ``start``/``end`` are inclusive (a date means the whole day)."""
    lo, hi = _as_dt(start, False), _as_dt(end, True)
    for name in day_files(audit_dir):
        day = date.fromisoformat(name[:10])
        if (lo and day < lo.astimezone(UTC).date()) or (hi and day > hi.astimezone(UTC).date()):
            continue
        with open(os.path.join(audit_dir, name), "rb") as f:
            for raw in f:
                ev = json.loads(raw)
                t = datetime.fromisoformat(ev["time"])
                if (lo and t < lo) or (hi and t > hi):
                    continue
                if partner and ev.get("partner") != partner:
                    continue
                if po and not _mentions_po(ev, po):
                    continue
                if item_id and ev.get("item_id") != item_id:
                    continue
                yield ev


CSV_FIELDS = [
    "seq",
    "time",
    "node",
    "event",
    "partner",
    "item_id",
    "keys",
    "bytes",
    "sha256",
    "data",
    "prev",
    "hash",
]


def export(evs: Iterator[dict[str, Any]], out: TextIO, fmt: str = "jsonl") -> int:
    n = 0
    if fmt == "csv":
        w = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for ev in evs:
            row = dict(ev)
            row["keys"] = json.dumps(ev.get("keys") or {}, sort_keys=True)
            row["data"] = json.dumps(ev["data"], sort_keys=True) if ev.get("data") else ""
            w.writerow(row)
            n += 1
        return n
    for ev in evs:
        out.write(json.dumps(ev, sort_keys=True, ensure_ascii=False) + "\n")
        n += 1
    return n


def export_text(evs: Iterator[dict[str, Any]], fmt: str = "jsonl") -> str:
    buf = io.StringIO()
    export(evs, buf, fmt)
    return buf.getvalue()
