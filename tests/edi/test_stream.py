from __future__ import annotations

import io

import pytest

from gateway.edi import iter_transactions, parse
from tests.edi.samples import edifact, x12


def _same_as_parse(data: bytes, chunk: int) -> None:
    expected = parse(data)
    reader = iter_transactions(io.BytesIO(data), chunk_size=chunk)
    got = [(i.interchange_index, i.group_index, i.transaction_index, i.transaction.control_number,
            i.transaction.segments, i.transaction.offset) for i in reader]
    want = [(a, b, c, t.control_number, t.segments, t.offset)
            for a, ic in enumerate(expected.interchanges) for b, g in enumerate(ic.groups)
            for c, t in enumerate(g.transactions)]
    assert got == want
    assert sorted(f.code for f in reader.findings) == sorted(f.code for f in expected.findings)
    assert reader.ok == expected.ok


@pytest.mark.parametrize("chunk", [5, 64, 1 << 20])
@pytest.mark.parametrize("data", [
    x12(pos=4), x12(ctl=1) + x12(ctl=2, term="\n", sep="").replace(b"*", b"|"),
    x12().replace(b"SE*7*0002", b"SE*9*0002"), x12()[:-30],
    edifact(), edifact(una=False) + edifact(ctl="9"), edifact().replace(b"UNT+7+1", b"UNT+3+1"),
], ids=range(7))
def test_stream_gives_what_parse_gives(data, chunk):
    _same_as_parse(data, chunk)


def test_stream_reads_a_path_and_hands_out_findings_per_transaction(tmp_path):
    path = tmp_path / "in.edi"
    path.write_bytes(x12(pos=3).replace(b"SE*7*0002", b"SE*9*0002"))
    items = list(iter_transactions(path, chunk_size=50))
    assert [len(i.findings) for i in items] == [0, 1, 0]
    assert items[1].findings[0].code == "se_count_mismatch"
    assert items[0].group.transactions == []  # nothing is kept behind the reader


def test_runaway_segment_is_stopped():
    data = x12()[:200] + b"A" * (5 << 20)
    reader = iter_transactions(data)
    assert list(reader) == []
    assert "segment_too_long" in {f.code for f in reader.findings}
