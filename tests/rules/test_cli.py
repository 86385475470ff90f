"""gatewayctl validate / rules check on real files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gateway.cli.main import cli

ISA = "ISA*00*          *00*          *ZZ*AMAZON         *ZZ*ACMEVENDOR     *261127*1200*U*00401*000000001*0*P*>~"


def interchange(*segments: str) -> str:
    body = ["ST*850*0001", *segments]
    body.append(f"SE*{len(body) + 1}*0001")
    return (ISA + "GS*PO*AMAZON*ACMEVENDOR*20261127*1200*1*X*004010~" + "~".join(body) + "~GE*1*1~IEA*1*000000001~")


GOOD = ["BEG*00*NE*2K4XQ9TZ**20261126", "REF*CR*VEND1", "N1*ST**92*ABE2", "PO1*1*6*EA*19.99*PE*UP*012345678905",
        "CTT*1"]


def test_valid_file_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "po.edi"
    path.write_text(interchange(*GOOD))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_invalid_file_exits_1_with_codes(tmp_path: Path) -> None:
    path = tmp_path / "po.edi"
    path.write_text(interchange(GOOD[0].replace("20261126", "20261131"), *GOOD[1:3], "PO1*1*6x*EA*19.99", "CTT*1"))
    result = CliRunner().invoke(cli, ["validate", "--json", str(path)])
    assert result.exit_code == 1
    found = [(f["segment_position"], f["segment_id"], f["element"], f["x12_element"]) for f in json.loads(result.stdout)]
    assert found == [(2, "BEG", 5, "8"), (5, "PO1", 2, "6")]


def test_partner_override_directory(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shipped = Path(__file__).resolve().parents[2] / "rules"
    rules.mkdir()
    (rules / "x12").symlink_to(shipped / "x12")
    override = rules / "partners" / "amazon-us" / "x12" / "004010"
    override.mkdir(parents=True)
    (override / "850.yaml").write_text("usage: {CSH: M}\nelements:\n  BEG03: {max: 8}\n")
    path = tmp_path / "po.edi"
    path.write_text(interchange(*GOOD))
    plain = CliRunner().invoke(cli, ["validate", "--rules-dir", str(rules), str(path)])
    assert plain.exit_code == 0
    strict = CliRunner().invoke(cli, ["validate", "--rules-dir", str(rules), "--partner", "amazon-us", "--json", str(path)])
    assert strict.exit_code == 1
    assert [f["code"] for f in json.loads(strict.stdout)] == ["segment_missing"]


def test_rules_check_lists_problems_with_file_and_line(tmp_path: Path) -> None:
    spec_dir = tmp_path / "x12" / "004010"
    spec_dir.mkdir(parents=True)
    (spec_dir / "segments.yaml").write_text("segments:\n  ST:\n    elements:\n      - 143 M ID 3/3 Code\n      - 329 M QQ 4/9 Ctl\n")
    (spec_dir / "850.yaml").write_text('standard: x12\nversion: "004010"\ntransaction: "850"\nstructure:\n  - ST M 1\n  - BEG Q 1\n')
    result = CliRunner().invoke(cli, ["rules", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "segments.yaml:5: segments.ST.elements[1]: element '329 M QQ 4/9 Ctl': unknown type 'QQ'" in result.stdout


def test_shipped_rules_check_clean() -> None:
    result = CliRunner().invoke(cli, ["rules", "check"])
    assert result.exit_code == 0, result.output
