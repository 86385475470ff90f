from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from gateway.store import ItemNotFound, Spool, fsio
from gateway.store.ids import id_time, is_id, new_id


@pytest.fixture(params=["auto", "fsync", "syncfs", "auto, named temp files"])
def spool(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Spool:
    """A spool in each sync mode; the last one writes new items through named ``.tmp-`` files and
    renames, as on a filesystem without ``O_TMPFILE`` (the others write them unnamed where they can)."""
    mode, _, how = request.param.partition(", ")
    if how:
        monkeypatch.setattr(fsio, "unnamed_works", lambda folder: False)
    return Spool(str(tmp_path / "spool"), sync=mode)


def test_unnamed_files_get_their_name_only_when_linked_and_never_replace_one(tmp_path: Path) -> None:
    folder = str(tmp_path)
    if not fsio.unnamed_works(folder):
        pytest.skip("no O_TMPFILE + linkat(AT_EMPTY_PATH) on this filesystem or kernel")
    assert os.listdir(folder) == []  # the probe is gone
    fd = fsio.create_unnamed(folder, b"abc")
    other = fsio.create_unnamed(folder, b"xyz")
    try:
        assert os.listdir(folder) == []
        fsio.link(fd, str(tmp_path / "a"))
        assert (tmp_path / "a").read_bytes() == b"abc"
        with pytest.raises(FileExistsError):
            fsio.link(other, str(tmp_path / "a"))
        assert (tmp_path / "a").read_bytes() == b"abc"
    finally:
        os.close(fd)
        os.close(other)
    assert os.listdir(folder) == ["a"]  # the unlinked one is gone with its descriptor


def test_ids_sort_by_time_and_never_repeat() -> None:
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(is_id(i) for i in ids)
    assert id_time(ids[0]) <= id_time(ids[-1])


def test_put_writes_payload_and_meta(spool: Spool) -> None:
    payload = b"ISA*00*...~" * 100
    item_id = spool.put("in", payload, {"partner": "amazon-us", "transport": "as2", "message_id": "<m1@x>"})
    data, meta = spool.get(item_id)
    assert data == payload
    assert meta["sha256"] == hashlib.sha256(payload).hexdigest()
    assert meta["size"] == len(payload)
    assert meta["partner"] == "amazon-us" and meta["message_id"] == "<m1@x>"
    assert meta["state"] == "in" and [h["state"] for h in meta["history"]] == ["in"]
    assert sorted(os.listdir(spool.dir("in"))) == [item_id, item_id + ".meta.json"]


def test_move_and_claim_record_history(spool: Spool) -> None:
    a = spool.put("in", b"a", {"partner": "p"})
    b = spool.put("in", b"b", {"partner": "p"})
    first = spool.claim()
    assert first is not None and first.id == a and first.state == "work"
    assert spool.list("in") == [b]
    done = spool.move(a, "out/erp", "mapped")
    assert done.state == "out/erp"
    assert os.path.exists(os.path.join(spool.root, "out", "erp", a))
    assert [h["state"] for h in spool.item(a).meta["history"]] == ["in", "work", "out/erp"]
    assert not os.path.exists(os.path.join(spool.dir("work"), a + ".meta.json"))
    assert "out/erp" in spool.states()
    assert spool.claim("in", "work").id == b  # type: ignore[union-attr]
    assert spool.claim("in", "work") is None


def test_put_file_moves_the_file_in(spool: Spool, tmp_path: Path) -> None:
    upload = tmp_path / "spool" / "upload.edi"
    upload.write_bytes(b"UNA:+.? 'UNB+UNOA:2...")
    item_id = spool.put_file("in", str(upload), {"partner": "p", "transport": "sftp"})
    assert not upload.exists()
    data, meta = spool.get(item_id)
    assert data == b"UNA:+.? 'UNB+UNOA:2..." and meta["size"] == len(data)


def test_unknown_and_bad_states(spool: Spool) -> None:
    with pytest.raises(ValueError):
        spool.put("../etc", b"x", {})
    with pytest.raises(ValueError):
        spool.put("audit", b"x", {})
    with pytest.raises(ItemNotFound):
        spool.get(new_id())
    assert spool.find("../../etc/passwd") is None


def test_concurrent_claims_take_each_item_once(spool: Spool) -> None:
    ids = {spool.put("in", str(i).encode(), {}) for i in range(60)}
    taken: list[str] = []

    def worker() -> None:
        while (it := spool.claim()) is not None:
            taken.append(it.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(ids)
    assert spool.list("work") == sorted(ids)


def test_take_from_a_listing_consumes_candidates_and_skips_items_gone_meanwhile(spool: Spool) -> None:
    ids = [spool.put("in", str(i).encode(), {}) for i in range(4)]
    candidates = spool.list("in")
    assert candidates == ids
    spool.move(ids[0], "failed", "taken elsewhere")  # gone from in/ after the listing
    first = spool.take("in", "work", candidates)
    assert first is not None and first.id == ids[1] and candidates == ids[2:]
    assert spool.take("in", "work", candidates).id == ids[2]
    assert spool.take("in", "work", candidates).id == ids[3]
    assert candidates == [] and spool.take("in", "work", candidates) is None
    assert spool.list("work") == ids[1:] and spool.list("in") == []


def test_find_looks_first_where_this_spool_last_put_the_item_and_still_follows_other_processes(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = spool.put("out/erp", b"doc", {"partner": "p"})
    listed: list[int] = []
    real_states = spool.states
    monkeypatch.setattr(spool, "states", lambda: listed.append(1) or real_states())
    assert spool.item(item_id).state == "out/erp"
    assert listed == []  # found where it was put: the queues were not listed
    other = Spool(spool.root, sync=spool.sync)  # another process (gatewayctl) moves it meanwhile
    other.move(item_id, "out/archive", "requeued")
    assert spool.item(item_id).state == "out/archive"  # the guess misses, the search finds it
    spool.move(item_id, "done", "delivered")
    assert spool.item(item_id).state == "done"


def test_the_last_seen_memory_stays_bounded(spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.store.spool.SEEN_MAX", 8)
    ids = [spool.put("in", b"x", {}) for _ in range(20)]
    assert len(spool._seen) <= 8
    assert ids[-1] in spool._seen and ids[0] not in spool._seen
    assert all(spool.item(i).state == "in" for i in ids)  # forgotten ones are still found


def test_a_move_keeps_the_old_meta_as_a_spare_and_the_next_meta_reuses_its_inode(spool: Spool) -> None:
    big = spool.put("in", b"a", {"partner": "p", "note": "x" * 3000})  # a long meta: the spare is longer
    old_meta = spool.item(big).meta_path
    old_inode = os.stat(old_meta).st_ino
    spool.move(big, "done", "finished")
    spare_dir = os.path.join(spool.root, ".spare")
    assert [os.stat(os.path.join(spare_dir, n)).st_ino for n in os.listdir(spare_dir)] == [old_inode]
    small = spool.put("in", b"b", {"partner": "q"})
    it = spool.item(small)
    assert os.stat(it.meta_path).st_ino == old_inode  # rewritten, not created
    assert it.meta["partner"] == "q" and "note" not in it.meta  # exactly the new content, nothing left over
    assert os.listdir(spare_dir) == []
    assert spool.item(big).meta["history"][-1]["note"] == "finished"
    assert ".spare" not in spool.states()


def test_spares_are_bounded_and_a_spare_taken_elsewhere_is_skipped(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.store.spool.SPARE_MAX", 2)
    ids = [spool.put("in", b"x", {}) for _ in range(4)]
    for i in ids:  # each move reuses the spare the one before left: one spare in the steady state
        spool.move(i, "done")
    spare_dir = os.path.join(spool.root, ".spare")
    assert len(os.listdir(spare_dir)) == 1
    for n in range(3):  # retiring more than SPARE_MAX: the rest is deleted
        old = os.path.join(spool.root, f"old{n}")
        os.close(fsio.create(old, b"{}"))
        spool._retire(old)
        assert not os.path.exists(old)
    assert len(os.listdir(spare_dir)) == 2
    for n in os.listdir(spare_dir):  # another process takes them meanwhile
        os.unlink(os.path.join(spare_dir, n))
    fresh = spool.put("in", b"y", {"partner": "p"})  # falls back to creating the meta
    assert spool.get(fresh) == (b"y", spool.item(fresh).meta)
    assert spool.item(fresh).meta["partner"] == "p"
    with pytest.raises(FileExistsError):
        spool._new_file(spool.item(fresh).meta_path, b"{}")  # never replaces a file


def test_temp_files_carry_the_writers_token_and_only_a_dead_writers_are_removed(spool: Spool) -> None:
    from gateway.store.ids import process_token
    from gateway.store.recovery import remove_temp
    from gateway.store.spool import tmp_path

    ours = tmp_path(spool.dir("done"), "x.meta.json")
    assert os.path.basename(ours) == f"{fsio.TMP_PREFIX}{process_token()}-x.meta.json"
    theirs = os.path.join(spool.dir("done"), f"{fsio.TMP_PREFIX}0123456789-{new_id()}.meta.json")
    for p in (ours, theirs):
        Path(p).write_bytes(b"{}")
    assert remove_temp(spool, "0123456789") == 1
    assert os.path.exists(ours) and not os.path.exists(theirs)  # a move in progress here is left alone


def test_rejoin_work_mends_claims_cut_short_between_their_renames(spool: Spool) -> None:
    from gateway.store.recovery import rejoin_work

    taken = spool.put("in", b"taken", {"partner": "p"})  # Spool.take renamed the meta, then died
    os.rename(os.path.join(spool.dir("in"), taken + ".meta.json"), os.path.join(spool.dir("work"), taken + ".meta.json"))
    claimed = spool.put("in", b"claimed", {"partner": "p"})  # a claim wrote its new meta in work/, then died
    Path(spool.dir("work"), claimed + ".meta.json").write_bytes(b'{"state": "work"}')
    whole = spool.put("in", b"whole", {"partner": "p"})
    spool.move(whole, "work")  # a claim that completed
    assert sorted(rejoin_work(spool)) == sorted([taken, claimed])
    assert spool.item(taken).state == "in" and spool.get(taken)[0] == b"taken"
    assert spool.item(claimed).state == "in" and spool.get(claimed)[1]["state"] == "in"
    assert not os.path.exists(os.path.join(spool.dir("work"), claimed + ".meta.json"))
    assert spool.item(whole).state == "work" and spool.list("work") == [whole]


def test_a_forked_child_gets_its_own_id_token_and_has_issued_nothing() -> None:
    from gateway.store import ids

    parent_id, parent_token = new_id(), ids.process_token()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any test machinery
        os.write(w, f"{ids.last_issued()}|{ids.process_token()}|{new_id()}".encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    last, token, child_id = os.read(r, 200).decode().split("|")
    os.close(r)
    assert last == "" and token != parent_token and child_id.endswith("-" + token)
    assert parent_id.endswith("-" + parent_token) and ids.last_issued() >= parent_id
