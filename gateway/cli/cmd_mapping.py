"""gatewayctl translate / mapping explain / mapping check: the mapping engine offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.edi import detect, parse
from gateway.edi.envelope import InMemoryControlNumbers
from gateway.yamlfile import ProblemsError, load


def _partner(spec: str, partners_dir: str) -> dict[str, Any]:
    p = Path(spec)
    if not p.suffix:
        p = Path(partners_dir) / f"{spec}.yaml"
    data = load(p).data
    if not isinstance(data, dict):
        raise click.ClickException(f"{p}: not a partner profile")
    return data


def _our_ids(config: str) -> dict[str, Any]:
    p = Path(config)
    if p.exists():
        data = load(p).data or {}
        if isinstance(data, dict) and isinstance(data.get("our"), dict):
            return data["our"]
    return {"x12": {"qualifier": "ZZ", "id": "ACMEVENDOR"}, "edifact": {"qualifier": "14", "id": "4012345000009"}}


def _fail_on(findings: list[Any]) -> bool:
    for f in findings:
        click.echo(f.line(), err=True)
    return any(f.severity == "error" for f in findings)


@click.command("translate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--partner", "partner_spec", required=True, help="Partner id (partners/<id>.yaml) or a profile path.")
@click.option("--mapping", "mapping_name", help="Mapping name (default: the partner's route for the document).")
@click.option("--to", "to", type=click.Choice(["json", "x12", "edifact", "xml"]), help="Output kind.")
@click.option("--coverage", is_flag=True, help="List input segments and elements no mapping rule read.")
@click.option("--mappings-dir", default="mappings", show_default=True)
@click.option("--partners-dir", default="partners", show_default=True)
@click.option("--config", "config_path", default="gateway.yaml", show_default=True, help="For our EDI ids.")
def translate_cmd(file: str, partner_spec: str, mapping_name: str | None, to: str | None, coverage: bool,
                  mappings_dir: str, partners_dir: str, config_path: str) -> None:
    """EDI in: one canonical JSON document per line. JSON in: the partner's EDI (or --to xml/json reshape)."""
    from gateway.mapping import build_interchange, load_mapping, map_transaction, mapping_name_for

    try:
        partner = _partner(partner_spec, partners_dir)
        data = Path(file).read_bytes()
        bad = False
        if detect(data) is not None:
            result = parse(data)
            bad = _fail_on(result.findings)
            for ic, group, tx in result.transactions():
                name = mapping_name or mapping_name_for(partner, tx.type, "inbound")
                if name is None:
                    raise click.ClickException(f"partner {partner.get('id')} has no inbound route for {tx.type}")
                m = load_mapping(name, mappings_dir)
                if coverage:
                    for row in m.coverage(tx, partner_tz=str(partner.get("timezone", "UTC"))):
                        click.echo(json.dumps({"transaction": tx.control_number, **row}))
                    continue
                doc, findings = map_transaction(ic, group, tx, partner=partner, mappings_dir=mappings_dir, mapping=m)
                bad = _fail_on(findings) or bad
                click.echo(json.dumps(doc, ensure_ascii=False))
        else:
            doc = json.loads(data)
            if to in ("xml", "json"):
                if not mapping_name:
                    raise click.ClickException("--to xml/json needs --mapping (a reshape mapping)")
                out, findings = load_mapping(mapping_name, mappings_dir).reshape(
                    doc, partner_tz=str(partner.get("timezone", "UTC")))
                bad = _fail_on(findings)
                if isinstance(out, bytes):
                    sys.stdout.buffer.write(out + b"\n")
                else:
                    click.echo(json.dumps(out, ensure_ascii=False, indent=1))
            else:
                edi, findings = build_interchange(doc, partner, _our_ids(config_path), InMemoryControlNumbers(),
                                                  mappings_dir=mappings_dir, mapping=mapping_name)
                bad = _fail_on(findings)
                sys.stdout.buffer.write(edi + b"\n")
    except ProblemsError as exc:
        raise click.ClickException(str(exc)) from None
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if bad:
        sys.exit(1)


@click.group("mapping")
def mapping_group() -> None:
    """Inspect and check YAML mappings."""


@mapping_group.command("explain")
@click.argument("name")
@click.option("--mappings-dir", default="mappings", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def explain_cmd(name: str, mappings_dir: str, as_json: bool) -> None:
    """For each output field: the input it comes from and the conversions on the way."""
    from gateway.mapping import load_mapping

    try:
        m = load_mapping(name, mappings_dir)
    except ProblemsError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [{"output": e.output, "source": e.source, "conversions": e.conversions} for e in m.explained]
    if as_json:
        click.echo(json.dumps({"mapping": name, "direction": m.direction, "document": m.document,
                               "transaction": m.transaction_type, "fields": rows}, indent=1))
        return
    click.echo(f"{name}: {m.direction} {m.document} ({m.standard or ''} {m.transaction_type or ''})".rstrip())
    width = max((len(r["output"]) for r in rows), default=10)
    for r in rows:
        conv = (" | " + " | ".join(r["conversions"])) if r["conversions"] else ""
        click.echo(f"  {r['output']:<{width}}  <-  {r['source']}{conv}")


@mapping_group.command("check")
@click.option("--mappings-dir", default="mappings", show_default=True)
def check_cmd(mappings_dir: str) -> None:
    """Compile every mapping; print each problem with file and line."""
    from gateway.mapping import check_mappings_tree

    problems = check_mappings_tree(mappings_dir)
    for p in problems:
        click.echo(str(p), err=True)
    if problems:
        sys.exit(1)
    click.echo("mappings OK")


def register(cli: click.Group) -> None:
    cli.add_command(translate_cmd)
    cli.add_command(mapping_group)
