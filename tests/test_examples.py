"""examples/: one workflow + config pair per kind of target, each ready to copy.

Every workflow passes actionlint and ``zizmor --offline`` with zero findings and the same
hardening audit as the shipped workflows; every config loads with the bot's own validator
and its JSON Schema; each pair agrees (the secrets the config names are the ones the
workflow passes, the config path is where the header says to copy it).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Config, config_schema, load_config
from tests.adversarial.test_workflow_hardening import audit, parse
from tests.test_workflows import tool

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TARGETS = ("cloud-run", "kubernetes", "fly", "existing-staging", "sharded")
PAIRS = [EXAMPLES / name for name in TARGETS]
BOT = "OWNER/golden-path-bot@" + "0" * 40  # the placeholder users replace with their pin
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
ASSOCIATIONS = """contains(fromJSON('["OWNER", "MEMBER", "COLLABORATOR"]'), \
github.event.comment.author_association)"""


def workflow(pair: Path) -> dict[str, Any]:
    return parse((pair / "workflow.yml").read_text(encoding="utf-8"))


def bot_steps(wf: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, step)
        for name, job in wf["jobs"].items()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("OWNER/golden-path-bot@")
    ]


def config(pair: Path) -> Config:
    return load_config(pair / "config.yml")


def test_one_pair_per_target() -> None:
    """Cloud Run, Kubernetes, Fly.io, an existing staging and the sharded matrix; nothing else."""
    found = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert found == sorted(TARGETS)
    for pair in PAIRS:
        assert sorted(p.name for p in pair.iterdir()) == ["config.yml", "workflow.yml"], pair


def test_examples_readme_lists_every_pair() -> None:
    """examples/README.md links each pair, and the project README links examples/."""
    index = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in TARGETS:
        assert f"({name}/workflow.yml)" in index and f"({name}/config.yml)" in index, name
    assert "(examples/)" in (ROOT / "README.md").read_text(encoding="utf-8")


# -- linters -----------------------------------------------------------------------------------
def test_actionlint_passes_on_every_example() -> None:
    """actionlint finds nothing in any example workflow."""
    result = subprocess.run(
        [tool("actionlint"), "-no-color", *(str(p / "workflow.yml") for p in PAIRS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline_finds_nothing_in_any_example() -> None:
    """zizmor --offline: zero findings in every example workflow."""
    result = subprocess.run(
        [
            tool("zizmor"),
            "--offline",
            "--no-progress",
            "--color=never",
            *(str(p / "workflow.yml") for p in PAIRS),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


@pytest.mark.parametrize("pair", PAIRS, ids=TARGETS)
def test_the_only_ignore_is_the_comment_trigger(pair: Path) -> None:
    """No blanket ignores: at most one, for issue_comment itself, which the `if:` then gates."""
    lines = (pair / "workflow.yml").read_text(encoding="utf-8").splitlines()
    ignores = [line.strip() for line in lines if "zizmor:" in line]
    assert ignores in ([], ["issue_comment: # zizmor: ignore[dangerous-triggers]"]), ignores


# -- hardening ---------------------------------------------------------------------------------
@pytest.mark.parametrize("pair", PAIRS, ids=TARGETS)
def test_same_hardening_as_the_shipped_workflows(pair: Path) -> None:
    """The shipped files' audit passes; Cloud Run alone adds id-token: write (keyless OIDC)."""
    findings = audit(workflow(pair))
    expected = (
        ["permissions-excess: jobs.golden-path: id-token: write"]
        if pair.name == "cloud-run"
        else []
    )
    assert findings == expected


@pytest.mark.parametrize("pair", PAIRS, ids=TARGETS)
def test_permissions_are_per_job(pair: Path) -> None:
    """Nothing at the top; each job names its scopes, and only the issue's writer writes."""
    wf = workflow(pair)
    assert wf["permissions"] == {}
    for name, job in wf["jobs"].items():
        perms = job["permissions"]
        assert perms["contents"] == "read", name
        own = [s for job_name, s in bot_steps(wf) if job_name == name]
        publishes = any(s["with"].get("github-token") != "" for s in own)
        assert (perms.get("issues") == "write") == publishes, name


