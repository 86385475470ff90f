"""Group commit under concurrent callers, and the index catching up with the trail after losing commits."""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from gateway.store import Store, fsio, verify
from gateway.store.commit import GroupCommit
from gateway.store.rebuild import rebuild
from gateway.transport.inbox import Received


def test_concurrent_accepts_share_rounds_and_all_land(paths: dict[str, str]) -> None:
    store = Store.open(**paths, node="t1")
    results: dict[str, bytes] = {}
    lock = threading.Lock()
    start = threading.Barrier(8)

    def writer(t: int) -> None:
        start.wait()
        for i in range(40):
            data = f"{t}:{i}:".encode() * 50
            item_id = store.accept(data, Received("p1", "test", message_id=f"m{t}-{i}"))
            with lock:
                results[item_id] = data

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    gc = store.spool.group_commit
    assert len(results) == 320
    assert sorted(store.spool.list("in")) == sorted(results)
    for item_id, data in results.items():
        assert store.spool.get(item_id)[0] == data
        assert store.index.message("p1", store.spool.item(item_id).meta["message_id"], "in") is not None
    # several arrivals shared a durability round (each item: one accept request to the round)
    assert gc.rounds < gc.requests, (gc.rounds, gc.requests)
    store.close()
    assert verify(paths["audit_dir"]).events == 320


def test_failed_round_raises_in_every_caller(tmp_path: str) -> None:
    root = str(tmp_path)
    gc = GroupCommit("fsync", root)
    bad = os.open(os.path.join(root, "f"), os.O_WRONLY | os.O_CREAT, 0o640)
    os.close(bad)  # a closed descriptor: fdatasync fails with EBADF
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def caller() -> None:
        gate.wait()
        try:
            gc.sync({"f": bad}, [root])
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(errors) == 4
    gc.sync({}, [root])  # the next round works again
    gc.close()


def _accept(store: Store, n: int, tag: str) -> list[str]:
    return [store.accept(f"{tag}{i}".encode(), Received("p1", "as2", message_id=f"{tag}{i}")) for i in range(n)]


@pytest.mark.parametrize("unclean", [False, True])
def test_index_that_lost_its_last_commits_catches_up(paths: dict[str, str], unclean: bool) -> None:
    index = paths["index_path"]
    with Store.open(**paths, node="t1") as store:
        _accept(store, 5, "a")
    shutil.copy(index, index + ".old")  # the index as a power cut could leave it: last commits lost
    with Store.open(**paths, node="t1") as store:
        later = _accept(store, 5, "b")
        store.record_interchange("p1", "SENDER", "000000001", later[0])
        store.message_sent("p1", "<out-1@x>", later[1])
        store.mdn_received("p1", "<out-1@x>", "processed")
    os.replace(index + ".old", index)
    if unclean:
        with open(os.path.join(paths["spool_dir"], ".open"), "w") as f:
            f.write("1\n")
    with Store.open(**paths, node="t1") as store:
        assert store.index.message("p1", "b4", "in")["item_id"] == later[4]
        assert store.index.interchange_seen("p1", "SENDER", "000000001", "2000-01-01T00:00:00+00:00") == later[0]
        assert store.index.message("p1", "<out-1@x>", "out")["mdn_status"] == "processed"
        caught = store.index.snapshot()
    # the same as an index rebuilt from the whole trail, and applying again changes nothing
    with Store.open(**paths, node="t1") as store:
        assert store.index.snapshot() == caught
        rebuilt = paths["index_path"] + ".fresh"
        shutil.copy(paths["index_path"], rebuilt)
        rebuild(store.spool, paths["audit_dir"], rebuilt)
        from gateway.store import Index

        fresh = Index(rebuilt)
        assert fresh.snapshot() == caught
        fresh.close()


def test_interrupted_round_leaves_renamed_but_unsynced_put_checked(paths: dict[str, str]) -> None:
    """A put renamed but whose data never reached the disk (a torn round) is removed at the next
    unclean open; an item written before the crashed run started is not even read."""
    store = Store.open(**paths, node="t1")
    kept = store.accept(b"kept", Received("p1", "test", message_id="k"))
    torn = store.spool.put("in", b"whole payload", {"partner": "p1"})
    store.spool.close()
    store.index.close()
    store.audit.close()
    store._lock.release()  # a crash: the .open marker stays
    with open(os.path.join(store.spool.dir("in"), torn), "wb") as f:
        f.write(b"whole")  # what a power cut before the round ended could leave
    with Store.open(**paths, node="t2") as again:
        assert torn in again.recovery.incomplete_removed
        assert again.spool.list("in") == [kept]


def test_auto_mode_flushes_a_round_once_and_a_single_file_with_fdatasync(
    tmp_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(tmp_path)
    calls: list[str] = []
    real_fdatasync, real_syncfs = os.fdatasync, fsio.syncfs
    monkeypatch.setattr(os, "fdatasync", lambda fd: calls.append("fdatasync") or real_fdatasync(fd))
    monkeypatch.setattr(fsio, "syncfs", lambda path, fd=None: calls.append("syncfs") or real_syncfs(path, fd))
    gc = GroupCommit("auto", root)

    def files(n: int, tag: str) -> dict[str, int]:
        return {p: fsio.create(p, b"x") for p in (os.path.join(root, f"{tag}{i}") for i in range(n))}

    small = files(fsio.SYNCFS_FROM - 1, "s")
    gc.sync(small, [root])
    assert calls == ["fdatasync"] * (fsio.SYNCFS_FROM - 1)
    calls.clear()
    big = files(fsio.SYNCFS_FROM * 10, "b")
    gc.sync(big, [root])
    assert calls == ["syncfs"]
    calls.clear()
    # while the machine holds much dirty data, a syncfs would write all of it first: file by file then
    monkeypatch.setattr(fsio, "much_dirty", lambda: True)
    busy = files(fsio.SYNCFS_FROM * 2, "d")
    gc.sync(busy, [root])
    assert calls == ["fdatasync"] * (fsio.SYNCFS_FROM * 2)
    fsio.close_all([*small.values(), *big.values(), *busy.values()])
    gc.close()
    with pytest.raises(ValueError, match="sync mode must be one of"):
        GroupCommit("sometimes", root)


def test_much_dirty_reads_meminfo_and_caches_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    dirty_kb = [10]

    class Meminfo:
        def __enter__(self) -> list[bytes]:
            reads.append(1)
            return [b"MemTotal: 100 kB\n", f"Dirty:   {dirty_kb[0]} kB\n".encode()]

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(fsio, "open", lambda path, mode: Meminfo(), raising=False)
    monkeypatch.setattr(fsio, "_dirty_at", -1e9)
    assert fsio.much_dirty() is False
    dirty_kb[0] = fsio.AUTO_DIRTY_MAX // 1024 + 1
    assert fsio.much_dirty() is False  # read again only after DIRTY_CHECK_EVERY
    assert len(reads) == 1
    monkeypatch.setattr(fsio, "_dirty_at", -1e9)
    assert fsio.much_dirty() is True
    assert len(reads) == 2
