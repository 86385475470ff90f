"""The durable spool: one folder per state, one item per payload file plus ``<id>.meta.json``.

An item is in the state whose folder holds its payload file. A new item's files are written unnamed
in the target folder (``O_TMPFILE``) and linked in under their names once complete, where the
filesystem allows it; other writes (and new items elsewhere) go to ``.tmp-*`` files in the target folder
first and become visible by rename. ``put`` and ``move`` return only once the result is
durable (see :mod:`gateway.store.fsio` for the two sync modes). Crash recovery lives in
:mod:`gateway.store.recovery`.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import itertools
import json
import os
import re
import shutil
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.store import fsio
from gateway.store.commit import GroupCommit
from gateway.store.ids import is_id, new_id, process_token

META_SUFFIX = ".meta.json"
STATE_RE = re.compile(r"^(?:[a-z][a-z0-9_-]*|out/[A-Za-z0-9][A-Za-z0-9_.-]*)$")
RESERVED = {"audit", "out", "tmp"}
BASE_STATES = ("in", "work", "done", "failed")
SEEN_MAX = 65536  # items whose last known state a spool remembers (see Spool._saw)
SPARE_DIR = ".spare"  # retired meta files kept for reuse (see Spool._retire); never a state
SPARE_MAX = 4096


class ItemNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class SpoolItem:
    id: str
    state: str
    meta: dict[str, Any]
    path: str  # the payload file

    @property
    def meta_path(self) -> str:
        return self.path + META_SUFFIX


@dataclass(slots=True)
class Staged:
    """A new item written and renamed but not yet durable (see :meth:`Spool.commit`)."""

    item_id: str
    meta: dict[str, Any]
    files: dict[str, int]  # final path -> open descriptor, for the durability round
    dirs: list[str]
    cleanup: list[str]  # what to remove if the item is abandoned
    back: tuple[str, str] | None = None  # (final, source) of a file moved in, moved back on abort

    def close(self) -> None:
        fsio.close_all(self.files.values())
        self.files.clear()

    def abort(self) -> None:
        """Remove what the stage wrote (a moved-in file goes back where it came from)."""
        self.close()
        if self.back is not None and os.path.exists(self.back[0]) and not os.path.exists(self.back[1]):
            try:
                os.rename(*self.back)
            except OSError:
                pass
        for p in self.cleanup:
            fsio._unlink_quiet(p)


@dataclass(slots=True)
class StagedMove:
    """A move whose new meta is written (not yet durable) and whose renames wait for
    :meth:`Spool.finish_move`, once the meta has been made durable in a round."""

    item: SpoolItem
    to_state: str
    meta: dict[str, Any]
    tmp_meta: str
    fd: int

    @property
    def dst_dir(self) -> str:
        return os.path.dirname(self.tmp_meta)

    def abort(self) -> None:
        fsio.close_all([self.fd])
        fsio._unlink_quiet(self.tmp_meta)


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def encode_meta(meta: dict[str, Any]) -> bytes:
    return (json.dumps(meta, sort_keys=True, ensure_ascii=False) + "\n").encode()


class Spool:
    def __init__(self, root: str, sync: str = "fsync") -> None:
        if sync not in fsio.SYNC_MODES:
            raise ValueError(f"spool sync mode must be one of {fsio.SYNC_MODES}, not {sync!r}")
        self.root = os.path.abspath(root)
        self.sync = sync
        self._move_lock = threading.Lock()
        self._hidden: set[str] = set()  # staged, not yet durable: not listed (see stage_put)
        self._other: tuple[str, str] | None = None  # (token, watermark) of another writer (see hide_other)
        self._seen: dict[str, str] = {}  # item id -> state this process last put or moved it to (see find)
        self._spare_dir = os.path.join(self.root, SPARE_DIR)
        os.makedirs(self._spare_dir, exist_ok=True)
        self._spares: builtins.list[str] = sorted(os.listdir(self._spare_dir))[:SPARE_MAX]
        os.makedirs(self.root, exist_ok=True)
        self._unnamed = fsio.unnamed_works(self.root)  # new items written unnamed, then linked in
        for state in BASE_STATES:
            os.makedirs(self.dir(state), exist_ok=True)
        self._commit = GroupCommit(sync, self.root)

    def close(self) -> None:
        self._commit.close()

    @property
    def group_commit(self) -> GroupCommit:
        """The durability rounds this spool shares between threads (the store adds its audit lines)."""
        return self._commit

    # -- paths -------------------------------------------------------------------------------
    def dir(self, state: str) -> str:
        if not STATE_RE.match(state) or state in RESERVED:
            raise ValueError(f"bad spool state {state!r}: use in, work, done, failed or out/<destination>")
        return os.path.join(self.root, *state.split("/"))

    def states(self) -> list[str]:
        found = [s for s in sorted(os.listdir(self.root)) if STATE_RE.match(s) and s not in RESERVED]
        found = [s for s in found if os.path.isdir(os.path.join(self.root, s))]
        out_dir = os.path.join(self.root, "out")
        if os.path.isdir(out_dir):
            found += [f"out/{d}" for d in sorted(os.listdir(out_dir)) if STATE_RE.match(f"out/{d}")]
        return found

    def _ensure(self, state: str) -> str:
        d = self.dir(state)
        if not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
            fsio.fsync_dir(os.path.dirname(d))
        return d

    # -- writing -----------------------------------------------------------------------------
    def _new_file(self, path: str, data: bytes) -> int:
        """Create ``path`` holding ``data`` (not synced) and return its descriptor, reusing a spare
        file's inode when there is one.

        A move writes the item's new meta and drops the old one. Deleting it costs more than the
        write on ext4 (blocks freed, discarded), and without a journal every later create skips
        each recently freed inode of the block group one by one, so a busy pipeline slowed itself
        down. Old metas are renamed into ``.spare/`` instead and their inodes rewritten here: a
        steady stream of moves frees no inode at all. A crash between the rename and the write
        leaves a ``.tmp-`` file, which recovery removes like any other.
        """
        while self._spares:
            try:
                name = self._spares.pop()
            except IndexError:  # another thread took the last one
                break
            if os.path.lexists(path):  # as create's O_EXCL: never replace a file (a rename would)
                self._spares.append(name)
                raise FileExistsError(errno.EEXIST, "file exists", path)
            try:
                os.rename(os.path.join(self._spare_dir, name), path)
            except FileNotFoundError:
                continue  # taken by another process meanwhile
            return fsio.rewrite(path, data)
        return fsio.create(path, data)

    def _place(self, tmp: str, final: str, data: bytes) -> int:
        """Write a new file holding ``data`` at ``final`` (which must not exist) and return its open
        descriptor (not synced): a spare inode if there is one (see :meth:`_new_file`), else an unnamed
        file linked in once written, else ``tmp`` renamed."""
        if self._unnamed and not self._spares:
            fd = fsio.create_unnamed(os.path.dirname(final), data)
            try:
                fsio.link(fd, final)
            except BaseException:
                os.close(fd)
                raise
            return fd
        fd = self._new_file(tmp, data)
        try:
            os.rename(tmp, final)
        except BaseException:
            os.close(fd)
            fsio._unlink_quiet(tmp)
            raise
        return fd

    def _retire(self, path: str) -> None:
        """Put a meta file that is no longer needed into ``.spare/`` for :meth:`_new_file` (or delete it
        once enough are spare)."""
        if len(self._spares) >= SPARE_MAX:
            fsio._unlink_quiet(path)
            return
        name = new_id()
        try:
            os.rename(path, os.path.join(self._spare_dir, name))
        except FileNotFoundError:
            return
        self._spares.append(name)

    def _new_meta(
        self, item_id: str, state: str, meta: dict[str, Any], size: int, sha: str
    ) -> dict[str, Any]:
        now = utcnow()
        full = dict(meta)
        full.setdefault("received_at", now)
        full.update(id=item_id, state=state, size=size, sha256=sha)
        full["history"] = [{"state": state, "at": now, "note": full.pop("note", "stored")}]
        return full

    def put(self, state: str, payload: bytes, meta: dict[str, Any]) -> str:
        """Store ``payload`` durably in ``state``; return its id once it is on disk."""
        staged = self.stage_put(state, payload, meta)
        self.commit(staged)
        return staged.item_id

    def put_file(self, state: str, path: str, meta: dict[str, Any]) -> str:
        """Move the file at ``path`` into the spool as a new item in ``state``; return its id."""
        staged = self.stage_put_file(state, path, meta)
        self.commit(staged)
        return staged.item_id

    def stage_put(self, state: str, payload: bytes, meta: dict[str, Any], head_start: bool = True) -> Staged:
        """Write and rename a new item without waiting for the disk; :meth:`commit` makes it durable.

        Until then the item must not be reported as stored (a crash may drop it). ``head_start``
        starts the files' writeback at once: worth it for a put whose round follows soon, not for
        files staged into a big batch round (the round writes them all in one go, and each early
        ``sync_file_range`` costs system time in the staging thread).
        """
        d = self._ensure(state)
        item_id = new_id()
        self._hidden.add(item_id)  # list() must not hand it to a worker before it is durable
        full = self._new_meta(item_id, state, meta, len(payload), hashlib.sha256(payload).hexdigest())
        tmp_payload = tmp_path(d, item_id)
        tmp_meta = tmp_payload + META_SUFFIX
        final = os.path.join(d, item_id)
        staged = Staged(item_id, full, {}, [d], [tmp_payload, tmp_meta, final, final + META_SUFFIX])
        try:
            if self._unnamed:
                fd_payload = fsio.create_unnamed(d, payload)
            else:
                fd_payload = fsio.create(tmp_payload, payload)
            staged.files[final] = fd_payload
            # the meta is in place first: the payload's arrival commits the item
            fd_meta = self._place(tmp_meta, final + META_SUFFIX, encode_meta(full))
            staged.files[final + META_SUFFIX] = fd_meta
            if self.sync == "fsync" and head_start:  # ("auto" syncs a round of 2+ files with syncfs)
                fsio.start_writeback(fd_payload)
                fsio.start_writeback(fd_meta)
            if self._unnamed:
                fsio.link(fd_payload, final)
            else:
                os.rename(tmp_payload, final)
            self._saw(item_id, state)
        except BaseException:
            staged.abort()  # a put that fails leaves nothing behind
            self._hidden.discard(item_id)
            raise
        return staged

    def stage_put_file(self, state: str, path: str, meta: dict[str, Any]) -> Staged:
        """Like :meth:`stage_put`, moving the file at ``path`` in."""
        d = self._ensure(state)
        item_id = new_id()
        self._hidden.add(item_id)
        final = os.path.join(d, item_id)
        tmp_meta = tmp_path(d, item_id + META_SUFFIX)
        src = os.path.abspath(path)
        digest, size = hashlib.sha256(), 0
        fd_src = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
        staged = Staged(item_id, {}, {final: fd_src}, [d, os.path.dirname(src)], [tmp_meta], (final, src))
        try:
            while chunk := os.read(fd_src, 1 << 20):
                digest.update(chunk)
                size += len(chunk)
            staged.meta = full = self._new_meta(item_id, state, meta, size, digest.hexdigest())
            fd_meta = self._place(tmp_meta, final + META_SUFFIX, encode_meta(full))
            staged.files[final + META_SUFFIX] = fd_meta
            staged.cleanup.append(final + META_SUFFIX)
            if self.sync == "fsync":
                fsio.start_writeback(fd_src)
                fsio.start_writeback(fd_meta)
            try:
                os.rename(src, final)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self._copy_in(src, final)
                os.unlink(src)
                staged.back, staged.cleanup = None, []  # the only copy now: kept even if the round fails
                os.close(staged.files.pop(final))
                staged.files[final] = os.open(final, os.O_RDONLY | os.O_CLOEXEC)
            self._saw(item_id, state)
        except BaseException:
            staged.abort()
            self._hidden.discard(item_id)
            raise
        return staged

    def reveal(self, item_ids: Iterable[str]) -> None:
        """List staged items again (their round ended: durable, or removed)."""
        self._hidden.difference_update(item_ids)

    def commit(self, staged: Staged, extra: dict[str, int] | None = None) -> None:
        """Make a staged item durable (plus the ``extra`` open files, e.g. an audit line), sharing one
        durability round with every other thread committing at the same time. On failure the item is
        removed and the error raised."""
        self.commit_many([staged], extra)

    def commit_many(self, staged: builtins.list[Staged], extra: dict[str, int] | None = None) -> None:
        """:meth:`commit` for several staged items in one round. On failure every one of them is
        removed and the error raised."""
        files: dict[str, int] = {}
        dirs: dict[str, None] = {}
        for st in staged:
            files.update(st.files)
            dirs.update(dict.fromkeys(st.dirs))
        try:
            self._commit.sync({**files, **(extra or {})}, dirs)
        except BaseException:
            for st in staged:
                st.abort()
            raise
        finally:
            for st in staged:
                st.close()
            self._hidden.difference_update(st.item_id for st in staged)

    def abort_many(self, staged: builtins.list[Staged]) -> None:
        """Give up staged items: remove what their stage wrote and list nothing of them."""
        for st in staged:
            st.abort()
            self._hidden.discard(st.item_id)

    def _copy_in(self, src: str, final: str) -> None:
        tmp = tmp_path(os.path.dirname(final), os.path.basename(final))
        with open(src, "rb") as fin, open(tmp, "xb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.rename(tmp, final)

    # -- reading -----------------------------------------------------------------------------
    def list(self, state: str) -> list[str]:
        """Ids of the items in ``state``, oldest first."""
        d = self.dir(state)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return []
        hidden = self._hidden
        found = [n for n in names if is_id(n) and n not in hidden]
        if self._other is not None:
            token, watermark = self._other
            found = [n for n in found if not (n.endswith(token) and n > watermark)]
        return sorted(found)

    def hide_other(self, token: str | None, watermark: str = "") -> None:
        """Do not list the items another process (the pipeline worker) makes until it says they are
        durable: ids ending in its ``token`` that sort after ``watermark`` are left out of :meth:`list`.

        Within a process, staged items are hidden by :meth:`stage_put`; a worker process stages its
        outputs the same way, so the daemon must not hand them to a sender before the worker's round.
        The worker's ids only grow, and after each round it reports the newest id it had made.
        ``None`` lifts the rule (the worker is gone and its files were made durable).
        """
        self._other = None if token is None else (token, watermark)

    def find(self, item_id: str) -> SpoolItem | None:
        """The item wherever it is, or ``None``. The four base folders are tried first, without
        listing anything (an item is nearly always in one of them), then the ``out/`` queues; an item
        moved between two folders while we look is looked for once more."""
        if not is_id(item_id):
            return None
        for _ in range(2):
            for state in self._search_order(self._seen.get(item_id)):
                path = os.path.join(self.root, *state.split("/"), item_id)
                if os.path.exists(path):
                    try:
                        return SpoolItem(item_id, state, read_meta(path + META_SUFFIX), path)
                    except FileNotFoundError:
                        continue  # moved meanwhile
        return None

    def _search_order(self, first: str | None = None) -> Iterator[str]:
        if first is not None:
            yield first
        yield from (s for s in BASE_STATES if s != first)
        for state in self.states():
            if state not in BASE_STATES and state != first:
                yield state

    def _saw(self, item_id: str, state: str) -> None:
        """Remember where this process last put an item: ``find`` looks there first (an item in an
        ``out/`` queue is otherwise found only after listing every queue). Only a first guess, checked
        on disk; another process may have moved the item since. Bounded: the oldest half is dropped
        when it is full."""
        seen = self._seen
        seen.pop(item_id, None)
        seen[item_id] = state
        if len(seen) > SEEN_MAX:
            for old in list(itertools.islice(seen, SEEN_MAX // 2)):
                seen.pop(old, None)

    def item(self, item_id: str) -> SpoolItem:
        found = self.find(item_id)
        if found is None:
            raise ItemNotFound(f"no spool item {item_id!r}")
        return found

    def get(self, item_id: str) -> tuple[bytes, dict[str, Any]]:
        it = self.item(item_id)
        with open(it.path, "rb") as f:
            return f.read(), it.meta

    def discard(self, item_id: str) -> None:
        """Remove an item whose acceptance failed after its put (the caller reports the failure)."""
        with self._move_lock:
            it = self.item(item_id)
            os.unlink(it.path)
            fsio._unlink_quiet(it.meta_path)
        self._commit.sync({}, [os.path.dirname(it.path)])

    # -- moving ------------------------------------------------------------------------------
    def move(
        self, item_id: str, to_state: str, note: str = "", update: dict[str, Any] | None = None
    ) -> SpoolItem:
        """Move an item to ``to_state`` (atomic rename), recording the step in its meta history."""
        with self._move_lock:
            it, dirs = self._move(self.item(item_id), to_state, note, update)
        self._commit.sync({}, dirs)
        return it

    def claim(self, state_from: str = "in", state_to: str = "work") -> SpoolItem | None:
        """Take the oldest item of ``state_from`` into ``state_to``; ``None`` when there is none."""
        with self._move_lock:
            for item_id in self.list(state_from):
                path = os.path.join(self.dir(state_from), item_id)
                try:
                    it = SpoolItem(item_id, state_from, read_meta(path + META_SUFFIX), path)
                    moved, dirs = self._move(it, state_to, "claimed", None)
                    break
                except FileNotFoundError:
                    continue  # moved by another process (replay) meanwhile
            else:
                return None
        self._commit.sync({}, dirs)
        return moved

    def take(
        self, state_from: str = "in", state_to: str = "work", candidates: builtins.list[str] | None = None
    ) -> SpoolItem | None:
        """Like :meth:`claim` without a durability round of its own and without rewriting the meta:
        meta and payload are renamed as they are, and the two folders join the next round (the
        caller's own, which must come before anything depends on the item being in ``state_to``).
        A crash before that round leaves the item in ``state_from`` or ``state_to``; recovery puts
        it back in ``state_from`` either way. The meta keeps ``state`` = ``state_from`` until the
        item's next move, which records the claim in its history.

        ``candidates`` (ids from an earlier :meth:`list`, oldest first) saves listing the folder per
        take: ids are consumed from its front until one is taken; ``None`` when none of them is
        left in ``state_from``."""
        with self._move_lock:
            src_dir, dst_dir = self.dir(state_from), self._ensure(state_to)
            ids = self.list(state_from) if candidates is None else _consume(candidates)
            for item_id in ids:
                src, dst = os.path.join(src_dir, item_id), os.path.join(dst_dir, item_id)
                try:
                    meta = read_meta(src + META_SUFFIX)
                    os.rename(src + META_SUFFIX, dst + META_SUFFIX)
                except FileNotFoundError:
                    continue  # moved by another process (replay) meanwhile
                try:
                    os.rename(src, dst)
                except FileNotFoundError:
                    os.rename(dst + META_SUFFIX, src + META_SUFFIX)
                    continue
                self._commit.defer({}, [dst_dir, src_dir])
                self._saw(item_id, state_to)
                return SpoolItem(item_id, state_to, meta, dst)
        return None

    def stage_move(
        self, item_id: str, to_state: str, note: str = "", update: dict[str, Any] | None = None,
        head_start: bool = True,
    ) -> StagedMove | None:
        """Write the meta an item will have in ``to_state`` (not yet durable); the caller makes its
        descriptor durable in a round and then calls :meth:`finish_move`, or ``abort()``. ``None``
        when the item is in ``to_state`` already (nothing to move, as with :meth:`move`)."""
        it = self.item(item_id)
        dst_dir = self._ensure(to_state)
        if os.path.dirname(it.path) == dst_dir:
            return None
        meta = self._moved_meta(it, to_state, note, update)
        tmp_meta = tmp_path(dst_dir, it.id + META_SUFFIX)
        fd = self._new_file(tmp_meta, encode_meta(meta))
        if self.sync != "syncfs" and head_start:
            fsio.start_writeback(fd)
        return StagedMove(it, to_state, meta, tmp_meta, fd)

    def finish_move(self, staged: StagedMove) -> tuple[SpoolItem, builtins.list[str]]:
        """The renames of a staged move whose meta is durable; returns the item and the folders whose
        entries changed (for a later round)."""
        it, dst_dir = staged.item, staged.dst_dir
        dst = os.path.join(dst_dir, it.id)
        with self._move_lock:
            fsio.close_all([staged.fd])
            os.rename(staged.tmp_meta, dst + META_SUFFIX)
            try:
                os.rename(it.path, dst)
            except BaseException:
                fsio._unlink_quiet(dst + META_SUFFIX)
                raise
            self._retire(it.meta_path)
        self._saw(it.id, staged.to_state)
        return SpoolItem(it.id, staged.to_state, staged.meta, dst), [dst_dir, os.path.dirname(it.path)]

    @staticmethod
    def _moved_meta(it: SpoolItem, to_state: str, note: str, update: dict[str, Any] | None) -> dict[str, Any]:
        meta = dict(it.meta, **(update or {}))
        history = list(it.meta.get("history", []))
        if it.meta.get("state") not in (None, it.state):  # taken (see take): record the claim now
            history.append({"state": it.state, "at": utcnow(), "note": "claimed"})
        meta["state"] = to_state
        meta["history"] = [*history, {"state": to_state, "at": utcnow(), "note": note}]
        return meta

    def _move(
        self, it: SpoolItem, to_state: str, note: str, update: dict[str, Any] | None
    ) -> tuple[SpoolItem, builtins.list[str]]:
        """Rename an item (under the move lock); the caller syncs the returned folders."""
        src_dir = os.path.dirname(it.path)
        dst_dir = self._ensure(to_state)
        if src_dir == dst_dir:
            return it, []
        meta = self._moved_meta(it, to_state, note, update)
        dst = os.path.join(dst_dir, it.id)
        tmp_meta = tmp_path(dst_dir, it.id + META_SUFFIX)
        fd = self._new_file(tmp_meta, encode_meta(meta))
        try:
            if self.sync != "syncfs":
                fsio.start_writeback(fd)
            self._commit.sync({tmp_meta: fd})  # a move must never leave a blank meta
        except BaseException:
            fsio._unlink_quiet(tmp_meta)
            raise
        finally:
            os.close(fd)
        os.rename(tmp_meta, dst + META_SUFFIX)
        try:
            os.rename(it.path, dst)  # the commit point: the item is where its payload is
        except BaseException:
            fsio._unlink_quiet(dst + META_SUFFIX)
            raise
        self._retire(it.meta_path)
        self._saw(it.id, to_state)
        return SpoolItem(it.id, to_state, meta, dst), [dst_dir, src_dir]


def tmp_path(folder: str, name: str) -> str:
    """Where this process writes ``name`` before renaming it into ``folder``: ``.tmp-<token>-<name>``,
    the token being this process's id token (``ids.process_token``), so the unfinished writes of a
    process that died can be told from those of the processes that go on (``recovery.remove_temp``)."""
    return os.path.join(folder, f"{fsio.TMP_PREFIX}{process_token()}-{name}")


def _consume(ids: list[str]) -> Iterator[str]:
    while ids:
        yield ids.pop(0)


def read_meta(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        meta: dict[str, Any] = json.loads(f.read())
    return meta
