"""gatewayctl validate FILE; gatewayctl rules check / tree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gateway.edi import parse
from gateway.rules import (
    RulesConfigError,
    build_tree,
    check_rules_tree,
    load_rule_pack,
    load_spec_for,
    validate_parse_result,
)


def _line(f) -> str:  # type: ignore[no-untyped-def]
    where = []
    if f.transaction is not None:
        where.append(f"transaction {f.transaction + 1}")
    if f.segment_position is not None:
        where.append(f"segment {f.segment_position} {f.segment_id or ''}".rstrip())
    if f.element is not None:
        where.append(f"element {f.element}" + (f".{f.component}" if f.component else ""))
    if f.path:
        where.append(f.path)
    code = f.rule_id or f.x12_element or f.x12_segment or f.x12_transaction or f.edifact or ""
    return f"{f.severity}: {', '.join(where) or 'interchange'}: {f.code}" + (f" [{code}]" if code else "") + f": {f.message}"


@click.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--partner", default=None, help="partner id: apply rules/partners/<id>/ spec overrides")
@click.option("--rules-dir", default=None, type=click.Path(file_okay=False), help="rules directory (default: shipped)")
@click.option("--json", "as_json", is_flag=True, help="findings as JSON objects")
@click.option("--config", "config_path", default="gateway.yaml", show_default=True,
              help="with --partner: the gateway config whose routes name the mappings and rule packs")
def validate(file: Path, partner: str | None, rules_dir: str | None, as_json: bool, config_path: str) -> None:
    """Check an EDI file's envelopes and transaction structure; with --partner, also map each transaction
    with the partner's route and run its business rule packs. Exit 0 when valid, 1 otherwise."""
    result = parse(file.read_bytes())
    try:
        findings = list(result.findings) + validate_parse_result(result, partner=partner, rules_dir=rules_dir)
    except RulesConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    if partner is not None:
        findings += _business(result, partner, config_path)
    if as_json:
        click.echo(json.dumps([f.to_dict() for f in findings], indent=1, default=str))
    else:
        for f in findings:
            click.echo(_line(f))
        n = sum(1 for _ in result.transactions())
        errors = sum(f.severity == "error" for f in findings)
        click.echo(f"{file}: {n} transaction(s), {errors} error(s), {len(findings) - errors} warning(s)", err=True)
    sys.exit(1 if any(f.severity == "error" for f in findings) else 0)


def _business(result, partner_id: str, config_path: str) -> list:  # type: ignore[no-untyped-def]
    """Map every transaction with the partner's route and run the route's rule packs (no document index:
    cross-document rules are left to the daemon)."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from gateway.config import ConfigError, load_config
    from gateway.mapping.translate import source_block
    from gateway.pipeline.catalog import Catalog

    if not Path(config_path).exists():
        click.echo(f"note: {config_path} not found; business rules not run", err=True)
        return []
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"note: {config_path} has {len(exc.problems)} problem(s); business rules not run", err=True)
        return []
    partner = cfg.partners.get(partner_id)
    if partner is None:
        click.echo(f"note: no partner {partner_id!r} in {config_path}; business rules not run", err=True)
        return []
    catalog = Catalog(cfg)
    out = []
    for i, ic in enumerate(result.interchanges):
        for gi, g in enumerate(ic.groups):
            for ti, t in enumerate(g.transactions):
                route = catalog.inbound_route(partner, t.type)
                if route is None or not route.mapping:
                    continue
                doc, mapped = catalog.mapping(route.mapping, partner).to_canonical(
                    t, partner_id=partner.id, partner_tz=partner.timezone, source=source_block(ic, g, t))
                found = list(mapped)
                for name in route.rules:
                    found += catalog.pack(name).check(doc, None, datetime.now(UTC), partner.timezone)
                out += [replace(f, interchange=i, group=gi, transaction=ti) for f in found]
    return out


@click.group("rules")
def rules_group() -> None:
    """Structure specs and business rule packs."""


@rules_group.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def rules_check(paths: tuple[Path, ...]) -> None:
    """Load every spec and rule pack (default: the shipped rules/); list every problem with file and line."""
    problems: list[str] = []
    root = paths[0] if len(paths) == 1 and paths[0].is_dir() else None
    targets = [p for p in paths if p.is_file()]
    if not paths or root is not None:
        problems += [str(p) for p in check_rules_tree(root)]
        base = root or Path(__file__).resolve().parents[2] / "rules"
        targets += [p for p in sorted(base.glob("*/*.yaml")) if p.parent.name not in ("x12", "edifact", "partners")]
    for path in targets:
        try:
            load_rule_pack(path)
        except RulesConfigError as exc:
            problems += [str(p) for p in exc.problems]
    for p in problems:
        click.echo(p)
    click.echo(f"{len(problems)} problem(s)", err=True)
    sys.exit(1 if problems else 0)


@rules_group.command("tree")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--partner", default=None)
def rules_tree(file: Path, partner: str | None) -> None:
    """Print each transaction's loop tree as JSON (what the mapping layer reads)."""
    result = parse(file.read_bytes())
    out = []
    for ic, group, tx in result.transactions():
        spec = load_spec_for(ic.standard, tx.version or group.version, tx.type, partner=partner)
        out.append({"type": tx.type, "control_number": tx.control_number,
                    "tree": build_tree(tx, spec).to_dict() if spec else None})
    click.echo(json.dumps(out, indent=1))


def register(cli: click.Group) -> None:
    cli.add_command(validate)
    cli.add_command(rules_group)
