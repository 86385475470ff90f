from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.store import AuditLog, verify
from gateway.store.auditcheck import events, export_text

DAY0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)


def make_trail(d: Path, n: int = 9) -> list[str]:
    log = AuditLog(str(d), node="gw1")
    for i in range(n):
        log.append(
            "item.received",
            partner="amazon-us" if i % 2 == 0 else "acme",
            keys={"po_number": f"PO{i % 3}"},
            item_id=f"item{i}",
            size=100 + i,
            sha256="ab" * 32,
            now=DAY0 + timedelta(hours=6 * i),  # spreads over three day files
        )
    log.close()
    return sorted(n for n in os.listdir(d) if n.endswith(".jsonl"))


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_intact_trail_verifies_and_chains_across_files(tmp_path: Path) -> None:
    files = make_trail(tmp_path)
    assert files == ["2026-03-01.jsonl", "2026-03-02.jsonl", "2026-03-03.jsonl"]
    res = verify(str(tmp_path))
    assert res.ok and res.events == 9 and res.files == 3
    first_of_day2 = json.loads(lines(tmp_path / files[1])[0])
    last_of_day1 = json.loads(lines(tmp_path / files[0])[-1])
    assert first_of_day2["prev"] == last_of_day1["hash"]
    ev = last_of_day1
    assert {"time", "node", "event", "partner", "keys", "item_id", "bytes", "sha256", "prev", "hash"} <= set(
        ev
    )


def test_edit_is_caught(tmp_path: Path) -> None:
    files = make_trail(tmp_path)
    p = tmp_path / files[1]
    ls = lines(p)
    ls[2] = ls[2].replace('"bytes":103', '"bytes":999')
    p.write_text("".join(ls))
    res = verify(str(tmp_path))
    assert not res.ok and res.broken is not None
    assert (res.broken.file, res.broken.line, res.broken.seq) == (files[1], 3, 4)
    assert "altered" in str(res.broken)


@pytest.mark.parametrize(
    "action",
    [
        "delete_line",
        "swap_lines",
        "insert_copy",
        "delete_first_file",
        "delete_middle_file",
        "delete_last_file",
        "truncate_tail",
    ],
)
def test_tampering_is_caught(tmp_path: Path, action: str) -> None:
    files = make_trail(tmp_path)
    p = tmp_path / files[1]
    ls = lines(p)
    if action == "delete_line":
        del ls[1]
        p.write_text("".join(ls))
    elif action == "swap_lines":
        ls[0], ls[1] = ls[1], ls[0]
        p.write_text("".join(ls))
    elif action == "insert_copy":
        ls.insert(1, ls[0])
        p.write_text("".join(ls))
    elif action == "delete_first_file":
        (tmp_path / files[0]).unlink()
    elif action == "delete_middle_file":
        p.unlink()
    elif action == "delete_last_file":
        (tmp_path / files[2]).unlink()
    elif action == "truncate_tail":
        last = tmp_path / files[2]
        last.write_text("".join(lines(last)[:-1]))
    res = verify(str(tmp_path))
    assert not res.ok, action


def test_torn_last_line_is_removed_on_open(tmp_path: Path) -> None:
    files = make_trail(tmp_path, 3)
    with open(tmp_path / files[-1], "ab") as f:
        f.write(b'{"seq":4,"time":"2026-')  # a crash in the middle of a write
    log = AuditLog(str(tmp_path), node="gw1")
    ev = log.append("x", now=DAY0 + timedelta(hours=13))
    log.close()
    assert ev["seq"] == 4
    assert verify(str(tmp_path)).ok


def test_two_writers_keep_one_chain(tmp_path: Path) -> None:
    a, b = AuditLog(str(tmp_path), "a"), AuditLog(str(tmp_path), "b")
    for i in range(10):
        (a if i % 2 else b).append("tick", data={"i": i})
    a.close()
    b.close()
    res = verify(str(tmp_path))
    assert res.ok and res.events == 10


def test_export_filters_and_formats(tmp_path: Path) -> None:
    make_trail(tmp_path)
    evs = list(events(str(tmp_path), start="2026-03-02", end="2026-03-02", partner="amazon-us"))
    assert [e["item_id"] for e in evs] == ["item2", "item4"]
    by_po = list(events(str(tmp_path), po="PO1"))
    assert [e["item_id"] for e in by_po] == ["item1", "item4", "item7"]
    csv_text = export_text(iter(by_po), "csv")
    assert csv_text.splitlines()[0].startswith("seq,time,node,event,partner,item_id,keys")
    assert len(csv_text.splitlines()) == 4


def test_cli_verify_and_export(tmp_path: Path) -> None:
    files = make_trail(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", "--audit", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert "9 events" in ok.output
    out = tmp_path / "export.csv"
    res = runner.invoke(
        cli,
        [
            "audit",
            "export",
            "--audit",
            str(tmp_path),
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-03",
            "--po",
            "PO0",
            "--format",
            "csv",
            "--output",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(out.read_text().splitlines()) == 1 + 3
    p = tmp_path / files[1]
    ls = lines(p)
    del ls[0]
    p.write_text("".join(ls))
    bad = runner.invoke(cli, ["audit", "verify", "--audit", str(tmp_path), "--json"])
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["ok"] is False and report["broken"]["file"] == files[1] and report["broken"]["line"] == 1


def test_stage_many_appends_in_order_under_one_lock_and_interleaves_with_another_writer(tmp_path: Path) -> None:
    d = tmp_path / "audit"
    ours, theirs = AuditLog(str(d), "daemon"), AuditLog(str(d), "worker")  # two processes' handles
    day1 = datetime(2026, 11, 27, 23, 59, tzinfo=UTC)
    evs, fds = ours.stage_many([{"event": "a", "item_id": "1", "now": day1}, {"event": "b", "now": day1},
                                {"event": "c", "now": day1 + timedelta(minutes=2)}])
    assert [e["event"] for e in evs] == ["a", "b", "c"]
    assert [e["seq"] for e in evs] == [1, 2, 3]
    assert evs[1]["prev"] == evs[0]["hash"] and evs[2]["prev"] == evs[1]["hash"]
    assert sorted(os.path.basename(p) for p in fds) == ["2026-11-27.jsonl", "2026-11-28.jsonl"]  # one each
    for fd in fds.values():
        os.close(fd)
    theirs.append("d", now=day1 + timedelta(minutes=3))  # the other process appends meanwhile
    more, fds = ours.stage_many([{"event": "e", "now": day1 + timedelta(minutes=4)}])
    for fd in fds.values():
        os.close(fd)
    assert more[0]["seq"] == evs[-1]["seq"] + 2  # it saw the other writer's event
    ours.close()
    theirs.close()
    report = verify(str(d))
    assert report.ok and report.events == 5
