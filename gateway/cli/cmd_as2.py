"""``gatewayctl as2 send FILE --partner P``: send one file over AS2 by hand and print the MDN outcome.

The message is built exactly as the daemon builds it (same profile, same codec), posted to the
partner's ``as2.url``, and the MDN is checked the same way (signature, disposition, MIC). The MDN is
asked for synchronously even when the partner profile says async: this command has no endpoint to
receive it on. Nothing is written to the spool (the daemon owns it). Exit 0 when the MDN is valid and
says processed, 1 otherwise, 2 for a usage or configuration problem.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click


@click.group("as2")
def as2_group() -> None:
    """AS2: send by hand."""


@as2_group.command("send")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--partner", "partner_id", required=True, help="Partner id (partners/<id>.yaml).")
@click.option(
    "--config", "config_path", default="gateway.yaml", show_default=True, type=click.Path(dir_okay=False)
)
@click.option("--content-type", default="application/edi-x12", show_default=True)
@click.option("--url", default=None, help="Post here instead of the partner's as2.url.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def send_cmd(
    file: str, partner_id: str, config_path: str, content_type: str, url: str | None, as_json: bool
) -> None:
    """Send FILE to PARTNER and print the MDN outcome."""
    from gateway.config import ConfigError, load_config
    from gateway.service import logging as gwlog
    from gateway.transport.as2.directory import build_directory

    gwlog.configure("console", "warning", stream=sys.stderr)  # stdout carries the report only
    try:
        config = load_config(config_path)
        directory = build_directory(config)
    except ConfigError as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        sys.exit(2)
    except (OSError, ValueError) as exc:
        click.echo(f"gatewayctl: cannot read the AS2 keys or certificates: {exc}", err=True)
        sys.exit(2)
    entry = directory.by_id.get(partner_id)
    if entry is None:
        click.echo(
            f"gatewayctl: partner {partner_id!r} has no as2 section (known: "
            f"{', '.join(sorted(directory.by_id)) or 'none'})",
            err=True,
        )
        sys.exit(2)
    if url or entry.profile.mdn.mode == "async":
        profile = entry.profile
        if profile.mdn.mode == "async":
            profile = replace(profile, mdn=replace(profile.mdn, mode="sync", url=None))
        entry = replace(entry, profile=profile, url=url or entry.url)
        directory.partners[entry.profile.as2_id] = directory.by_id[partner_id] = entry
    if not entry.url:
        click.echo(f"gatewayctl: partner {partner_id!r} has no as2.url; give --url", err=True)
        sys.exit(2)
    report = _send(directory, partner_id, Path(file), content_type)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        mdn = report["mdn"] or {}
        click.echo(
            f"message {report['message_id']} to {partner_id} ({entry.url}): "
            f"{'OK' if report['ok'] else 'FAILED'}: {report['detail']}"
        )
        if mdn:
            click.echo(
                f"  MDN: {mdn['disposition']}; signed={mdn['signed']}; MIC "
                f"{'matches' if mdn['mic_ok'] else 'does not match'} ({mdn['mic']}, {mdn['mic_alg']})"
            )
    sys.exit(0 if report["ok"] else 1)


def _send(directory: Any, partner_id: str, path: Path, content_type: str) -> dict[str, Any]:
    from twisted.internet import defer, task

    from gateway.transport.as2.pool import CodecPool
    from gateway.transport.as2.sender import As2Sender
    from gateway.transport.as2.station import Station

    out: dict[str, Any] = {}

    async def run(reactor: Any) -> None:
        station = Station(reactor, CodecPool(reactor, workers=0), directory, None, None, "", 0)
        report = await As2Sender(reactor, station).send(
            partner_id, path.read_bytes(), path.name, content_type
        )
        out.update(report.as_json())

    def main(reactor: Any) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(run(reactor))

    try:
        task.react(main)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    return out


def register(cli: click.Group) -> None:
    cli.add_command(as2_group)
