"""action.yml, bot/action.py, bot/publish/actions.py and the README kept in step.

Contract tests in the spirit of EnricoMi/publish-unit-test-result-action's
test_action_yml.py, plus the input → argv mapping of bot/action.py driven with plain dicts.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import action
from bot.publish import actions as publish_actions

ROOT = Path(__file__).resolve().parents[1]
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def action_yml() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- section:action -->(.*?)<!-- /section:action -->", text, re.S)
    assert m, "README.md has no <!-- section:action --> section"
    return m[1]


def steps(action_yml: dict[str, Any]) -> list[dict[str, Any]]:
    return action_yml["runs"]["steps"]


def step(action_yml: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in steps(action_yml) if s.get("id") == step_id)


# -- action.yml ---------------------------------------------------------------------------
def test_is_a_composite_action(action_yml: dict[str, Any]) -> None:
    """One composite action, bash steps, named and described."""
    assert action_yml["runs"]["using"] == "composite"
    assert action_yml["name"] and action_yml["description"]
    for s in steps(action_yml):
        assert ("run" in s) != ("uses" in s)
        if "run" in s:
            assert s["shell"] == "bash"


def test_every_input_is_forwarded_through_env(action_yml: dict[str, Any]) -> None:
    """Each input is an env var of the run step, named as bot/action.py reads it."""
    inputs = set(action_yml["inputs"])
    assert inputs == set(action.INPUTS)
    env = step(action_yml, "run")["env"]
    for name, var in action.INPUTS.items():
        assert env.get(var) == f"${{{{ inputs.{name} }}}}", f"input {name} → env {var}"
    check = step(action_yml, "python")
    assert check["with"]["python-version"] == "${{ inputs.python-version }}"


def test_inputs_are_validated_before_the_install(action_yml: dict[str, Any]) -> None:
    """A step before the install runs `bot.action --check` with every input but the token."""
    names = [s.get("id") or s.get("name") for s in steps(action_yml)]
    check = next(s for s in steps(action_yml) if "--check" in s.get("run", ""))
    assert names.index(check.get("id") or check["name"]) < names.index("install")
    for name, var in action.INPUTS.items():
        if name != "github-token":
            assert check["env"].get(var) == f"${{{{ inputs.{name} }}}}"
    assert "GITHUB_TOKEN" not in check["env"]


def test_defaults_match_the_program(action_yml: dict[str, Any]) -> None:
    """action.yml's defaults are the ones bot/action.py falls back to."""
    for name, default in action.DEFAULTS.items():
        assert str(action_yml["inputs"][name]["default"]) == default, name
    assert action_yml["inputs"]["github-token"]["default"] == "${{ github.token }}"


def test_no_expression_inside_any_run(action_yml: dict[str, Any]) -> None:
    """No ${{ }} text in a shell line: values come in through env only."""
    for s in steps(action_yml):
        assert "${{" not in s.get("run", ""), s.get("name")


def test_files_are_found_through_action_path(action_yml: dict[str, Any]) -> None:
    """The action's own files come from $GITHUB_ACTION_PATH; the venv lives in $RUNNER_TEMP."""
    runs = "\n".join(s.get("run", "") for s in steps(action_yml))
    assert '"$GITHUB_ACTION_PATH[fast]"' in runs
    assert "$RUNNER_TEMP/" in runs
    assert "-P -m bot.action" in step(action_yml, "run")["run"]
    assert step(action_yml, "run")["env"]["GOLDEN_PATH_VENV"] == (
        "${{ steps.install.outputs.venv }}"
    )


def test_every_uses_is_pinned_to_a_full_sha(action_yml: dict[str, Any]) -> None:
    """Third-party code is pinned to a commit, with the version in a comment."""
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    for s in steps(action_yml):
        if "uses" in s:
            assert SHA_PIN.match(s["uses"]), s["uses"]
            assert re.search(re.escape(s["uses"]) + r" # v\d", text)


def test_every_output_is_set_by_the_program(action_yml: dict[str, Any]) -> None:
    """Each declared output maps the run step's output, and bot/publish/actions.py sets it."""
    source = (ROOT / "bot" / "publish" / "actions.py").read_text(encoding="utf-8")
    outputs = action_yml["outputs"]
    assert set(outputs) == set(publish_actions.OUTPUTS)
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
        assert spec["description"]
        assert f'"{name}"' in source, f"{name} is never written by bot/publish/actions.py"


def test_readme_documents_inputs_and_outputs(
    action_yml: dict[str, Any], readme_section: str
) -> None:
    """The README's action section has one table row per input and per output."""
    for name in [*action_yml["inputs"], *action_yml["outputs"]]:
        assert re.search(rf"^\| `{re.escape(name)}` \|", readme_section, re.M), name
    for name, spec in action_yml["inputs"].items():
        assert spec["description"], name


