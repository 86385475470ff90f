"""gatewayctl edi parse | ack | split: the EDI syntax layer offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.edi import InMemoryControlNumbers, parse, write
from gateway.edi.acks import build_997, build_999, build_contrl, build_ta1
from gateway.edi.parser import ParseResult
from gateway.edi.split import single_bytes


def _tree(result: ParseResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "standard": result.standard,
        "interchanges": [{
            "standard": ic.standard, "sender": ic.sender, "sender_qualifier": ic.sender_qualifier,
            "receiver": ic.receiver, "receiver_qualifier": ic.receiver_qualifier,
            "control_number": ic.control_number, "version": ic.version, "test": ic.test, "offset": ic.offset,
            "service_segments": ic.service_segments,
            "groups": [{
                "functional_id": g.functional_id, "control_number": g.control_number, "version": g.version,
                "sender": g.sender, "receiver": g.receiver,
                "transactions": [{"type": t.type, "control_number": t.control_number, "version": t.version,
                                  "offset": t.offset, "segments": t.segments} for t in g.transactions],
            } for g in ic.groups],
        } for ic in result.interchanges],
        "findings": [f.to_dict() for f in result.findings],
    }


def _read(path: str) -> ParseResult:
    return parse(Path(path).read_bytes())


@click.group("edi")
def edi() -> None:
    """Read, acknowledge and split X12 / EDIFACT files."""


@edi.command("parse")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the whole tree as JSON.")
def parse_cmd(file: str, as_json: bool) -> None:
    """Parse FILE; exit 0 when valid, 1 with one line per error otherwise."""
    result = _read(file)
    if as_json:
        click.echo(json.dumps(_tree(result), indent=1))
    else:
        for ic in result.interchanges:
            n = sum(len(g.transactions) for g in ic.groups)
            click.echo(f"{ic.standard} {ic.version} interchange {ic.control_number} from "
                       f"{ic.sender_qualifier}:{ic.sender} to {ic.receiver_qualifier}:{ic.receiver}: "
                       f"{len(ic.groups)} group(s), {n} transaction(s)")
            for g in ic.groups:
                types = sorted({t.type for t in g.transactions})
                click.echo(f"  group {g.functional_id or '-'} {g.control_number or '-'}: "
                           f"{len(g.transactions)} x {','.join(types) or '-'}")
        for f in result.findings:
            if f.severity == "warning":
                click.echo(f.line(), err=True)
    for f in result.errors:
        click.echo(f.line())
    sys.exit(0 if result.ok else 1)


@edi.command("ack")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", type=click.Choice(["auto", "997", "999", "ta1", "contrl"]), default="auto",
              help="auto: CONTRL for EDIFACT, 999 for X12 5010 and later, else 997.")
@click.option("--partner", default=None, help="Apply this partner's structure spec overrides.")
@click.option("--rules-dir", default=None, type=click.Path(file_okay=False),
              help="Where the structure specs live (default: the shipped rules/).")
def ack_cmd(file: str, kind: str, partner: str | None, rules_dir: str | None) -> None:
    """Print the acknowledgement(s) we would send for FILE: envelope and structure findings both."""
    from gateway.rules.validate import validate_parse_result

    result = _read(file)
    extra = validate_parse_result(result, partner=partner, rules_dir=rules_dir)
    cn = InMemoryControlNumbers()
    if not result.interchanges:
        for f in result.errors:
            click.echo(f.line(), err=True)
        sys.exit(1)
    for i, ic in enumerate(result.interchanges):
        k = kind
        if k == "auto":
            k = "contrl" if ic.standard == "edifact" else ("999" if ic.version >= "00501" else "997")
        if k == "contrl":
            out = build_contrl(result, i, control_numbers=cn, partner=ic.sender, extra=extra)
        elif k == "ta1":
            out = build_ta1(result, i, control_numbers=cn, partner=ic.sender)
        elif k == "999":
            out = build_999(result, i, control_numbers=cn, partner=ic.sender, extra=extra)
        else:
            out = build_997(result, i, control_numbers=cn, partner=ic.sender, extra=extra)
        if out is None and ic.standard == "x12":
            out = build_ta1(result, i, control_numbers=cn, partner=ic.sender)
        if out is not None:
            click.echo(write(out).decode("latin-1"))


@edi.command("split")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("outdir", type=click.Path(file_okay=False))
def split_cmd(file: str, outdir: str) -> None:
    """Write one interchange per transaction of FILE into OUTDIR (same envelopes, counts recomputed)."""
    result = _read(file)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for ic in result.interchanges:
        for g in ic.groups:
            for t in g.transactions:
                n += 1
                name = f"{n:05d}_{ic.control_number}_{g.control_number or '0'}_{t.control_number}_{t.type}.edi"
                (out / _safe(name)).write_bytes(single_bytes(ic, g, t))
    click.echo(f"{n} transaction(s) written to {out}")
    for f in result.errors:
        click.echo(f.line(), err=True)
    sys.exit(0 if result.ok else 1)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)


def register(cli: click.Group) -> None:
    cli.add_command(edi)
