"""`cadencia run` refuses what would let anyone in: no tokens on a non-loopback address."""

from __future__ import annotations

from engine.http import role_of
from engine.process.cli import is_loopback, main
from engine.settings import DEFAULT_CONFIG


def test_no_auth_on_a_public_address_is_refused(capsys):
    assert main(["run", "--config", str(DEFAULT_CONFIG), "--host", "0.0.0.0", "--no-demo"]) == 2
    assert "--insecure" in capsys.readouterr().err


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("example.net")


def test_tokens_are_matched_whole():
    tokens = {"s3cret-dialer": "dialer", "s3cret-admin": "admin"}
    assert role_of(tokens, "s3cret-admin") == "admin"
    assert role_of(tokens, "s3cret-") is None and role_of(tokens, "s3cret-admin ") is None