def test_program_reads_every_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting any one input changes what bot/action.py read: none is silently dropped."""
    monkeypatch.chdir(tmp_path)
    Path(".github").mkdir()
    Path(".github/golden-path.yml").write_text("environment: staging\n")
    Path("other.yml").write_text("environment: prod\n")
    Path("requirements-e2e.txt").write_text("requests\n")
    values = {
        "command": "handle-event",
        "config": "other.yml",
        "github-token": "t0ken-value",
        "suites": "smoke",
        "deploy": "false",
        "dry-run": "true",
        "shard": "1/2",
        "results": "r.json",
        "shard-results": "s/*.json",
        "python-version": "3.13",
        "requirements": "requirements-e2e.txt",
    }
    assert set(values) == set(action.INPUTS)
    base = {action.INPUTS["command"]: "run"}
    default = action.read_inputs(base)
    for name, value in values.items():
        got = action.read_inputs({**base, action.INPUTS[name]: value})
        assert got != default, f"input {name} is not read"


# -- bot/action.py: inputs → argv ------------------------------------------------------------
@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "golden-path.yml").write_text("environment: staging\n")
    return tmp_path


def env(**inputs: str) -> dict[str, str]:
    return {action.INPUTS[k.replace("_", "-")]: v for k, v in inputs.items()}


def test_defaults_give_handle_event(workspace: Path) -> None:
    """Nothing set: handle-event with the default config."""
    inp = action.read_inputs({})
    assert action.build_argv(inp)[:3] == ["handle-event", "--config", ".github/golden-path.yml"]


def test_run_argv_carries_every_input(workspace: Path) -> None:
    """command=run maps suites, deploy, dry-run, shard and results to their flags."""
    inp = action.read_inputs(
        env(
            command="run",
            suites="golden path e2e, smoke\nsmoke",
            deploy="False",
            dry_run="true",
            shard="2/4",
            results="out/shard-2/results.json",
        )
    )
    assert action.build_argv(inp) == [
        "run",
        "--config",
        ".github/golden-path.yml",
        "--dry-run",
        "--suite",
        "golden path e2e",
        "--suite",
        "smoke",
        "--no-deploy",
        "--shard",
        "2/4",
        "--results",
        "out/shard-2/results.json",
    ]


def test_merge_expands_shard_results(workspace: Path) -> None:
    """command=merge globs the shard files and passes --out."""
    for k in (2, 1):
        (workspace / "shards" / f"s{k}").mkdir(parents=True)
        (workspace / "shards" / f"s{k}" / "results.json").write_text("{}")
    inp = action.read_inputs(
        env(command="merge", shard_results="shards/*/results.json", results="merged.json")
    )
    assert action.build_argv(inp) == [
        "merge",
        "shards/s1/results.json",
        "shards/s2/results.json",
        "--config",
        ".github/golden-path.yml",
        "--out",
        "merged.json",
    ]


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"command": "deploy"}, "input `command`"),
        ({"deploy": "yes"}, "input `deploy`"),
        ({"dry_run": "1"}, "input `dry-run`"),
        ({"command": "run", "shard": "5/4"}, "input `shard`"),
        ({"command": "run", "shard": "two"}, "input `shard`"),
        ({"shard": "1/2"}, "needs `command: run`"),
        ({"config": "missing.yml"}, "input `config`: missing.yml not found"),
        ({"command": "merge"}, "input `shard-results` is empty"),
        ({"python_version": "3.10"}, "input `python-version`"),
        ({"results": "."}, "input `results`"),
        ({"requirements": "nope.txt"}, "input `requirements`: nope.txt not found"),
    ],
)
def test_bad_inputs_fail_with_error_and_exit_2(
    workspace: Path, inputs: dict[str, str], fragment: str
) -> None:
    """Each wrong input: one ::error:: naming the input, exit 2, and nothing runs."""
    out = io.StringIO()
    code = action.main(["--check"], {"GITHUB_ACTIONS": "true", **env(**inputs)}, out)
    assert code == 2
    (line,) = out.getvalue().splitlines()
    assert line.startswith("::error title=golden-path action::")
    assert fragment in line


def test_merge_without_matching_files_is_an_input_error(workspace: Path) -> None:
    """A merge whose glob matches nothing says so before anything runs."""
    out = io.StringIO()
    code = action.main([], env(command="merge", shard_results="shards/*/results.json"), out)
    assert code == 2
    assert "nothing matches shards/*/results.json" in out.getvalue()


def test_check_passes_and_runs_nothing(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--check with good inputs exits 0 without calling the CLI."""
    import bot.cli

    monkeypatch.setattr(bot.cli, "main", lambda argv: pytest.fail("ran"))
    assert action.main(["--check"], env(command="run", shard="1/2"), io.StringIO()) == 0


def test_main_masks_the_token_and_runs_the_cli(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is masked before the CLI starts; the CLI's exit code is the action's."""
    import bot.cli

    seen: list[list[str]] = []

    def fake_cli(argv: list[str]) -> int:
        seen.append(list(argv))
        return 1

    monkeypatch.setattr(bot.cli, "main", fake_cli)
    out = io.StringIO()
    token = "ghs_" + "a" * 36
    code = action.main(
        [], {"GITHUB_ACTIONS": "true", **env(command="run", github_token=token)}, out
    )
    assert code == 1
    assert seen == [["run", "--config", ".github/golden-path.yml"]]
    assert f"::add-mask::{token}" in out.getvalue().splitlines()
    assert "golden-path run --config .github/golden-path.yml" in out.getvalue()


def test_unsupported_input_for_handle_event_warns(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """handle-event gets --suite/--no-deploy only if the CLI takes them; otherwise a warning."""
    import bot.cli

    monkeypatch.setattr(bot.cli, "main", lambda argv: 0)
    inp = action.read_inputs(env(suites="smoke", deploy="false"))
    argv = action.build_argv(inp)
    for option, name in (("--suite", "suites"), ("--no-deploy", "deploy")):
        if action._accepts("handle-event", [option, "x"] if option == "--suite" else [option]):
            assert option in argv
        else:
            assert option not in argv
            assert any(f"`{name}`" in w for w in inp.warnings)
