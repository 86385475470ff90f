"""EDI syntax: X12 and EDIFACT readers and writers, envelopes, acknowledgements. Pure; no I/O.

``parse(bytes) -> ParseResult``; ``iter_transactions(stream_or_path)`` for large inputs;
``write(interchange)`` back to bytes; ``envelope(...)`` for outbound transactions; ``gateway.edi.acks``
for 997/999/TA1/CONTRL.
"""

from gateway.edi.compare import same_tree, without_positions
from gateway.edi.envelope import ControlNumbers, InMemoryControlNumbers, envelope
from gateway.edi.parser import ParseResult, detect, parse
from gateway.edi.stream import StreamedTransaction, TransactionReader, iter_transactions
from gateway.edi.writer import write

__all__ = [
    "ControlNumbers", "InMemoryControlNumbers", "ParseResult", "StreamedTransaction", "TransactionReader",
    "detect", "envelope", "iter_transactions", "parse", "same_tree", "without_positions", "write",
]
