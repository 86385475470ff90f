"""Two processes on one spool: the second refuses to start and names the holder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.store import Store, StoreLocked

ROOT = Path(__file__).resolve().parents[2]
HOLDER = r"""
import sys, time, structlog
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
from gateway.store import Store
s = Store.open(sys.argv[1], sys.argv[1] + "/audit", sys.argv[1] + "/index.sqlite", node="first")
print("locked", flush=True)
sys.stdin.read()
s.close()
"""


@pytest.mark.integration
def test_second_process_refuses_to_open_the_same_spool(tmp_path: Path) -> None:
    spool = str(tmp_path / "spool")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.Popen(
        [sys.executable, "-c", HOLDER, spool],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert first.stdout is not None and first.stdout.readline() == b"locked\n"
        with pytest.raises(StoreLocked) as err:
            Store.open(spool, spool + "/audit", spool + "/index.sqlite", node="second")
        assert f"pid {first.pid} node first" in str(err.value)
        assert "in use by another gateway process" in str(err.value)
    finally:
        first.communicate(b"", timeout=10)
    # once the holder is gone the spool opens again
    Store.open(spool, spool + "/audit", spool + "/index.sqlite", node="second").close()


def test_lock_is_released_by_a_killed_holder(tmp_path: Path) -> None:
    spool = str(tmp_path / "spool")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, spool], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"locked\n"
    proc.kill()
    proc.wait()
    with Store.open(spool, spool + "/audit", spool + "/index.sqlite") as s:
        assert s.recovery.requeued == []
