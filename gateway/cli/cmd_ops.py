"""``gatewayctl submit`` (hand a file to the gateway as if a partner sent it) and ``gatewayctl status``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import click

from gateway.config import ConfigError, load_config
from gateway.transport.inbox import Received


def _config(path: str):  # type: ignore[no-untyped-def]
    try:
        return load_config(path)
    except ConfigError as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        raise click.ClickException(f"{path}: {len(exc.problems)} problem(s)") from exc


def _attach(cfg):  # type: ignore[no-untyped-def]
    from gateway.cli.cmd_store import _attach as attach_paths

    return attach_paths(str(cfg.file), str(cfg.paths.spool), str(cfg.paths.audit), str(cfg.paths.index))


@click.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--partner", required=True, help="The partner id the file is from (partners/<id>.yaml).")
@click.option("--config", "config_path", default="gateway.yaml", show_default=True)
def submit_cmd(file: str, partner: str, config_path: str) -> None:
    """Put FILE into the spool's in/ as if PARTNER had sent it; the running daemon processes it."""
    cfg = _config(config_path)
    if partner not in cfg.partners:
        raise click.ClickException(f"unknown partner {partner!r}; known: {', '.join(sorted(cfg.partners))}")
    store = _attach(cfg)
    try:
        item = store.accept(Path(file).read_bytes(), Received(partner=partner, transport="cli",
                                                              filename=Path(file).name))
    finally:
        store.close()
    click.echo(item)


@click.command("status")
@click.option("--config", "config_path", default="gateway.yaml", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def status_cmd(config_path: str, as_json: bool) -> None:
    """Counts per spool state and partner, and the PO board with acknowledgement deadlines."""
    from gateway.pipeline.board import COLUMNS, board

    cfg = _config(config_path)
    store = _attach(cfg)
    try:
        counts: dict[str, Counter[str]] = {}
        for state in store.spool.states():
            per = Counter(str(store.spool.item(i).meta.get("partner") or "-") for i in store.spool.list(state))
            if per:
                counts[state] = per
        po_board = board(store.index, cfg, datetime.now(UTC))
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"spool": {s: dict(c) for s, c in counts.items()}, "po_board": po_board,
                               "pipeline_hold": cfg.pipeline_hold}, default=str))
        return
    if cfg.pipeline_hold:
        waiting = sum(counts.get("in", Counter()).values())
        click.echo(f"pipeline: ON HOLD (pipeline.hold: true in {cfg.file}); {waiting} item(s) waiting in in/")
    click.echo("spool:")
    for state, per in sorted(counts.items()):
        click.echo(f"  {state:<28} {sum(per.values()):>6}   " + ", ".join(f"{p} {n}" for p, n in sorted(per.items())))
    if not counts:
        click.echo("  (empty)")
    click.echo("purchase orders:")
    for state, title in COLUMNS:
        rows = po_board[state]
        click.echo(f"  {title}: {len(rows)}")
        for r in rows[:20]:
            extra = ""
            if state == "received":
                extra = " OVERDUE" if r["overdue"] else f" ack due {r['ack_deadline']}"
            click.echo(f"    {r['partner']:<14} PO {r['po_number']:<20} received {r['received_at'][:19]}{extra}")
    sys.stdout.flush()


def register(cli: click.Group) -> None:
    cli.add_command(submit_cmd)
    cli.add_command(status_cmd)
