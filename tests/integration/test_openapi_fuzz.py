"""schemathesis against a live engine, auth on, every check (`--checks all`): the OpenAPI
document tells the truth about the server, a request it calls valid is accepted and one it
calls invalid refused, no input makes a 500. A small budget for CI (10 examples an operation,
deterministic); tests/fuzz/ holds its config and hooks (and says what they relax, and why)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASE_CONFIG, account
from tests.fuzz.schemathesis_hooks import ACCOUNTS

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fuzz-admin"
EXAMPLES = int(os.environ.get("CADENCIA_FUZZ_EXAMPLES", "10"))  # more for a longer local run
SEEDED = os.environ.get("CADENCIA_FUZZ_SEED")  # a seed instead of the deterministic mode


@pytest.fixture
def config_text() -> str:
    return BASE_CONFIG + f'\n[auth.tokens]\n"{TOKEN}" = "admin"\n'


def test_schemathesis_finds_nothing(api):
    headers = {"authorization": f"Bearer {TOKEN}"}
    for n, account_id in enumerate(ACCOUNTS):
        doc = account(account_id)
        doc["contact_points"][0]["address"] = f"+52133100000{n}"
        assert api.put("/v1/accounts", json=doc, headers=headers).status_code == 200
    cli = Path(sys.executable).with_name("schemathesis")
    argv = [
        str(cli), "--config-file", str(ROOT / "tests/fuzz/schemathesis.toml"), "run",
        f"{api.base_url}/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES),
        *(["--seed", SEEDED] if SEEDED else ["--generation-deterministic"]),
        "--header", f"Authorization: Bearer {TOKEN}", "--no-color",
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