@pytest.mark.parametrize("pair", PAIRS, ids=TARGETS)
def test_every_uses_is_a_full_sha_and_the_bot_is_the_placeholder(pair: Path) -> None:
    """Every action is pinned to a commit; the bot's pin is the one placeholder, marked # v1."""
    text = (pair / "workflow.yml").read_text(encoding="utf-8")
    for step in (s for job in workflow(pair)["jobs"].values() for s in job["steps"]):
        if "uses" in step:
            assert SHA_PIN.match(step["uses"]), step["uses"]
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    bot_lines = [
        line.strip().removeprefix("- ")
        for line in text.splitlines()
        if "golden-path-bot@" in line and not line.lstrip().startswith("#")
    ]
    assert bot_lines and all(line == f"uses: {BOT} # v1" for line in bot_lines), bot_lines


@pytest.mark.parametrize("pair", PAIRS, ids=TARGETS)
def test_comment_runs_are_gated_before_they_queue(pair: Path) -> None:
    """issue_comment jobs: created only; no PRs, no bots, owners/members/collaborators only,
    and the concurrency group sits on the gated job, so a filtered comment never queues."""
    wf = workflow(pair)
    if "issue_comment" not in wf["on"]:
        return
    assert wf["on"]["issue_comment"] == {"types": ["created"]}
    assert "concurrency" not in wf, "workflow-level concurrency would queue filtered comments"
    for name, job in wf["jobs"].items():
        cond = " ".join(str(job["if"]).split())
        assert cond.startswith("github.event_name != 'issue_comment' || ("), name
        assert "!github.event.issue.pull_request" in cond
        assert "contains(github.event.issue.labels.*.name, 'golden-path')" in cond
        assert "github.event.comment.user.type != 'Bot'" in cond
        assert ASSOCIATIONS in cond
        assert job["concurrency"]["cancel-in-progress"] is False
        assert job["concurrency"]["group"].startswith("golden-path-staging")


@pytest.mark.parametrize("pair", PAIRS, ids=TARGETS)
def test_secrets_only_through_env(pair: Path) -> None:
    """`secrets.` appears only as whole env values, never in `with:` or shell text."""
    for job in workflow(pair)["jobs"].values():
        for step in job["steps"]:
            assert "secrets." not in str(step.get("with", "")) + step.get("run", "")
            assert "${{" not in step.get("run", "")
            for value in (step.get("env") or {}).values():
                if "secrets." in str(value):
                    assert re.fullmatch(r"\$\{\{ secrets\.\w+ \}\}", str(value))


