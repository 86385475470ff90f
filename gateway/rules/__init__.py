"""The YAML rule engine: transaction-set structure specs and business rule packs.

Structure: ``load_spec_for(standard, version, type, partner_overrides=None)`` -> ``Spec``;
``validate_transaction(transaction, spec) -> list[Finding]`` (997/999/CONTRL codes filled);
``build_tree(transaction, spec) -> Loop`` for mapping; ``validate_parse_result(parse_result)`` for a whole file.

Business: ``load_rule_pack(path) -> RulePack``; ``RulePack.check(doc, index, now, partner_tz) -> list[Finding]``.
Load errors raise ``RulesConfigError`` listing every problem with file, line and key or rule id.
"""

from gateway.rules.pack import RulePack, load_rule_pack
from gateway.rules.specload import check_rules_tree, load_spec_for
from gateway.rules.structure import build_tree, read_transaction, validate_transaction
from gateway.rules.tree import Loop
from gateway.rules.validate import validate_parse_result
from gateway.rules.yamlsrc import Problem, RulesConfigError

__all__ = [
    "Loop", "Problem", "RulePack", "RulesConfigError", "build_tree", "check_rules_tree", "load_rule_pack",
    "load_spec_for", "read_transaction", "validate_parse_result", "validate_transaction",
]
