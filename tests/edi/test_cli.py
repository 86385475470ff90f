from __future__ import annotations

import json

from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.edi import parse
from tests.edi.samples import edifact, x12


def run(*args):
    return CliRunner().invoke(cli, ["edi", *map(str, args)])


def test_parse_summary_and_json(tmp_path):
    f = tmp_path / "po.edi"
    f.write_bytes(x12(pos=2))
    res = run("parse", f)
    assert res.exit_code == 0 and "2 transaction(s)" in res.output
    res = run("parse", f, "--json")
    tree = json.loads(res.output)
    ic = tree["interchanges"][0]
    assert (ic["sender"], ic["receiver"], ic["control_number"], ic["version"]) == (
        "AMAZON", "ACMEVENDOR", "000000001", "00401")
    t = ic["groups"][0]["transactions"][1]
    assert (t["type"], t["control_number"]) == ("850", "0002")
    assert t["segments"][0] == ["ST", "850", "0002"]


def test_parse_invalid_exits_1_with_one_line_per_error(tmp_path):
    f = tmp_path / "bad.edi"
    f.write_bytes(x12().replace(b"SE*7*0001", b"SE*8*0001").replace(b"GE*2*1", b"GE*3*1"))
    res = run("parse", f)
    assert res.exit_code == 1
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 2 and "se_count_mismatch" in errors[0] and "ge_count_mismatch" in errors[1]


def test_ack_prints_997_and_contrl(tmp_path):
    f = tmp_path / "po.edi"
    f.write_bytes(x12())
    res = run("ack", f)
    assert res.exit_code == 0
    ack = parse(res.output.strip().encode())
    assert ack.ok and ack.interchanges[0].transactions()[0].type == "997"
    f.write_bytes(edifact())
    res = run("ack", f)
    assert "UCI+42+" in res.output and parse(res.output.strip().encode()).ok


def test_split_writes_one_interchange_per_transaction(tmp_path):
    f = tmp_path / "in.edi"
    f.write_bytes(x12(pos=3))
    out = tmp_path / "out"
    res = run("split", f, out)
    assert res.exit_code == 0
    files = sorted(out.iterdir())
    assert len(files) == 3
    parts = [parse(p.read_bytes()) for p in files]
    assert all(p.ok and len(p.transactions()) == 1 for p in parts)
    assert [p.transactions()[0][2].control_number for p in parts] == ["0001", "0002", "0003"]


def test_edi_ack_reports_structure_findings(tmp_path):
    """A transaction that breaks its structure spec is rejected in the 997 with AK3/AK4 codes."""
    from click.testing import CliRunner

    from gateway.cli.main import cli
    from tests.pipeline.fixtures import interchange, po_850

    f = tmp_path / "po.edi"
    f.write_bytes(interchange(po_850("PO1"), po_850("PO2", control=102, bad_qty=True)))
    out = CliRunner().invoke(cli, ["edi", "ack", str(f)]).output
    assert "AK2*850*0101~AK5*A~" in out
    assert "AK2*850*0102~AK3*PO1*9*PO1*8~AK4*2**6*X~AK5*R*5~" in out  # segment 9, element 2: invalid character
    assert "AK9*P*2*2*1~" in out
