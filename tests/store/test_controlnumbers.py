from __future__ import annotations

import threading

import pytest

from gateway.store import Store
from gateway.store.auditcheck import events


def test_numbers_count_up_per_partner_and_level(store: Store) -> None:
    cn = store.control_numbers
    assert [cn.next("amz", "isa") for _ in range(3)] == [1, 2, 3]
    assert cn.next("amz", "gs") == 1
    assert cn.next("acme", "isa") == 1
    assert cn.current("amz", "isa") == 3
    with pytest.raises(ValueError):
        cn.next("amz", "xx")
    allocated = [e["data"] for e in events(store.audit.dir) if e["event"] == "control_number.allocated"]
    assert [(d["level"], d["value"]) for d in allocated] == [
        ("isa", 1),
        ("isa", 2),
        ("isa", 3),
        ("gs", 1),
        ("isa", 1),
    ]


def test_isa_wraps_after_999999999(store: Store) -> None:
    store.index.db.execute(
        "INSERT INTO control_numbers VALUES ('amz', 'isa', 999999998, 999999998, '2026-01-01T00:00:00+00:00')"
    )
    store.index.db.conn.commit()
    assert [store.control_numbers.next("amz", "isa") for _ in range(3)] == [999999999, 1, 2]


def test_survive_reopen_and_threads(paths: dict[str, str]) -> None:
    with Store.open(**paths) as s:
        got: list[int] = []
        lock = threading.Lock()

        def take() -> None:
            for _ in range(25):
                n = s.control_numbers.next("amz", "st")
                with lock:
                    got.append(n)

        threads = [threading.Thread(target=take) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got) == list(range(1, 101))
    with Store.open(**paths) as s:
        assert s.control_numbers.next("amz", "st") == 101
