"""What the pipeline needs from mappings/ and rules/, loaded once per configuration and cached.

A ``Catalog`` belongs to one ``GatewayConfig``; a reload builds a new one, so a changed file is picked up
on ``systemctl reload`` and a broken one is reported then. Loads raise the loader's own problem error
(file, line, name); the pipeline turns that into a parked item with the reason.
"""

from __future__ import annotations

from pathlib import Path

from gateway.config import GatewayConfig, Partner, Route
from gateway.mapping import document_kind_for, load_partner_mapping
from gateway.mapping.compiled import Mapping
from gateway.rules.pack import RulePack, load_rule_pack
from gateway.rules.spec import Spec
from gateway.rules.specload import load_spec_for


class Catalog:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self._packs: dict[str, RulePack] = {}
        self._mappings: dict[tuple[str, str], Mapping] = {}

    def pack(self, name: str) -> RulePack:
        if name not in self._packs:
            path = Path(self.config.rules_dir) / f"{name}.yaml"
            self._packs[name] = load_rule_pack(path)
        return self._packs[name]

    def mapping(self, name: str, partner: Partner) -> Mapping:
        key = (name, partner.id)
        if key not in self._mappings:
            self._mappings[key] = load_partner_mapping(name, self.config.mappings_dir, partner.id)
        return self._mappings[key]

    def spec(self, standard: str, version: str, ttype: str, partner: Partner) -> Spec | None:
        return load_spec_for(standard, version, ttype, partner=partner.id, rules_dir_path=self.config.rules_dir)

    @staticmethod
    def inbound_route(partner: Partner, ttype: str) -> Route | None:
        """The partner's route for an inbound transaction: by its type ("850") or its kind ("purchase_order")."""
        kind = document_kind_for(None, ttype)
        for r in partner.routes:
            if r.direction == "outbound":
                continue
            if r.document == ttype or (kind is not None and r.document == kind and r.direction == "inbound"):
                return r
        return None

    @staticmethod
    def outbound_route(partner: Partner, kind: str) -> Route | None:
        for r in partner.routes:
            if r.direction == "inbound":
                continue
            if r.document == kind:
                return r
        return None
