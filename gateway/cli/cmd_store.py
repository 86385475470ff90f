"""Store commands: ``audit verify|export``, ``index rebuild``, ``failed list``, ``doc show``, ``replay``.

Paths come from ``--config`` (``paths.spool``, ``paths.audit``, ``paths.index`` of gateway.yaml) when
that file exists, else the defaults below the current folder; ``--spool``, ``--audit`` and ``--index``
override them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class StorePaths:
    spool: str
    audit: str
    index: str


def _paths(config: str, spool: str | None, audit: str | None, index: str | None) -> StorePaths:
    base = StorePaths("spool", os.path.join("spool", "audit"), os.path.join("spool", "index.sqlite"))
    if not (spool and audit and index) and os.path.exists(config):
        from gateway.config import ConfigError, load_config

        try:
            p = load_config(config).paths
        except ConfigError as exc:
            raise click.ClickException(
                f"{config}: {len(exc.problems)} problem(s); run `gatewayctl config check`"
            ) from exc
        base = StorePaths(str(p.spool), str(p.audit), str(p.index))
    return StorePaths(spool or base.spool, audit or base.audit, index or base.index)


def path_options(f: F) -> F:
    f = click.option("--index", "index_path", help="Index database (default: paths.index).")(f)
    f = click.option("--audit", "audit_dir", help="Audit trail folder (default: paths.audit).")(f)
    f = click.option("--spool", "spool_dir", help="Spool folder (default: paths.spool).")(f)
    f = click.option("--config", default="gateway.yaml", show_default=True, type=click.Path(dir_okay=False))(
        f
    )
    return f


def _attach(config: str, spool_dir: str | None, audit_dir: str | None, index_path: str | None) -> Any:
    from gateway.store import Store

    p = _paths(config, spool_dir, audit_dir, index_path)
    try:
        return Store.attach(p.spool, p.audit, p.index)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc


# -- audit -------------------------------------------------------------------------------------
@click.group("audit")
def audit_group() -> None:
    """Check and export the audit trail."""


@audit_group.command("verify")
@path_options
@click.option("--json", "as_json", is_flag=True)
def audit_verify(
    config: str, spool_dir: str | None, audit_dir: str | None, index_path: str | None, as_json: bool
) -> None:
    """Check the hash chain; exit 1 naming the first broken event."""
    from gateway.store import verify

    p = _paths(config, spool_dir, audit_dir, index_path)
    if not os.path.isdir(p.audit):
        raise click.ClickException(f"no audit trail at {p.audit!r}")
    res = verify(p.audit)
    if as_json:
        broken = (
            None
            if res.broken is None
            else {
                "file": res.broken.file,
                "line": res.broken.line,
                "seq": res.broken.seq,
                "reason": res.broken.reason,
            }
        )
        click.echo(json.dumps({"ok": res.ok, "events": res.events, "files": res.files, "broken": broken}))
    elif res.ok:
        click.echo(f"OK {res.events} events in {res.files} day files, chain intact")
    else:
        click.echo(str(res.broken), err=True)
    sys.exit(0 if res.ok else 1)


@audit_group.command("export")
@path_options
@click.option("--from", "start", required=True, help="First day or time (ISO 8601, UTC if no offset).")
@click.option("--to", "end", required=True, help="Last day or time, inclusive.")
@click.option("--partner", help="Only this partner.")
@click.option("--po", help="Only events about this PO number.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def audit_export(
    config: str,
    spool_dir: str | None,
    audit_dir: str | None,
    index_path: str | None,
    start: str,
    end: str,
    partner: str | None,
    po: str | None,
    fmt: str,
    output: str | None,
) -> None:
    """Write the events an auditor asks for, as JSON Lines or CSV."""
    from gateway.store.auditcheck import events, export

    p = _paths(config, spool_dir, audit_dir, index_path)
    try:
        selected = events(p.audit, start=start, end=end, partner=partner, po=po)
        if output:
            with open(output, "w", encoding="utf-8", newline="") as f:
                n = export(selected, f, fmt)
            click.echo(f"{n} events written to {output}", err=True)
        else:
            export(selected, sys.stdout, fmt)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


# -- index ------------------------------------------------------------------------------------
@click.group("index")
def index_group() -> None:
    """The SQLite index."""


@index_group.command("rebuild")
@path_options
@click.option("--json", "as_json", is_flag=True)
def index_rebuild(
    config: str, spool_dir: str | None, audit_dir: str | None, index_path: str | None, as_json: bool
) -> None:
    """Recreate the index from the audit trail and the spool (the gateway must be stopped)."""
    from gateway.store import Spool, StoreLocked
    from gateway.store.lock import SpoolLock
    from gateway.store.rebuild import count_events, rebuild

    p = _paths(config, spool_dir, audit_dir, index_path)
    if not os.path.isdir(p.spool):
        raise click.ClickException(f"no spool at {p.spool!r}")
    lock = SpoolLock(p.spool)
    try:
        lock.acquire("gatewayctl index rebuild")
    except StoreLocked as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        total = count_events(p.audit)
        with click.progressbar(length=total, label="Replaying audit events", file=sys.stderr) as bar:
            rep = rebuild(Spool(p.spool), p.audit, p.index, progress=bar.update)
    finally:
        lock.release()
    summary = {
        "events": rep.events,
        "documents": rep.documents,
        "missing_bodies": rep.missing_bodies,
        "counters_kept": rep.counters_kept,
        "index": p.index,
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"Rebuilt {p.index}: {rep.events} events, {rep.documents} documents")
        for doc_id in rep.missing_bodies:
            click.echo(f"warning: document {doc_id}: body not found in the spool or the trail", err=True)


# -- operator commands ---------------------------------------------------------------------------
@click.group("failed")
def failed_group() -> None:
    """Items that could not be processed."""


@failed_group.command("list")
@path_options
@click.option("--json", "as_json", is_flag=True)
def failed_list(
    config: str, spool_dir: str | None, audit_dir: str | None, index_path: str | None, as_json: bool
) -> None:
    """List the items in failed/, oldest first, with their reason."""
    store = _attach(config, spool_dir, audit_dir, index_path)
    try:
        rows = []
        for item_id in store.spool.list("failed"):
            it = store.spool.find(item_id)
            if it is not None:
                m = it.meta
                rows.append(
                    {
                        "id": item_id,
                        "partner": m.get("partner"),
                        "received_at": m.get("received_at"),
                        "size": m.get("size"),
                        "reason": m.get("reason"),
                    }
                )
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        click.echo(f"{r['id']}  {r['partner'] or '-':<16} {r['size'] or 0:>9} B  {r['reason'] or ''}")
    click.echo(f"{len(rows)} failed item(s)", err=True)


@click.group("doc")
def doc_group() -> None:
    """Documents and spool items."""


@doc_group.command("show")
@click.argument("ident")
@path_options
@click.option("--json", "as_json", is_flag=True)
def doc_show(
    ident: str,
    config: str,
    spool_dir: str | None,
    audit_dir: str | None,
    index_path: str | None,
    as_json: bool,
) -> None:
    """Show a spool item (by item id) or a document (by doc id): meta, history, audit events."""
    from gateway.store.auditcheck import events

    store = _attach(config, spool_dir, audit_dir, index_path)
    try:
        doc = store.index.document(ident)
        item_id = doc["item_id"] if doc else ident
        it = store.spool.find(item_id) if item_id else None
        if it is None and doc is None:
            raise click.ClickException(f"no spool item or document {ident!r}")
        evs = [
            e
            for e in events(store.audit.dir)
            if (item_id and e.get("item_id") == item_id) or (e.get("keys") or {}).get("doc_id") == ident
        ]
        info = {
            "item": None
            if it is None
            else {"id": it.id, "state": it.state, "path": it.path, "meta": it.meta},
            "document": doc,
            "documents": store.index.documents_for_item(item_id) if item_id else [],
            "audit": evs,
        }
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(info, indent=1, default=str))
        return
    if it is not None:
        m = it.meta
        click.echo(
            f"item {it.id}  state {it.state}  partner {m.get('partner')}  {m.get('size')} B  sha256 {m.get('sha256')}"
        )
        click.echo(
            f"  transport {m.get('transport')}  message id {m.get('message_id')}  received {m.get('received_at')}"
        )
        if m.get("reason"):
            click.echo(f"  reason: {m['reason']}")
        click.echo("history:")
        for h in m.get("history", []):
            click.echo(f"  {h['at']}  {h['state']:<12} {h.get('note') or ''}")
    if doc is not None:
        click.echo(
            f"document {doc['doc_id']}  {doc['kind']}  state {doc['state']}  received {doc['received_at']}"
        )
    click.echo("audit:")
    for e in evs:
        click.echo(
            f"  #{e['seq']} {e['time']}  {e['event']:<22} {json.dumps(e.get('data') or {}, sort_keys=True)}"
        )


@click.command("replay")
@click.argument("item_id")
@path_options
def replay_cmd(
    item_id: str, config: str, spool_dir: str | None, audit_dir: str | None, index_path: str | None
) -> None:
    """Put a failed item back into in/ for processing (audited)."""
    from gateway.store import ItemNotFound

    store = _attach(config, spool_dir, audit_dir, index_path)
    try:
        it = store.replay(item_id, by=os.environ.get("USER") or "operator")
    except (ItemNotFound, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"{it.id} moved back to {it.state}/")


def register(cli: click.Group) -> None:
    for cmd in (audit_group, index_group, failed_group, doc_group, replay_cmd):
        cli.add_command(cmd)
