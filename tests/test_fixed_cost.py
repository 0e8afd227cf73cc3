"""The run path's fixed cost stays small, and the shortcuts taken for it change nothing."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from bot.auth import claims_of, mint_token
from bot.runtime import GC_THRESHOLD, run_async
from bot.sample import SampleTarget


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_hmac_tokens_are_what_pyjwt_makes(algorithm: str) -> None:
    """Tokens signed with hmac are byte for byte PyJWT's, and PyJWT verifies them."""
    secret = "k" * 64
    claims = {"iss": "auth-service", "aud": "backend", "nested": {"é": [1, 2]}}
    token = mint_token(secret, algorithm=algorithm, claims=claims, now=1_700_000_000)
    decoded = jwt.decode(
        token, secret, algorithms=[algorithm], audience="backend", options={"verify_exp": False}
    )
    assert decoded["nested"] == {"é": [1, 2]} and decoded["iat"] == 1_700_000_000
    assert token == jwt.encode(decoded, secret, algorithm=algorithm)
    assert claims_of(token) == decoded  # read back without PyJWT, the same claims


def test_the_run_path_imports_no_jwt_cryptography_or_templates() -> None:
    """Config, runner, checks, a token minted and read back: no PyJWT, cryptography, jinja2,
    and no pytest (the suite check names the plugin's variables through ``bot.suite_env``)."""
    code = (
        "import sys, bot.cli, bot.settings, bot.config, bot.runner, bot.checks\n"
        "bot.checks.check_types()\n"
        "from bot.auth import mint_token, visible_claims\n"
        "assert visible_claims(mint_token('s' * 40, claims={'aud': 'backend'}))['aud']\n"
        "heavy = ('jwt', 'cryptography', 'jinja2', 'github', 'pytest')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.strip().replace("'", '"')) == []


def test_run_async_freezes_the_gc_only_while_it_runs() -> None:
    """Inside: the old heap frozen, the threshold raised; after: both as they were."""
    before = gc.get_threshold()

    async def inside() -> tuple[int, tuple[int, int, int]]:
        return gc.get_freeze_count(), gc.get_threshold()

    frozen, threshold = run_async(inside())
    assert frozen > 1000 and threshold == GC_THRESHOLD
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
    with pytest.raises(ZeroDivisionError):  # restored on the way out of a failure too

        async def boom() -> None:
            await asyncio.sleep(0)
            raise ZeroDivisionError

        run_async(boom())
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_a_run_without_a_tracker_outside_actions_loads_no_templates(
    tmp_path: Path, sample: SampleTarget
) -> None:
    """--tracker none with no job summary shows no issue body: jinja2 never loads, the run
    is still judged and written (results.json, junit.xml)."""
    (tmp_path / "golden-path.yml").write_text(
        f"""
environment: staging
target: {{base_url: "{sample.base_url}"}}
auth:
  jwt: {{secret_env: FIXED_COST_SECRET, claims: {{sub: e2e, iss: auth-service, aud: backend}}}}
checks:
  health: [{{name: Infrastructure Health, url: /health}}]
  agent_flow: {{sessions: 3, timeout: 5s, connect_timeout: 2s}}
"""
    )
    code = (
        "import sys\n"
        "from bot.cli import main\n"
        "code = main(['run', '--no-deploy', '--tracker', 'none', '--config', 'golden-path.yml'])\n"
        "print(code, 'jinja2' in sys.modules, 'bot.render' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GOLDEN_PATH_"))}
    env.update(FIXED_COST_SECRET=sample.secret, GOLDEN_PATH_PROGRESS="off")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.stdout.splitlines()[-1] == "0 False False", proc.stdout + proc.stderr
    results = json.loads((tmp_path / ".golden-path" / "results.json").read_text())
    assert results["verdict"]["counts"]["passed"] == 4
