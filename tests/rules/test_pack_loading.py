"""Rule packs are refused at load with file, line and rule id; hostile expressions cannot run away."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.rules.pack import load_rule_pack
from gateway.rules.yamlsrc import RulesConfigError
from tests.rules.docs import NOW, TZ, purchase_order

GOOD_RULE = """
  - id: ok
    document: purchase_order
    assert: len(lines) > 0
    message: fine
"""


def load(tmp_path: Path, rules: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "pack.yaml"
    path.write_text("pack: test\nrules:\n" + GOOD_RULE + rules)
    return load_rule_pack(path)


def problems(tmp_path: Path, rules: str) -> list[str]:
    with pytest.raises(RulesConfigError) as exc:
        load(tmp_path, rules)
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize(
    ("assertion", "expected"),
    [
        ("len(lines) >", "syntax error"),
        ("po_numbr == 'x'", "unknown name 'po_numbr'"),
        ("all(l.quantty > 0 for l in lines)", "unknown field 'quantty'"),
        ("gtin_okay(po_number)", "unknown function 'gtin_okay'"),
        ("lines.clear()", "only the rule functions can be called"),
        ("po_number.__class__", "not allowed"),
        ("__import__('os')", "unknown function '__import__'"),
        ("2 ** 100000", "'Pow' is not allowed"),
        ("(lambda: 1)()", "only the rule functions can be called"),
        ("matches('([a-z]', po_number)", "bad regular expression"),
        ("documents('purchase_orders', po_number)", "unknown document kind"),
        ("[x := 1]", "not allowed"),
        ("ship_to.name.upper", "has no fields"),
    ],
)
def test_mistakes_are_reported_with_file_line_and_rule(tmp_path: Path, assertion: str, expected: str) -> None:
    rule = f"""
  - id: broken.rule
    document: purchase_order
    assert: "{assertion}"
    message: x
"""
    found = problems(tmp_path, rule)
    assert len(found) == 1, found
    assert found[0].startswith(f"{tmp_path / 'pack.yaml'}:11: broken.rule.assert: "), found
    assert expected in found[0]


def test_all_problems_are_listed_together(tmp_path: Path) -> None:
    rules = """
  - id: a
    document: purchase_orderz
    assert: "True"
    message: x
  - id: b
    document: invoice
    severity: fatal
    assert: "True"
    message: x
  - id: c
    document: invoice
    assert: "total > 0"
    message: "{totl}"
    colour: red
  - id: ok
    document: invoice
    assert: "True"
    message: dup
"""
    found = problems(tmp_path, rules)
    text = "\n".join(found)
    assert "pack.yaml:10: a: unknown document 'purchase_orderz'" in text
    assert "pack.yaml:15: b: severity 'fatal'" in text
    assert "pack.yaml:22: c.colour: unknown key" in text
    assert "pack.yaml:21: c.message: unknown name 'totl'" in text
    assert "duplicate rule id" in text


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("pack: x\nrules:\n  - id: a\n    assert: [unclosed\n")
    with pytest.raises(RulesConfigError) as exc:
        load_rule_pack(path)
    assert "bad.yaml:" in str(exc.value) and "YAML syntax" in str(exc.value)


@pytest.mark.parametrize(
    "assertion",
    [
        "len([1 for a in lines for b in lines for c in lines for d in lines for e in lines]) > 0",
        "len(po_number * 100000000) > 0",
        "1 / 0 > 0",
    ],
)
def test_runaway_or_failing_expressions_become_findings(tmp_path: Path, assertion: str) -> None:
    pack = load(tmp_path, f"""
  - id: hostile
    document: purchase_order
    assert: "{assertion}"
    message: x
""")
    findings = pack.check(purchase_order(lines=40), None, NOW, TZ)
    assert [f.rule_id for f in findings] == ["hostile"]
    assert "could not be evaluated" in findings[0].message


def test_documents_are_read_only_and_money_is_decimal(tmp_path: Path) -> None:
    pack = load(tmp_path, """
  - id: exact
    document: purchase_order
    assert: "sum(l.unit_price for l in lines) == 37.02 and 0.1 + 0.2 == 0.3"
    message: "sum is {sum(l.unit_price for l in lines)}"
""")
    assert pack.check(purchase_order(lines=3), None, NOW, TZ) == []
