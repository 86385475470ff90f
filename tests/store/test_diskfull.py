"""A full disk: put fails clearly, earlier items stay intact, and puts work again once there is room."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store import DiskFull, Store
from gateway.transport.inbox import Received

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here ({res.stderr.decode().strip()}); the RLIMIT_FSIZE test covers the error path"
        )
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_on_a_small_filesystem(small_fs: Path) -> None:
    ballast = small_fs / "ballast"
    ballast.write_bytes(b"\0" * 128 * 1024)
    store = Store.open(
        str(small_fs / "spool"), str(small_fs / "spool" / "audit"), str(small_fs / "spool" / "index.sqlite")
    )
    accepted: dict[str, bytes] = {}
    with pytest.raises(DiskFull, match="no space left"):
        for i in range(1000):
            payload = os.urandom(2048) + str(i).encode()
            accepted[store.accept(payload, Received("p", "test", message_id=f"m{i}"))] = payload
    assert len(accepted) > 10
    names = [n for s in store.spool.states() for n in os.listdir(store.spool.dir(s))]
    assert not [n for n in names if n.startswith(".tmp-")], "a failed put left a temp file"
    for item_id, payload in accepted.items():
        assert store.spool.get(item_id)[0] == payload
    assert sorted(store.spool.list("in")) == sorted(accepted)

    ballast.unlink()  # make room
    again = store.accept(b"after", Received("p", "test", message_id="after"))
    assert store.spool.get(again)[0] == b"after"
    store.close()
    from gateway.store import verify

    assert verify(str(small_fs / "spool" / "audit")).ok


RLIMIT_SCRIPT = r"""
import resource, sys
from gateway.store import DiskFull, Spool
spool = Spool(sys.argv[1])
kept = spool.put("in", b"k" * 1000, {"partner": "p"})
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
try:
    spool.put("in", b"x" * 200_000, {"partner": "p"})
except DiskFull as exc:
    print("refused:", exc)
else:
    sys.exit("put did not fail")
assert spool.list("in") == [kept], spool.list("in")
assert spool.get(kept)[0] == b"k" * 1000
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
spool.put("in", b"x" * 200_000, {"partner": "p"})
print("ok", len(spool.list("in")))
"""


def test_write_limit_emulated_with_rlimit_fsize(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run(
        [sys.executable, "-c", RLIMIT_SCRIPT, str(tmp_path / "spool")], capture_output=True, env=env
    )
    assert res.returncode == 0, res.stderr.decode()
    out = res.stdout.decode()
    assert "refused: [Errno 27] no space left for the store" in out
    assert out.strip().endswith("ok 2")
