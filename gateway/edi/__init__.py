"""EDI syntax: X12 and EDIFACT readers and writers, envelopes, acknowledgements. Pure; no I/O."""
