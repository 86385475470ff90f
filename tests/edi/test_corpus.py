"""Conformance over the shared public corpus (runs when ../shared/corpus/public exists, as in CI).

Per file: interchanges, transactions, the error codes and the warning codes we expect. Where the
corpus manifest calls a file well-formed but we report an error, the file really has it (noted).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.edi import iter_transactions, parse, same_tree, write
from tests.edi.test_robustness import check, mutated

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "public"
pytestmark = [pytest.mark.corpus,
              pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")]

# file: (interchanges, transactions, error codes, warning codes)
EXPECTED: dict[str, tuple[int, int, list[str], list[str]]] = {
    "edifact_desadv_d96a_bots.edi": (1, 8, [], []),
    "edifact_desadv_d96a_phpedifact.edi": (1, 1, [], []),  # UNH version "0": a structure-layer matter
    "edifact_invoic_d97a_pydifact.edi": (1, 1, [], []),
    "edifact_orders_d01b_phpedifact_err.edi": (1, 1, [], []),  # leaked ':' in IMD text: structure layer
    "edifact_orders_d01b_phpedifact_ok.edi": (1, 1, [], []),
    # UNZ02 1234567 is the UNB07 application reference, not the UNB05 control reference "1"
    "edifact_orders_d96a_pydifact_wikipedia.edi": (1, 1, ["unz_control_mismatch"], []),
    "edifact_ordrsp_d01b_edireader_unoc.edi": (1, 1, [], []),
    "edifact_recadv_d01b_smooks.txt": (1, 1, [], ["invalid_characters"]),  # UNOA declared, UTF-8 inside
    "edifact_slsrpt_d96a_bots.edi": (2, 2, [], []),
    "x12_180_5040_x12parser_lowes.txt": (1, 1, [], []),
    "x12_810_4010_edinet_tabbed.edi": (1, 1, [], ["isa_not_fixed_width"]),
    "x12_810_4010_x12parser_walmart.txt": (1, 1, [], ["segment_terminator_missing"]),
    "x12_820_4010_x12parser_safeway.txt": (1, 1, [], []),
    "x12_850_4010VICS_bots_ctrlchar-delims.x12": (1, 4, [], []),
    "x12_850_4010VICS_gozer_bad-se01.txt": (1, 1, ["se_count_mismatch"], ["segment_terminator_missing"]),
    "x12_850_4010VICS_nodex12.edi": (1, 1, [], []),
    "x12_850_4010VICS_nodex12_lf-terminator.edi": (1, 1, [], []),
    "x12_850_4010_bots_ebcdic.x12": (1, 1, [], []),
    "x12_850_4010_edieng_composite-sln.edi": (1, 1, [], []),
    # NBSP padding reads as one character each (UTF-8); IEA02 000000001 vs ISA13 000000055 is real
    "x12_850_4010_edinet_nbsp-isa.edi": (1, 1, ["iea_control_mismatch"], []),
    "x12_850_4010_nodex12_petco.edi": (1, 1, [], []),
    # ends "IEA*1*000000002~^": a stray '~' inside IEA02
    "x12_852_4010_x12parser_hdexchange.txt": (1, 1, ["iea_control_mismatch"], []),
    "x12_855_4010_nodex12.edi": (1, 1, [], []),
    "x12_856_4010_bots_retail.x12": (1, 1, [], []),
    # IEA02 000000049 vs ISA13 000003438 is real
    "x12_856_4060_gozer.txt": (1, 1, ["iea_control_mismatch"], ["segment_terminator_missing"]),
    "x12_856_4060_nodex12.edi": (1, 1, [], []),
    "x12_860_4010_x12parser_bad-se01.txt": (1, 1, ["se_count_mismatch"], ["isa_not_fixed_width"]),
    "x12_940_4010_edieng_ctlnum-mismatch.edi": (
        1, 1, ["ge_control_mismatch", "iea_control_mismatch", "se_control_mismatch"], []),
    "x12_940_4010_edieng_wrong-counts.edi": (1, 1, ["ge_count_mismatch", "iea_count_mismatch"],
                                             ["iea_control_mismatch"]),
    "x12_997_4010VICS_bots.x12": (1, 1, [], []),
    "x12_generic_gozer_missing-isa.txt": (0, 0, ["no_interchange"], []),
    "x12_ta1_x12parser.txt": (1, 0, [], []),
}


def files() -> list[str]:
    return sorted(EXPECTED)


def test_every_corpus_file_is_pinned():
    if CORPUS.is_dir():
        present = {p.name for p in CORPUS.iterdir() if p.name != "MANIFEST.md"}
        assert present == set(EXPECTED)


@pytest.mark.parametrize("name", files())
def test_expected_result(name):
    data = (CORPUS / name).read_bytes()
    r = parse(data)
    n_ic, n_tx, errors, warnings = EXPECTED[name]
    assert len(r.interchanges) == n_ic
    assert len(r.transactions()) == n_tx
    assert sorted({f.code for f in r.findings if f.severity == "error"}) == errors
    assert sorted({f.code for f in r.findings if f.severity == "warning"}) == warnings
    assert r.ok == (not errors)
    if r.ok:
        for ic in r.interchanges:
            assert same_tree(parse(write(ic)).interchanges[0], ic)
    streamed = [i.transaction.segments for i in iter_transactions(data, chunk_size=61)]
    assert streamed == [t.segments for _, _, t in r.transactions()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_corpus_files(data):
    seeds = [(CORPUS / n).read_bytes() for n in files()]
    check(data.draw(mutated(seeds)))
