"""Watched folders for ERPs that drop files instead of calling ``POST /v1/documents``.

Each ``api.folders`` entry names a folder. Every ``*.json`` file that appears there (names starting with
``.`` and ``*.tmp``/``*.part`` files are still being written and are left alone) goes through exactly what
the API does (``OutboundProcessor.submit``: schema, business rules, mapping, the partner's spec), then:

- accepted: the file moves to ``.done/`` and ``.done/<name>.result.json`` holds the document id;
- refused: the file moves to ``.failed/`` with ``.failed/<name>.findings.json`` listing every finding.

The idempotency key is the file name plus its SHA-256, so a crash between queueing and moving the file
(or the same file dropped twice) never sends a document twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import structlog
from twisted.application import service
from twisted.internet import task, threads

from gateway.config import GatewayConfig
from gateway.pipeline.outbound import OutboundProcessor
from gateway.store.fsio import fsync_dir

log = structlog.get_logger(__name__)
PARTIAL = (".tmp", ".part", ".partial")


def _write_json(path: Path, body: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class FolderIntake:
    """One watched folder; ``scan()`` is blocking (run it off the reactor)."""

    def __init__(self, store: Any, config: GatewayConfig, folder: dict[str, Any], catalog: Any = None) -> None:
        self.store = store
        self.config = config
        self.catalog = catalog
        self.name = folder["name"]
        self.path = Path(folder["path"])
        self.partners = tuple(folder.get("partners") or ())
        self.poll_interval = float(folder.get("poll_interval", 2.0))

    def scan(self) -> list[tuple[str, str, str | None]]:
        """Submit every complete file once; return (file name, outcome, document id)."""
        for sub in ("", ".done", ".failed"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        done: list[tuple[str, str, str | None]] = []
        ready = [Path(e.path) for e in sorted(os.scandir(self.path), key=lambda e: e.name)
                 if e.is_file(follow_symlinks=False) and not e.name.startswith(".")
                 and not e.name.endswith(PARTIAL) and e.name.endswith(".json")]
        if ready:
            processor = OutboundProcessor(self.store, self.config, self.catalog)
            done = [self._one(processor, path) for path in ready]
        return done

    def _one(self, processor: OutboundProcessor, path: Path) -> tuple[str, str, str | None]:
        raw = path.read_bytes()
        key = f"{path.name}:{hashlib.sha256(raw).hexdigest()}"
        bound = log.bind(folder=self.name, file=path.name)
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return self._refuse(path, [{"code": "invalid_json", "severity": "error", "message": str(exc)}], bound)
        sub = processor.submit(doc, client=f"folder:{self.name}", idempotency_key=key, allowed_partners=self.partners)
        if not (sub.ok or sub.duplicate):
            return self._refuse(path, [f.to_dict() for f in sub.findings], bound)
        _write_json(self.path / ".done" / f"{path.name}.result.json",
                    {"id": sub.doc_id, "duplicate": sub.duplicate, "queued": sub.queued})
        os.replace(path, self.path / ".done" / path.name)
        fsync_dir(str(self.path / ".done"))
        fsync_dir(str(self.path))
        bound.info("folder_document_accepted", doc_id=sub.doc_id, duplicate=sub.duplicate)
        return path.name, "duplicate" if sub.duplicate else "accepted", sub.doc_id

    def _refuse(self, path: Path, findings: list[dict[str, Any]], bound: Any) -> tuple[str, str, None]:
        _write_json(self.path / ".failed" / f"{path.name}.findings.json", {"findings": findings})
        os.replace(path, self.path / ".failed" / path.name)
        fsync_dir(str(self.path / ".failed"))
        fsync_dir(str(self.path))
        bound.warning("folder_document_refused", findings=len(findings),
                      first=findings[0].get("message") if findings else None)
        return path.name, "refused", None


class FolderIntakeService(service.Service):
    name = "folder-intake"

    def __init__(self, reactor: Any, store: Any, config: GatewayConfig) -> None:
        self.reactor = reactor
        self.store = store
        self.catalog = None  # each scan that finds files loads the current mappings and rule packs
        self._loops: list[task.LoopingCall] = []
        self._busy: set[str] = set()
        self.reconfigure(config)

    def reconfigure(self, config: GatewayConfig) -> None:
        self.config = config
        self.intakes = [FolderIntake(self.store, config, f, self.catalog) for f in config.api_folders]
        if self.running:
            self._stop_loops()
            self._start_loops()

    def _start_loops(self) -> None:
        for intake in self.intakes:
            loop = task.LoopingCall(self._scan, intake)
            loop.clock = self.reactor
            loop.start(intake.poll_interval, now=True)
            self._loops.append(loop)

    def _stop_loops(self) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._loops = []

    def _scan(self, intake: FolderIntake) -> None:
        if intake.name in self._busy:
            return
        self._busy.add(intake.name)
        d = threads.deferToThread(intake.scan)
        d.addErrback(lambda f: log.error("folder_intake_failed", folder=intake.name, error=str(f.value)))
        d.addBoth(lambda _: self._busy.discard(intake.name))

    def startService(self) -> None:
        super().startService()
        self._start_loops()

    def stopService(self) -> None:
        super().stopService()
        self._stop_loops()
