"""The workflows we ship and run, and the README's snippet: linted (actionlint, zizmor
--offline) and hardened.

Hardening is also checked by parsing the YAML, so a rule holds even where a linter
has a blind spot: least-privilege permissions, no expression inside a shell line, pinned
actions, a concurrency group, and an ``issue_comment`` trigger that is guarded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXAMPLES = ("golden-path.yml", "golden-path-sharded.yml")
ALLOWED_PERMISSIONS = {"contents": "read", "issues": "write", "actions": "read"}
# The one write beyond the issue: publishing a release and moving its major tag.
RELEASE_WRITE = ("release.yml", "release", "contents", "write")
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def tool(name: str) -> str:
    """The linter next to this Python (the venv), else on PATH; skip when absent."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed: pip install -e '.[dev]' brings it")
    return found


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True
    if True in data:
        data["on"] = data.pop(True)
    return data


def jobs(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return wf["jobs"]


def all_steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in jobs(wf).values() for s in job.get("steps", [])]


def test_the_workflows_exist() -> None:
    """CI plus the example workflows users copy."""
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", *EXAMPLES} <= names


# -- linters -------------------------------------------------------------------------------
def test_actionlint_passes() -> None:
    """actionlint on every workflow (it also checks the inputs given to `uses: ./`)."""
    result = subprocess.run(
        [tool("actionlint"), "-no-color", *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_an_injection(tmp_path: Path) -> None:
    """The linter is really running: an untrusted expression in a shell line fails it."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: issue_comment\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.event.comment.body }}\n"
    )
    result = subprocess.run(
        [tool("actionlint"), "-no-color", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "potentially untrusted" in result.stdout


def readme_snippet(tmp_path: Path) -> Path:
    """The workflow YAML in the README's "The GitHub Action" section, as a file."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- section:action -->")[1].split("<!-- /section:action -->")[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    path = tmp_path / "golden-path.yml"
    path.write_text(block, encoding="utf-8")
    return path


def test_readme_snippet_passes_actionlint_and_zizmor(tmp_path: Path) -> None:
    """Finding 3: the workflow users copy from the README lints clean, zizmor included."""
    path = readme_snippet(tmp_path)
    for argv in (
        [tool("actionlint"), "-no-color", str(path)],
        [tool("zizmor"), "--offline", "--no-progress", "--color=never", str(path)],
    ):
        result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_readme_snippet_names_the_bot_step(tmp_path: Path) -> None:
    """Finding 3: the snippet's action step has an id, so a later step can read its outputs."""
    wf = load(readme_snippet(tmp_path))
    (bot,) = [s for s in all_steps(wf) if "golden-path-bot@" in s.get("uses", "")]
    assert bot.get("id") == "golden-path"
    assert SHA_PIN.match(bot["uses"])


def test_zizmor_offline_passes() -> None:
    """zizmor's offline audits find nothing in the workflows and action.yml."""
    result = subprocess.run(
        [
            tool("zizmor"),
            "--offline",
            "--no-progress",
            "--color=never",
            *map(str, WORKFLOWS),
            str(ROOT / "action.yml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- parsed rules ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_least_privilege(path: Path) -> None:
    """Explicit permission maps within contents:read, issues:write (+ actions:read)."""
    wf = load(path)
    scopes = [("workflow", wf.get("permissions"))]
    scopes += [(name, job["permissions"]) for name, job in jobs(wf).items() if "permissions" in job]
    assert isinstance(wf.get("permissions"), dict), "top-level permissions must be explicit"
    for where, perms in scopes:
        assert isinstance(perms, dict), f"{where}: no read-all/write-all"
        for scope, level in perms.items():
            if (path.name, where, scope, level) == RELEASE_WRITE:
                continue
            assert scope in ALLOWED_PERMISSIONS, f"{where}: {scope}"
            assert level in ("none", "read", ALLOWED_PERMISSIONS[scope]), f"{where}: {scope}"


def test_example_token_permissions() -> None:
    """The example asks for exactly what the bot needs: read code, write the issue."""
    assert load(ROOT / ".github/workflows/golden-path.yml")["permissions"] == {
        "contents": "read",
        "issues": "write",
    }
    ci = load(ROOT / ".github/workflows/ci.yml")
    assert ci["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_expression_inside_run(path: Path) -> None:
    """No ${{ }} in any shell line (untrusted event text would become code)."""
    for s in all_steps(load(path)):
        assert "${{" not in s.get("run", ""), s.get("name") or s["run"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_and_checkout_keeps_no_token(path: Path) -> None:
    """Every remote `uses:` is a full commit SHA; checkout does not persist the token."""
    for s in all_steps(load(path)):
        uses = s.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        assert SHA_PIN.match(uses), uses
        if uses.startswith("actions/checkout@"):
            assert s.get("with", {}).get("persist-credentials") is False


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_concurrency_group(path: Path) -> None:
    """A concurrency group everywhere (on the workflow, or on every job when comments can
    start it, so the gate runs first); the bot's runs queue (never cancel a deploy)."""
    wf = load(path)
    groups = (
        [wf["concurrency"]]
        if "concurrency" in wf
        else [j["concurrency"] for j in jobs(wf).values()]
    )
    for conc in groups:
        assert isinstance(conc, dict) and conc.get("group")
        if path.name in EXAMPLES:
            assert "golden-path-staging" in conc["group"], "one group per environment"
            assert conc["cancel-in-progress"] is False


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_only_through_env(path: Path) -> None:
    """`secrets.` appears only as env values, never in `with:` or shell text."""
    for s in all_steps(load(path)):
        for key in ("run", "with"):
            assert "secrets." not in str(s.get(key, "")), s.get("name")
        for value in (s.get("env") or {}).values():
            if "secrets." in str(value):
                assert re.fullmatch(r"\$\{\{ secrets\.\w+ \}\}", str(value))


def test_issue_comment_is_guarded() -> None:
    """Comments run only on golden-path-labelled issues, never PRs, never bots, created only."""
    for path in WORKFLOWS:
        wf = load(path)
        trigger = wf["on"].get("issue_comment") if isinstance(wf["on"], dict) else None
        if "issue_comment" not in (wf["on"] if isinstance(wf["on"], dict) else [wf["on"]]):
            continue
        assert trigger == {"types": ["created"]}, path.name
        for name, job in jobs(wf).items():
            cond = " ".join(str(job.get("if", "")).split())
            assert cond.startswith("github.event_name != 'issue_comment' || ("), name
            assert "!github.event.issue.pull_request" in cond
            assert "contains(github.event.issue.labels.*.name, 'golden-path')" in cond
            assert "github.event.comment.user.type != 'Bot'" in cond


def test_example_uses_the_action_for_every_trigger() -> None:
    """push, dispatch (suites, deploy) and comments all go through one action step."""
    wf = load(ROOT / ".github/workflows/golden-path.yml")
    assert set(wf["on"]) == {"push", "workflow_dispatch", "issue_comment"}
    assert set(wf["on"]["workflow_dispatch"]["inputs"]) == {"suites", "deploy"}
    (bot,) = [s for s in all_steps(wf) if s.get("uses") == "./"]
    assert bot["with"]["command"] == "handle-event"
    assert bot["with"]["suites"] == "${{ inputs.suites }}"
    assert "inputs.deploy" in bot["with"]["deploy"]
    assert "JWT_SECRET_KEY" in bot["env"]


def test_sharded_example_runs_shards_then_merges_once() -> None:
    """A matrix of `run --shard K/N` jobs uploads results; one merge job publishes."""
    wf = load(ROOT / ".github/workflows/golden-path-sharded.yml")
    shard, merge = jobs(wf)["shard"], jobs(wf)["merge"]
    n = len(shard["strategy"]["matrix"]["shard"])
    (run,) = [s for s in shard["steps"] if s.get("uses") == "./"]
    assert run["with"]["command"] == "run"
    assert run["with"]["shard"] == f"${{{{ matrix.shard }}}}/{n}"
    assert run["with"]["deploy"] is False
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in shard["steps"])
    assert "permissions" not in shard, "shards publish nothing: the read-only default"
    assert merge["needs"] == "shard"
    assert merge["permissions"] == {"contents": "read", "issues": "write"}
    assert any(s.get("uses", "").startswith("actions/download-artifact@") for s in merge["steps"])
    (publish,) = [s for s in merge["steps"] if s.get("uses") == "./"]
    assert publish["with"]["command"] == "merge"
    assert publish["with"]["shard-results"]


def test_ci_runs_lint_and_tests_on_supported_pythons() -> None:
    """CI: make lint and make test on 3.11 and 3.12."""
    wf = load(ROOT / ".github/workflows/ci.yml")
    (job,) = jobs(wf).values()
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    runs = [s.get("run", "") for s in job["steps"]]
    assert "make lint" in runs
    assert any(r.startswith("make test") for r in runs)


def test_the_shipped_workflow_names_a_config_that_exists_and_loads() -> None:
    """The workflow's config (this repository's own golden path) is there and valid."""
    from bot.config import load_config

    workflow = load(ROOT / ".github/workflows/golden-path.yml")
    step = next(
        s for s in workflow["jobs"]["golden-path"]["steps"] if "config" in s.get("with", {})
    )
    path = ROOT / step["with"]["config"]
    assert path.is_file(), path
    assert load_config(path).deploy is not None
