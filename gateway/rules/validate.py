"""Structural validation of everything a parse produced: the entry point for the CLI and the ack writer."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from gateway.edi.findings import Finding
from gateway.rules.specload import load_spec_for
from gateway.rules.structure import validate_transaction
from gateway.rules.yamlsrc import RulesConfigError


def transaction_version(standard: str, group_version: str, transaction_version: str) -> str:
    return transaction_version or group_version


def validate_parse_result(
    result: Any,
    *,
    partner: str | None = None,
    partner_overrides: str | os.PathLike[str] | dict[str, Any] | None = None,
    rules_dir: str | os.PathLike[str] | None = None,
) -> list[Finding]:
    """Structural findings for every transaction of a ``gateway.edi.ParseResult``, with positions filled.

    A transaction set without a shipped spec gets one warning (``no_structure_spec``) and is not judged.
    """
    findings: list[Finding] = []
    for i, ic in enumerate(result.interchanges):
        for g_i, group in enumerate(ic.groups):
            for t_i, tx in enumerate(group.transactions):
                version = transaction_version(ic.standard, group.version, tx.version)
                try:
                    spec = load_spec_for(ic.standard, version, tx.type, partner_overrides, partner=partner,
                                         rules_dir_path=rules_dir)
                except RulesConfigError as exc:
                    findings.append(Finding(code="spec_invalid", message=str(exc), level="transaction",
                                            interchange=i, group=g_i, transaction=t_i, severity="error"))
                    continue
                if spec is None:
                    findings.append(Finding(
                        code="no_structure_spec", severity="warning", level="transaction", interchange=i,
                        group=g_i, transaction=t_i,
                        message=f"no structure spec for {ic.standard.upper()} {version or '?'} {tx.type}: "
                                "structure not checked"))
                    continue
                for f in validate_transaction(tx, spec, interchange=i, group=g_i, index=t_i):
                    findings.append(replace(f, offset=None) if f.offset is not None else f)
    return findings
