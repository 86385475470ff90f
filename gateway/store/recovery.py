"""Crash recovery, run when the store opens (under the spool lock).

Rules, in order:

1. ``.tmp-*`` files are unfinished writes: removed (a ``put`` never returns before its renames).
2. An item is where its payload file is. A meta file with no payload beside it is either an unfinished
   ``put`` (no payload anywhere: removed) or the stale side of an interrupted ``move`` (removed).
   A payload whose own meta is missing gets the meta found elsewhere, with a "recovered" history step;
   a payload with no meta at all is quarantined in ``failed/`` (never dropped).
3. When the last run did not close cleanly, items created by that run that were never moved are
   checked against their recorded size and SHA-256 (both sync modes rename before the durability
   round): a mismatch is an unfinished ``put`` whose data did not reach the disk (it never returned,
   so nobody was told it was stored), and is removed. An item whose meta cannot be read is
   quarantined in ``failed/`` instead.
4. Items in ``work/`` go back to the state they were claimed from (usually ``in/``), so they are
   processed again, exactly once more.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import structlog

from gateway.store import fsio
from gateway.store.ids import is_id
from gateway.store.spool import META_SUFFIX, Spool, encode_meta, read_meta, tmp_path, utcnow

log = structlog.get_logger()


@dataclass
class RecoveryReport:
    temp_removed: int = 0
    stale_meta_removed: int = 0
    meta_restored: int = 0
    quarantined: list[str] = field(default_factory=list)
    incomplete_removed: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)


def recover(spool: Spool, unclean: bool, run_started: str = "") -> RecoveryReport:
    """Repair the spool; ``run_started`` (an id prefix such as ``20260513T101530``) limits the size
    and checksum verification to items created since the unclean run started (all when empty)."""
    rep = RecoveryReport()
    payloads: dict[str, list[str]] = {}
    metas: dict[str, list[str]] = {}
    for state in spool.states():
        d = spool.dir(state)
        for name in os.listdir(d):
            if name.startswith(fsio.TMP_PREFIX):
                os.unlink(os.path.join(d, name))
                rep.temp_removed += 1
            elif name.endswith(META_SUFFIX) and is_id(name[: -len(META_SUFFIX)]):
                metas.setdefault(name[: -len(META_SUFFIX)], []).append(state)
            elif is_id(name):
                payloads.setdefault(name, []).append(state)
    for item_id, states in metas.items():
        for state in states:
            if state not in payloads.get(item_id, []):
                if item_id in payloads and not _has_meta(spool, item_id, payloads[item_id][0]):
                    _restore_meta(spool, item_id, state, payloads[item_id][0])
                    rep.meta_restored += 1
                os.unlink(os.path.join(spool.dir(state), item_id + META_SUFFIX))
                rep.stale_meta_removed += 1
    for item_id, states in payloads.items():
        if not _has_meta(spool, item_id, states[0]):
            _quarantine(spool, item_id, states[0])
            rep.quarantined.append(item_id)
    if unclean:
        _verify_fresh(spool, rep, run_started)
    rep.requeued = requeue_work(spool, "requeued after restart")
    spool.group_commit.sync({}, [spool.dir(s) for s in spool.states()])
    if (
        rep.temp_removed
        or rep.stale_meta_removed
        or rep.quarantined
        or rep.incomplete_removed
        or rep.requeued
    ):
        log.info("spool.recovered", **{k: v if isinstance(v, int) else len(v) for k, v in vars(rep).items()})
    return rep


def requeue_work(spool: Spool, note: str) -> list[str]:
    """Put every item in ``work/`` back where it was claimed from (usually ``in/``); return their ids.
    Only while nobody works on them: at start, or once the pipeline worker process has died."""
    requeued = []
    for item_id in spool.list("work"):
        it = spool.item(item_id)
        history = it.meta.get("history", [])
        if it.meta.get("state") not in (None, "work"):  # taken without a meta rewrite (Spool.take)
            back = str(it.meta["state"])
        else:
            back = history[-2]["state"] if len(history) >= 2 and history[-2]["state"] != "work" else "in"
        spool.move(item_id, back, note)
        requeued.append(item_id)
    return requeued


def remove_temp(spool: Spool, token: str) -> int:
    """Remove the ``.tmp-`` files of the process whose id token is ``token`` (the unfinished writes of a
    process that died while others go on: only its own, never another writer's; see
    ``spool.tmp_path``); return how many."""
    removed = 0
    mine = f"{fsio.TMP_PREFIX}{token}-"
    for state in spool.states():
        d = spool.dir(state)
        for name in os.listdir(d):
            if name.startswith(mine):
                fsio._unlink_quiet(os.path.join(d, name))
                removed += 1
    return removed


def rejoin_work(spool: Spool) -> list[str]:
    """Mend the items whose claim into ``work/`` a dead worker left half done: a meta in ``work/``
    without its payload there. If the payload still has a meta where it is, the copy in ``work/`` is
    stale and removed; if not (``Spool.take`` renames the meta first), the meta goes back beside it.
    Only while nobody claims into ``work/`` (the pipeline worker process has died). Returns the ids."""
    work = spool.dir("work")
    mended = []
    for name in sorted(os.listdir(work)):
        item_id = name[: -len(META_SUFFIX)]
        if not name.endswith(META_SUFFIX) or not is_id(item_id) or os.path.exists(os.path.join(work, item_id)):
            continue
        for state in spool.states():
            payload = os.path.join(spool.dir(state), item_id)
            if state == "work" or not os.path.exists(payload):
                continue
            if os.path.exists(payload + META_SUFFIX):
                os.unlink(os.path.join(work, name))
            else:
                os.rename(os.path.join(work, name), payload + META_SUFFIX)
            mended.append(item_id)
            break
    return mended


def _has_meta(spool: Spool, item_id: str, state: str) -> bool:
    return os.path.exists(os.path.join(spool.dir(state), item_id + META_SUFFIX))


def _restore_meta(spool: Spool, item_id: str, from_state: str, to_state: str) -> None:
    meta = read_meta(os.path.join(spool.dir(from_state), item_id + META_SUFFIX))
    meta["state"] = to_state
    meta.setdefault("history", []).append({"state": to_state, "at": utcnow(), "note": "recovered"})
    _write_meta(spool, to_state, item_id, meta)


def _write_meta(spool: Spool, state: str, item_id: str, meta: dict[str, object]) -> None:
    final = os.path.join(spool.dir(state), item_id + META_SUFFIX)
    tmp = tmp_path(spool.dir(state), item_id + META_SUFFIX)
    fsio.write_new(tmp, encode_meta(meta), True)
    os.replace(tmp, final)


def _quarantine(spool: Spool, item_id: str, state: str) -> None:
    src = os.path.join(spool.dir(state), item_id)
    dst = os.path.join(spool.dir("failed"), item_id)
    size = os.path.getsize(src)
    meta = {
        "id": item_id,
        "state": "failed",
        "size": size,
        "sha256": _sha(src),
        "reason": f"found in {state}/ without its meta file after a crash",
        "history": [{"state": "failed", "at": utcnow(), "note": "quarantined by recovery"}],
    }
    _write_meta(spool, "failed", item_id, meta)
    os.rename(src, dst)
    log.warning("spool.quarantined", item_id=item_id, state=state)


def _verify_fresh(spool: Spool, rep: RecoveryReport, run_started: str) -> None:
    for state in spool.states():
        for item_id in spool.list(state):
            if item_id < run_started:
                continue  # older than the run that crashed: made durable by an earlier run
            path = os.path.join(spool.dir(state), item_id)
            try:
                meta = read_meta(path + META_SUFFIX)
            except ValueError:
                os.unlink(path + META_SUFFIX)
                _quarantine(spool, item_id, state)  # cannot tell how far it got: keep it for a human
                rep.quarantined.append(item_id)
                continue
            if len(meta.get("history", [])) > 1:
                continue  # moved since its put returned, so it was durable
            if meta.get("size") == os.path.getsize(path) and meta.get("sha256") == _sha(path):
                continue
            os.unlink(path)
            fsio._unlink_quiet(path + META_SUFFIX)
            rep.incomplete_removed.append(item_id)
            log.warning("spool.incomplete_put_removed", item_id=item_id, state=state)


def _sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