# -- the pair agrees ---------------------------------------------------------------------------
@pytest.mark.parametrize("pair", PAIRS, ids=TARGETS)
def test_config_loads_with_the_bots_validator_and_schema(pair: Path) -> None:
    """The config is valid for the bot itself and for the JSON Schema editors use."""
    jsonschema = pytest.importorskip("jsonschema")
    cfg = config(pair)
    assert cfg.environment == "staging"
    data = yaml.safe_load((pair / "config.yml").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(config_schema()).validate(data)


@pytest.mark.parametrize("pair", PAIRS, ids=TARGETS)
def test_workflow_reads_the_config_and_passes_its_secrets(pair: Path) -> None:
    """Each bot step has an id, reads .github/golden-path.yml and gets the config's secret."""
    cfg, wf = config(pair), workflow(pair)
    secret = cfg.auth.jwt.secret_env if cfg.auth.jwt else cfg.auth.token_env
    steps = bot_steps(wf)
    assert steps
    for job, step in steps:
        assert step.get("id"), f"{job}: the bot step needs an id for its outputs"
        assert step["with"]["config"] == ".github/golden-path.yml"
        if step["with"]["command"] != "merge":  # merging reads results, not the target
            assert step["env"][secret] == f"${{{{ secrets.{secret} }}}}"
    header = (pair / "workflow.yml").read_text(encoding="utf-8")
    assert f"examples/{pair.name}/config.yml" in header


def test_cloud_run_takes_the_url_from_gcloud() -> None:
    """gcloud run deploy's last line names the URL, and the config's pattern finds it."""
    cfg = config(EXAMPLES / "cloud-run")
    assert cfg.deploy and cfg.deploy.command and cfg.deploy.url_from_output
    assert cfg.deploy.command.startswith("gcloud run deploy ")
    output = (
        "Service [agent-backend-staging] revision [agent-backend-staging-00042-xyz] has been "
        "deployed and is serving 100 percent of traffic.\n"
        "Service URL: https://agent-backend-staging-5jq3ykz7pq-uc.a.run.app\n"
    )
    found = re.search(cfg.deploy.url_from_output, output)
    assert found and found[0] == "https://agent-backend-staging-5jq3ykz7pq-uc.a.run.app"
    (step,) = [
        s
        for s in workflow(EXAMPLES / "cloud-run")["jobs"]["golden-path"]["steps"]
        if str(s.get("uses", "")).startswith("google-github-actions/auth@")
    ]
    assert set(step["with"]) == {"workload_identity_provider", "service_account"}


def test_kubernetes_waits_for_the_rollout_and_has_a_fixed_url() -> None:
    """kubectl rollout status ends the deploy command; the URL is known up front."""
    cfg = config(EXAMPLES / "kubernetes")
    assert cfg.deploy and cfg.deploy.command and cfg.deploy.url
    assert "kubectl" in cfg.deploy.command and "rollout status" in cfg.deploy.command
    assert cfg.deploy.url_from_output is None
    (bot,) = bot_steps(workflow(EXAMPLES / "kubernetes"))
    assert bot[1]["env"]["KUBECONFIG"] == "${{ runner.temp }}/kubeconfig"


def test_fly_deploys_with_flyctl_to_a_known_url() -> None:
    """flyctl deploy with its token from env; the app's URL is in the config."""
    cfg = config(EXAMPLES / "fly")
    assert cfg.deploy and cfg.deploy.command and cfg.deploy.url
    assert cfg.deploy.command.startswith("flyctl deploy ")
    assert cfg.deploy.url.endswith(".fly.dev")
    (bot,) = bot_steps(workflow(EXAMPLES / "fly"))
    assert bot[1]["env"]["FLY_API_TOKEN"] == "${{ secrets.FLY_API_TOKEN }}"


def test_existing_staging_never_deploys() -> None:
    """No deploy section; a schedule and dispatch check what runs at target.base_url."""
    cfg = config(EXAMPLES / "existing-staging")
    assert cfg.deploy is None and cfg.target.base_url
    wf = workflow(EXAMPLES / "existing-staging")
    assert {"schedule", "workflow_dispatch", "issue_comment"} == set(wf["on"])
    (bot,) = bot_steps(wf)
    assert bot[1]["with"]["deploy"] is False


def test_sharded_runs_shards_then_merges_once() -> None:
    """A matrix of `run` + `shard: K/N` jobs that publish nothing, then one `merge` job."""
    cfg = config(EXAMPLES / "sharded")
    assert cfg.target.base_url and cfg.checks.agent_flow
    wf = workflow(EXAMPLES / "sharded")
    shard, merge = wf["jobs"]["shard"], wf["jobs"]["merge"]
    n = len(shard["strategy"]["matrix"]["shard"])
    assert cfg.checks.agent_flow.sessions % n == 0, "every shard gets the same share"
    steps = dict(bot_steps(wf))
    run, publish = steps["shard"], steps["merge"]
    assert run["with"]["command"] == "run" and run["with"]["deploy"] is False
    assert run["with"]["shard"] == f"${{{{ matrix.shard }}}}/{n}"
    assert run["with"]["github-token"] == ""
    assert shard["permissions"] == {"contents": "read"}
    assert merge["needs"] == "shard"
    assert merge["permissions"] == {"contents": "read", "issues": "write"}
    assert publish["with"]["command"] == "merge" and publish["with"]["shard-results"]
