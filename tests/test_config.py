"""Configuration checks: every error names the file, the line and the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gateway.config import ConfigError, load_config
from tests.conftest import GATEWAY_YAML, PARTNER_YAML


def problems(tree) -> list:
    with pytest.raises(ConfigError) as info:
        load_config(tree.gateway)
    return info.value.problems


def only(tree):
    found = problems(tree)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_valid_tree_loads(config_tree):
    cfg = load_config(config_tree.gateway)
    assert cfg.node == "test1"
    assert set(cfg.partners) == {"amazon-us"}
    assert cfg.partners["amazon-us"].routes[0].to == ("erp",)
    assert cfg.partner_by_as2_id("AMAZON").id == "amazon-us"
    assert cfg.drain_timeout == 2.0
    assert cfg.as2_body_max == 100 * 1024 * 1024  # default filled in from a missing section
    assert len(cfg.checksum) == 64
    assert cfg.store_sync == "auto"


def test_store_sync_mode_is_checked(config_tree):
    config_tree.write("gateway.yaml", GATEWAY_YAML + "store: {sync: syncfs}\n")
    assert load_config(config_tree.gateway).store_sync == "syncfs"
    config_tree.write("gateway.yaml", GATEWAY_YAML + "store: {sync: fast}\n")
    p = only(config_tree)
    assert p.key == "store.sync" and p.line == GATEWAY_YAML.count("\n") + 1
    assert "'fast'" in p.message and "fsync" in p.message


def test_wrong_type_names_file_line_key(config_tree):
    config_tree.write("gateway.yaml", GATEWAY_YAML.replace("node: test1", "node: [a, b]"))
    p = only(config_tree)
    assert p.file.endswith("gateway.yaml") and p.line == 1 and p.key == "node"
    assert "expected a string" in p.message


def test_unknown_key(config_tree):
    config_tree.write("gateway.yaml", GATEWAY_YAML + "listne: {}\n")
    p = only(config_tree)
    assert p.key == "listne" and p.line == GATEWAY_YAML.count("\n") + 1
    assert "unknown key" in p.message and "listen" in p.message


def test_missing_required_key_in_partner(config_tree):
    config_tree.partner("amazon-us", PARTNER_YAML.replace("name: Amazon.com (US)\n", ""))
    p = only(config_tree)
    assert p.file.endswith("partners/amazon-us.yaml") and p.key == "name"
    assert "missing required key" in p.message


def test_nested_key_path_and_line(config_tree):
    config_tree.partner("amazon-us", PARTNER_YAML.replace('acks: "997"', 'acks: "998"'))
    p = only(config_tree)
    assert p.key == "edi.x12.acks" and p.line == 6
    assert "'997'" in p.message and "'998'" in p.message


def test_route_to_unknown_destination(config_tree):
    config_tree.partner("amazon-us", PARTNER_YAML.replace("to: [erp]", "to: [erp, wms]"))
    p = only(config_tree)
    assert p.key == "routes[0].to[1]" and p.line == 12
    assert "'wms' does not exist" in p.message


def test_duplicate_partner_id(config_tree):
    config_tree.partner("zz-copy", PARTNER_YAML.replace("as2_id: AMAZON", "as2_id: AMAZON2"))
    p = only(config_tree)
    assert p.file.endswith("zz-copy.yaml") and p.key == "id" and p.line == 1
    assert "duplicate partner id 'amazon-us'" in p.message and "amazon-us.yaml" in p.message


def test_duplicate_as2_id(config_tree):
    config_tree.partner("other", PARTNER_YAML.replace("id: amazon-us", "id: other", 1))
    p = only(config_tree)
    assert p.file.endswith("other.yaml") and p.key == "as2.as2_id" and p.line == 8
    assert "duplicate AS2 id 'AMAZON'" in p.message


def test_missing_key_file(config_tree):
    (config_tree.root / "keys/our.key").unlink()
    p = only(config_tree)
    assert p.key == "our.certificates[0].key" and p.line == 9
    assert "does not exist" in p.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; covered by the mode check below")
def test_unreadable_key_file(config_tree):
    (config_tree.root / "keys/our.key").chmod(0o000)
    p = only(config_tree)
    assert p.key == "our.certificates[0].key" and "not readable" in p.message


def test_unreadable_key_file_is_a_directory(config_tree):
    key = config_tree.root / "keys/our.key"
    key.unlink()
    key.mkdir()
    p = only(config_tree)
    assert p.key == "our.certificates[0].key" and "not readable" in p.message


def test_private_key_readable_by_group_or_other(config_tree):
    (config_tree.root / "keys/our.key").chmod(0o640)
    p = only(config_tree)
    assert p.key == "our.certificates[0].key" and p.line == 9
    assert "readable by group or others" in p.message and "chmod 600" in p.message


def test_every_problem_reported_at_once(config_tree):
    config_tree.write("gateway.yaml", GATEWAY_YAML.replace("node: test1", "node: 5") + "bogus: 1\n")
    config_tree.partner("amazon-us", PARTNER_YAML.replace("timezone: America/New_York", "timezone: Mars/Base"))
    keys = {p.key for p in problems(config_tree)}
    assert {"node", "bogus"} <= keys  # the main file's problems are all listed


def test_bad_timezone_and_yaml_syntax(config_tree):
    config_tree.partner("amazon-us", PARTNER_YAML.replace("timezone: America/New_York", "timezone: Mars/Base"))
    p = only(config_tree)
    assert p.key == "timezone" and "unknown time zone" in p.message
    config_tree.partner("amazon-us", PARTNER_YAML + "routes: [\n")
    p = only(config_tree)
    assert "not valid YAML" in p.message and p.line is not None


def test_duplicate_yaml_key(config_tree):
    config_tree.partner("amazon-us", PARTNER_YAML + "name: again\n")
    p = only(config_tree)
    assert p.key == "name" and "duplicate key" in p.message


def test_gatewayctl_config_check(config_tree):
    ok = subprocess.run([sys.executable, "-m", "gateway.cli", "config", "check", "--config", str(config_tree.gateway)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK ") and "1 partner(s)" in ok.stdout
    config_tree.partner("amazon-us", PARTNER_YAML.replace("to: [erp]", "to: [nowhere]"))
    bad = subprocess.run([sys.executable, "-m", "gateway.cli", "config", "check", "--config", str(config_tree.gateway)],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert "amazon-us.yaml:12: routes[0].to[0]: destination 'nowhere' does not exist" in bad.stdout


def test_route_naming_a_missing_mapping_or_rule_pack(config_tree):
    config_tree.partner("amazon-us", PARTNER_YAML.replace("mapping: amazon/850-purchase_order",
                                                          "mapping: amazon/850-nope, rules: [amazon/nope]"))
    found = problems(config_tree)
    assert [p.key for p in found] == ["routes[0].mapping", "routes[0].rules[0]"]
    assert "mapping 'amazon/850-nope' not found" in found[0].message and found[0].line == 12
    assert "rule pack 'amazon/nope' not found" in found[1].message


def test_route_naming_a_broken_mapping_lists_its_own_problems(config_tree, tmp_path):
    import shutil

    from tests.conftest import REPO

    shutil.copytree(REPO / "mappings", tmp_path / "maps")
    bad = tmp_path / "maps/amazon/850-purchase_order.yaml"
    bad.write_text(bad.read_text() + "\nbogus_top_level_key: 1\n")
    config_tree.write("gateway.yaml", GATEWAY_YAML.replace(str(REPO / "mappings"), str(tmp_path / "maps")))
    found = problems(config_tree)
    assert found[0].key == "routes[0].mapping" and "has problems" in found[0].message
    assert any(p.file.endswith("850-purchase_order.yaml") and "bogus_top_level_key" in (p.key + p.message)
               for p in found[1:]), [str(p) for p in found]
