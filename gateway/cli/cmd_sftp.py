"""``gatewayctl sftp``: the SFTP server's host key, password hashes for SFTP users."""

from __future__ import annotations

import json
import os
import sys

import click

from gateway.transport.sftp.auth import hash_password
from gateway.transport.sftp.hostkey import (
    HOST_KEY_FILENAME,
    fingerprint,
    load_or_create_host_key,
    public_line,
)


@click.group("sftp")
def sftp_group() -> None:
    """SFTP server: host key and user passwords."""


@sftp_group.command("hostkey")
@click.option("--config", "config_path", default="gateway.yaml", show_default=True, type=click.Path(dir_okay=False))
@click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False),
              help="Host key file (default: <paths.keys>/ssh_host_ed25519_key from the config).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def hostkey_cmd(config_path: str, key_path: str | None, as_json: bool) -> None:
    """Print the host key fingerprint partners pin; creates the key (once, kept) if there is none yet."""
    if key_path is None:
        from gateway.config import ConfigError, load_config

        try:
            key_path = os.path.join(str(load_config(config_path).paths.keys), HOST_KEY_FILENAME)
        except ConfigError as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            sys.exit(1)
    created = not os.path.exists(key_path)
    key = load_or_create_host_key(key_path)
    info = {"path": key_path, "fingerprint": fingerprint(key), "public_key": public_line(key), "created": created}
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(f"{info['fingerprint']} ({key.sshType().decode()}){' [created]' if created else ''}")
        click.echo(info["public_key"])


@sftp_group.command("hash-password")
@click.option("--scheme", type=click.Choice(["bcrypt", "scrypt"]), default="bcrypt", show_default=True)
def hash_password_cmd(scheme: str) -> None:
    """Read a password (prompt, or one line on stdin) and print its hash for an SFTP user's password file."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise click.UsageError("empty password")
    click.echo(hash_password(password, scheme))


def register(cli: click.Group) -> None:
    cli.add_command(sftp_group)
