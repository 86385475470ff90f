"""The shipped unit file keeps the settings ops rely on."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "contrib/systemd/acorn-gateway.service"


def parse() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_unit_settings():
    v = parse()
    assert v["Type"] == ["notify"] and v["NotifyAccess"] == ["main"]
    assert v["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert v["WatchdogSec"] and v["User"] == ["acorn-gateway"]
    assert v["NoNewPrivileges"] == ["yes"] and v["ProtectSystem"] == ["strict"]
    assert v["ReadWritePaths"] == ["/srv/edi"]
    assert "MemoryDenyWriteExecute" not in v
    assert "gatewayd --config" in v["ExecStart"][0]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_unit_verifies(tmp_path):
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(UNIT)], capture_output=True, text=True)
    bad = [line for line in out.stderr.splitlines() if "acorn-gateway.service" in line and "Command" not in line
           and "not executable" not in line]
    assert not bad, out.stderr


def test_configparser_reads_it():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment]
    cp.read_string(UNIT.read_text().replace("SystemCallFilter=~", "SystemCallFilterNot="))
    assert set(cp.sections()) == {"Unit", "Service", "Install"}
