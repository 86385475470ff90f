"""gatewayctl: the admin CLI.

Each ``gateway/cli/cmd_*.py`` module defines ``register(cli)`` and adds its own commands, so areas of
the product add commands without editing this file. Commands follow ``gatewayctl <noun> <verb>`` and take
``--json`` where their output is data.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

import gateway


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(gateway.__version__, prog_name="gatewayctl")
def cli() -> None:
    """Acorn EDI Gateway administration."""


def _register_all() -> None:
    import gateway.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"gateway.cli.{info.name}").register(cli)


_register_all()
