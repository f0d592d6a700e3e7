"""Configuration is read once and refused at load, with the section named, when wrong."""

from __future__ import annotations

import pytest

from engine.settings import DEFAULT_CONFIG, ConfigError, from_dict, load


def test_the_embedded_default_loads():
    s = load(DEFAULT_CONFIG)
    assert s.money.currency == "MXN" and {c.id for c in s.carriers} == {"c1", "c2"}
    assert s.contact_costs["voice"][1] in ("c1", "c2") and s.contact_costs["email"][1] is None


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"bogus": {}}, "bogus"),
        ({"server": {"prot": 1}}, "[server]"),
        ({"channels": {"fax": {"cost": 1}}}, "channels.fax"),
        ({"auth": {"tokens": {"t": "superuser"}}}, "superuser"),
        ({"auth": {"tokens": {"${CADENCIA_SURELY_UNSET}": "admin"}}}, "CADENCIA_SURELY_UNSET"),
        ({"policy": {"caps": {"per_fortnight": 2}}}, "[policy.caps]"),
        ({"decisions": {"response_window_hours": 72, "attribution_hours": 48}}, "response_window_hours"),
        ({"templates": [{"id": "t", "channel": "pigeon"}]}, "pigeon"),
        ({"flow": {"poll_linger_ms": -5}}, "poll_linger_ms"),
        ({"flow": {"poll_linger_ms": "5"}}, "poll_linger_ms"),
        # typed and range-checked (issue 15): these used to load and break every request
        ({"server": {"max_body_bytes": "4mb"}}, "[server] max_body_bytes: expected `int`, got `str`"),
        ({"decisions": {"reservation_minutes": -5}}, "[decisions] reservation_minutes: expected `int` >= 1"),
        ({"server": {"max_batch_items": 0}}, "max_batch_items"),
        ({"server": {"port": True}}, "port"),
        ({"decisions": {"payment_share": 1.5}}, "payment_share"),
        ({"decisions": {"propensity_draws": 5000}}, "propensity_draws"),
        ({"carriers": [{"id": "c1", "cost_per_minute": "cheap"}]}, "cost_per_minute"),
        ({"flow": {"epoch_interval_s": 0}}, "epoch_interval_s"),
        ({"redis": {"shards": 0}}, "shards"),
    ],
)
def test_bad_configuration_is_refused_naming_what(raw, names):
    with pytest.raises(ConfigError, match=names.replace("[", r"\[").replace("]", r"\]").replace("$", r"\$")):
        from_dict(raw)


def test_tokens_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CADENCIA_T", "s3cret")
    assert from_dict({"auth": {"tokens": {"${CADENCIA_T}": "dialer"}}}).tokens == {"s3cret": "dialer"}


def test_money_converts_to_the_base_currency():
    s = from_dict({"money": {"currency": "MXN", "rates": {"USD": 17.5}}})
    assert s.money.to_base(2.0, "USD") == 35.0 and s.money.to_base(3.0, "MXN") == 3.0
    with pytest.raises(ConfigError, match="EUR"):
        s.money.to_base(1.0, "EUR")


def test_the_configuration_reference_is_the_settings_own():
    """docs/configuration.md is generated from the typed settings; regenerate it with
    `python -m engine.process.config_reference > docs/configuration.md` after changing them."""
    from pathlib import Path

    from engine.process.config_reference import reference

    doc = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert doc.read_text() == reference()


@pytest.mark.parametrize("rate", [0, -1, 1e300, "17.5", True])
def test_a_currency_rate_must_be_a_sane_positive_number(rate):
    with pytest.raises(ConfigError, match=r"\[money.rates\] USD"):
        from_dict({"money": {"currency": "MXN", "rates": {"USD": rate}}})
