"""``gatewayctl certs``: generate our AS2 key and certificate, list certificates, show those expiring."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import click

from gateway.transport.as2 import certs


@click.group("certs")
def certs_group() -> None:
    """AS2 certificates: ours and our partners'."""


@certs_group.command("generate")
@click.option("--name", required=True, help="Common name, also the file name: NAME.key and NAME.crt.")
@click.option("--bits", default=3072, show_default=True, type=click.IntRange(2048, 8192))
@click.option("--days", default=730, show_default=True, type=click.IntRange(1, 36500))
@click.option("--dir", "directory", default="keys", show_default=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def generate_cmd(name: str, bits: int, days: int, directory: str, as_json: bool) -> None:
    """Write an RSA key (mode 0600) and a self-signed certificate for it."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise click.BadParameter("use letters, digits, '.', '_' and '-' only", param_hint="--name")
    pair = certs.self_signed(name, bits=bits, days=days)
    try:
        key_path, cert_path = certs.write_keypair(pair, Path(directory), name)
    except FileExistsError as e:
        raise click.ClickException(str(e)) from None
    info = certs.info(pair.cert, str(cert_path))
    if as_json:
        click.echo(json.dumps({"key": str(key_path), **info.as_json()}))
    else:
        click.echo(f"wrote {key_path} (0600) and {cert_path}")
        click.echo(
            f"  subject     {info.subject}\n  fingerprint {info.fingerprint}\n  not after   {info.not_after:%Y-%m-%d}"
        )


@certs_group.command("list")
@click.option("--dir", "directory", default="keys", show_default=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def list_cmd(directory: str, as_json: bool) -> None:
    """Subject, SHA-256 fingerprint and expiry of every certificate file in a folder."""
    found = certs.list_dir(Path(directory))
    if as_json:
        click.echo(json.dumps([i.as_json() for i in found]))
        return
    for i in found:
        click.echo(f"{i.not_after:%Y-%m-%d}  {i.fingerprint}  {i.subject}  ({i.source})")


@certs_group.command("expiring")
@click.option("--dir", "directory", default="keys", show_default=True, type=click.Path(file_okay=False))
@click.option("--days", default=30, show_default=True, type=click.IntRange(0, 3650))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def expiring_cmd(directory: str, days: int, as_json: bool) -> None:
    """Certificates expiring within DAYS (or expired); exit 1 when there are any."""
    hits = certs.expiring(certs.scan_dir(Path(directory)), within=timedelta(days=days))
    if as_json:
        click.echo(json.dumps([i.as_json() for i in hits]))
    else:
        for i in hits:
            click.echo(f"{i.not_after:%Y-%m-%d}  {i.subject}  ({i.source})")
    sys.exit(1 if hits else 0)


def register(cli: click.Group) -> None:
    cli.add_command(certs_group)
