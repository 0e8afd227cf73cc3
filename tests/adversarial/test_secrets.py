"""Property 1: secrets never leave — planted in every path, searched for in every output.

Planted: the JWT signing secret, the GitHub token, a deploy credential the deploy script
prints bare, the JWTs we mint (which a hostile backend echoes back in error frames, close
reasons and an ``Authorization:`` line), a password inside a URL that ends up in an
exception message, and a token in a health-check URL. Searched: the tracking issue body
and its comments, the job summary, step outputs, annotations and the console (stdout and
stderr), results.json and junit.xml. In Actions each literal secret is also announced
with ``::add-mask::`` (the only line allowed to carry it: the runner consumes it).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from bot.cli import main
from bot.sample import SampleTarget
from tests.support.github_server import GitHubServer
from tests.support.hostile import hostile

JWT_SECRET = "jwt-signing-secret-0123456789abcdef0123"
GH_TOKEN = "ghp_" + "A1b2C3d4E5" * 4
DEPLOY_CRED = "deploy-cred-Zx9Yw8Vu7Ts6Rq5Po4"
URL_PASSWORD = "Sup3rS3cretPassw0rd"
URL_TOKEN = "healthtoken-9f8e7d6c5b4a"
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def planted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    github_server: GitHubServer,
    github_env: dict[str, str],
    sample: SampleTarget,
) -> dict[str, Path]:
    monkeypatch.chdir(tmp_path)
    github_server.add_token(GH_TOKEN, "github-actions[bot]", type="Bot", role="write")
    env = {
        **github_env,
        "GITHUB_TOKEN": GH_TOKEN,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "TEST_SIGNING_KEY_MATERIAL": JWT_SECRET,
        "DEPLOY_API_KEY": DEPLOY_CRED,
        "GOLDEN_PATH_RETRY_BACKOFF": "0.01",
        "GOLDEN_PATH_SETTLE": "0.2",
        "GOLDEN_PATH_PROGRESS": "lines",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {"dir": tmp_path}


def _config(path: Path, sample: SampleTarget, flow_url: str) -> None:
    path.write_text(
        f"""
environment: staging
deploy:
  command: "echo deploying with $DEPLOY_API_KEY; echo Authorization: Bearer $DEPLOY_API_KEY"
  url: "{sample.base_url}"
  health_timeout: 5s
auth:
  jwt: {{secret_env: TEST_SIGNING_KEY_MATERIAL, claims: {{iss: auth-service, aud: backend}}}}
  verify_url: "http://admin:{URL_PASSWORD}@127.0.0.1:{_closed_port()}/auth/validate"
checks:
  health:
    - {{name: Infrastructure Health, url: "/health?token={URL_TOKEN}"}}
  endpoints:
    - {{name: threads, url: /api/threads, auth: true, expect_status: 418}}
  agent_flow: {{url: "{flow_url}", sessions: 5, concurrency: 5, timeout: 2s, connect_timeout: 1s}}
""",
        encoding="utf-8",
    )


def _outputs(tmp: Path, gh: GitHubServer, captured: str) -> dict[str, str]:
    issue = gh.issues("octo/app")[0]
    texts = {
        "issue body": issue["body"],
        "comments": "\n".join(c["body"] for c in gh.comments("octo/app", issue["number"])),
        "console": "\n".join(
            line for line in captured.splitlines() if not line.startswith("::add-mask::")
        ),
    }
    for name in ("summary.md", "output.txt", ".golden-path/results.json", ".golden-path/junit.xml"):
        path = tmp / name
        texts[name] = path.read_text(encoding="utf-8") if path.exists() else ""
    assert texts["summary.md"] and texts["output.txt"] and texts[".golden-path/results.json"]
    return texts


@pytest.mark.parametrize("token_in", ["header", "query", "subprotocol"])
def test_no_secret_reaches_any_output(
    planted: dict[str, Path],
    github_server: GitHubServer,
    sample: SampleTarget,
    capfd: pytest.CaptureFixture[str],
    token_in: str,
) -> None:
    """Every planted secret is absent from every output; each literal one was masked."""
    tmp = planted["dir"]
    with hostile("echo-credentials") as server:
        _config(tmp / "gp.yml", sample, server.ws_url)
        text = (tmp / "gp.yml").read_text()
        (tmp / "gp.yml").write_text(
            text.replace("agent_flow: {", f"agent_flow: {{token_in: {token_in}, ")
        )
        assert main(["run", "--config", "gp.yml", "--tracker", "github"]) == 1
        minted = set(server.tokens_seen)
    out, err = capfd.readouterr()
    assert minted, "the hostile backend saw our JWT"
    texts = _outputs(tmp, github_server, out + err)
    body = texts["issue body"]
    assert "rejected token ***" in body or "bad token ***" in body  # the echo was there
    secrets = {JWT_SECRET, GH_TOKEN, DEPLOY_CRED, URL_PASSWORD, URL_TOKEN, *minted}
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}… leaked into {where}"
        assert not JWT_RE.search(text), f"a JWT leaked into {where}"
    masks = {
        line.removeprefix("::add-mask::")
        for line in (out + err).splitlines()
        if line.startswith("::add-mask::")
    }
    assert {JWT_SECRET, GH_TOKEN, DEPLOY_CRED, *minted} <= masks
