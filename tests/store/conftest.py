from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store import Store


@pytest.fixture(autouse=True)
def _own_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands default to ./gateway.yaml: run each test away from the repository's demo config."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    return {
        "spool_dir": str(tmp_path / "spool"),
        "audit_dir": str(tmp_path / "spool" / "audit"),
        "index_path": str(tmp_path / "spool" / "index.sqlite"),
    }


@pytest.fixture
def store(paths: dict[str, str]) -> Iterator[Store]:
    s = Store.open(**paths, node="t1")
    yield s
    if s._lock.fd is not None:
        s.close()
