"""``gatewayctl config check``: the exact code path that startup and SIGHUP reload run."""

from __future__ import annotations

import json
import sys

import click

from gateway.config import ConfigError, load_config


@click.group("config")
def config_group() -> None:
    """Check the gateway configuration."""


@config_group.command("check")
@click.option("--config", "config_path", default="gateway.yaml", show_default=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check_cmd(config_path: str, as_json: bool) -> None:
    """Print every problem (file:line: key: what is wrong) and exit 1, or a one-line summary and exit 0."""
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "problems": [
                {"file": p.file, "line": p.line, "key": p.key, "message": p.message} for p in exc.problems]}))
        else:
            for p in exc.problems:
                click.echo(str(p))
            click.echo(f"{len(exc.problems)} problem(s) found", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"ok": True, "node": cfg.node, "partners": sorted(cfg.partners),
                               "destinations": sorted(cfg.destinations), "checksum": cfg.checksum}))
    else:
        click.echo(f"OK {cfg.summary()}")


def register(cli: click.Group) -> None:
    cli.add_command(config_group)
