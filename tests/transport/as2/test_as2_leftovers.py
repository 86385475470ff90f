"""What a stopped daemon left in the AS2 temp folder is removed before the listener starts."""

from __future__ import annotations

from pathlib import Path

from gateway.transport.as2.service import clear_leftovers


def test_leftover_bodies_and_payloads_are_removed_and_nothing_else(tmp_path: Path) -> None:
    for name in ("as2-body-abc", "as2-payload-def", "as2-payload-ghi", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert clear_leftovers(str(tmp_path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert clear_leftovers(str(tmp_path)) == 0
