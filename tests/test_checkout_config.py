"""The [checkout] table: defaults, and every mistake named by its key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.checkout_config import CheckoutConfig
from edge.config import load_config
from edge.errors import ConfigError
from tests.helpers import write_config


def test_the_embedded_default_loads_with_every_rule_at_kiosks() -> None:
    config = load_config(None).checkout
    assert config.rules_for("kiosk") == {"age_restricted", "weight", "unknown_item",
                                         "quantity_limit", "rescan_audit"}
    assert config.rules_for("staffed") == {"age_restricted", "quantity_limit"}
    assert config.rules_for("exit") == frozenset()
    assert config.ereceipt_url.startswith("https://") and config.rescan_audit_rate == 0.0


@pytest.mark.parametrize(("table", "key"), [
    ({"bag_timeout": 5}, "checkout.bag_timeout"),
    ({"bag_timeout_ms": 0}, "checkout.bag_timeout_ms"),
    ({"rescan_audit_rate": 1.5}, "checkout.rescan_audit_rate"),
    ({"exit_audit_rate": True}, "checkout.exit_audit_rate"),
    ({"kiosk_rules": ["weight", "x-ray"]}, "checkout.kiosk_rules"),
    ({"attendant_role": "owner"}, "checkout.attendant_role"),
    ({"quantity_limits": {"P026": 0}}, "checkout.quantity_limits.P026"),
    ({"print_receipts": "yes"}, "checkout.print_receipts"),
    ({"exit_public_keys": "keys/exit.pub"}, "checkout.exit_public_keys"),
    ({"receipt_columns": 12}, "checkout.receipt_columns"),
])
def test_mistakes_name_the_key(table: dict[str, object], key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        CheckoutConfig.from_mapping(table, state_dir=tmp_path)
    assert err.value.key == key


def test_a_config_file_with_an_exit_lane_and_limits_loads(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra="""
[[lanes]]
id = "9"
kind = "exit"

[checkout]
quantity_limits = { P026 = 2 }
max_qty_per_product = 10
exit_public_keys = ["keys/crm-exit.pub"]
""")
    config = load_config(path)
    assert [(lane.id, lane.kind) for lane in config.lanes][-1] == ("9", "exit")
    checkout = config.checkout
    assert (checkout.quantity_limit("P026"), checkout.quantity_limit("P001")) == (2, 10)
    assert checkout.exit_public_keys == (tmp_path / "state" / "keys" / "crm-exit.pub",)
    path.write_text(path.read_text().replace('kind = "exit"', 'kind = "gate"'))
    with pytest.raises(ConfigError, match="'kiosk', 'staffed', 'exit'") as err:
        load_config(path)
    assert str(path) in str(err.value)
