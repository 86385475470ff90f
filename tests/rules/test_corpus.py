"""The public corpus through `gatewayctl validate`: well-formed files pass the shipped specs, the malformed
ones give the findings MANIFEST.md describes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli.main import cli

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "public"
pytestmark = [pytest.mark.corpus,
              pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")]

STRUCTURE = {"segment", "element"}

WELL_FORMED = [
    "x12_850_4010VICS_nodex12.edi", "x12_850_4010VICS_nodex12_lf-terminator.edi", "x12_850_4010_nodex12_petco.edi",
    "x12_850_4010VICS_bots_ctrlchar-delims.x12", "x12_850_4010_edieng_composite-sln.edi", "x12_855_4010_nodex12.edi",
    "x12_810_4010_x12parser_walmart.txt", "x12_810_4010_edinet_tabbed.edi", "x12_820_4010_x12parser_safeway.txt",
    "x12_856_4010_bots_retail.x12", "x12_997_4010VICS_bots.x12", "edifact_orders_d96a_pydifact_wikipedia.edi",
    "edifact_desadv_d96a_bots.edi",
]


def run(name: str) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(cli, ["validate", "--json", str(CORPUS / name)])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("name", WELL_FORMED)
def test_well_formed_files_meet_the_shipped_specs(name: str) -> None:
    _, findings = run(name)
    assert [f for f in findings if f.get("level") in STRUCTURE] == []
    assert not any(f["code"] == "no_structure_spec" for f in findings)


@pytest.mark.parametrize("name", ["x12_850_4010VICS_gozer_bad-se01.txt", "x12_860_4010_x12parser_bad-se01.txt"])
def test_se01_count_mismatch_fails_validation(name: str) -> None:
    code, findings = run(name)
    assert code == 1
    se = [f for f in findings if f["code"] == "se_count_mismatch"]
    assert se and se[0]["x12_transaction"] == "4" and se[0]["segment_id"] == "SE"


def test_860_with_a_lost_terminator_is_reported_at_the_segment() -> None:
    _, findings = run("x12_860_4010_x12parser_bad-se01.txt")
    n1 = [f for f in findings if f.get("segment_id") == "N1" and f.get("level") == "element"]
    assert n1 and all(f["segment_position"] == 4 for f in n1)


@pytest.mark.parametrize("name", ["x12_940_4010_edieng_ctlnum-mismatch.edi", "x12_940_4010_edieng_wrong-counts.edi"])
def test_envelope_errors_fail_and_unknown_sets_are_flagged(name: str) -> None:
    code, findings = run(name)
    assert code == 1
    assert any(f["code"] == "no_structure_spec" and f["severity"] == "warning" for f in findings)


def test_human_output_one_line_per_finding() -> None:
    result = CliRunner().invoke(cli, ["validate", str(CORPUS / "x12_850_4010VICS_gozer_bad-se01.txt")])
    assert result.exit_code == 1
    assert "error: transaction 1, segment 21 SE, element 1: se_count_mismatch [4]:" in result.stdout
