"""User suites run with the user's own test dependencies (the action's `requirements` input).

The action installs the bot into a private venv; a suite that imports the team's own
client library must find it there. These tests run action.yml's real install step (bash,
a fresh venv, pip) with a requirements file naming a package the bot does not depend on,
then `golden-path run` from that venv: the suite's import resolves, and it fails from a
bot installed without it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.sample import SampleTarget

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"  # shared with test_packaging: fewer downloads
USER_PACKAGE = "golden_path_userlib"

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def user_wheel(where: Path) -> Path:
    """A one-module wheel, as a team's internal client library would ship."""
    dist = f"{USER_PACKAGE}-1.0.dist-info"
    files = {
        f"{USER_PACKAGE}/__init__.py": 'GREETING = "from the user\'s environment"\n',
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {USER_PACKAGE}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = ""
    for name, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record += f"{name},sha256={encoded},{len(text.encode())}\n"
    files[f"{dist}/RECORD"] = record + f"{dist}/RECORD,,\n"
    path = where / f"{USER_PACKAGE}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


SUITE = f"""
import {USER_PACKAGE}


def test_uses_the_users_package_and_a_session(golden_path_session, golden_path_config):
    assert {USER_PACKAGE}.GREETING == "from the user's environment"
    assert golden_path_config.environment == "deps"
    session = golden_path_session()
    assert session.ok, session.error
"""


def workspace(root: Path, target: SampleTarget) -> dict[str, Any]:
    """A checkout: a config with one pytest suite that imports the user's package."""
    (root / "tests" / "e2e").mkdir(parents=True)
    (root / "tests" / "e2e" / "test_deps.py").write_text(textwrap.dedent(SUITE))
    wheel = user_wheel(root)
    (root / "requirements-e2e.txt").write_text(f"{USER_PACKAGE} @ {wheel.as_uri()}\n")
    cfg = {
        "environment": "deps",
        "target": {"base_url": target.base_url},
        "auth": {
            "jwt": {
                "secret_env": "DEPS_JWT_SECRET",
                "claims": {"iss": "auth-service", "aud": "backend"},
            }
        },
        "checks": {
            "agent_flow": {"sessions": 2, "timeout": "5s", "connect_timeout": "2s"},
            "pytest": [{"name": "e2e", "args": ["tests/e2e"]}],
        },
    }
    (root / "golden-path.yml").write_text(yaml.safe_dump(cfg))
    return cfg


def clean_env(**more: str) -> dict[str, str]:
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "GITHUB_", "GOLDEN_PATH_", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "GOLDEN_PATH_PROGRESS": "off", **more}


def run_install(root: Path, tmp_path: Path, requirements: str) -> subprocess.CompletedProcess[str]:
    """action.yml's install step, as the runner runs it (bash -eo pipefail), from ``root``."""
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    (install,) = [s for s in action["runs"]["steps"] if s.get("id") == "install"]
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    wheelhouse = str(WHEELHOUSE) if WHEELHOUSE.is_dir() else ""
    find_links = " ".join(p for p in (os.environ.get("PIP_FIND_LINKS", ""), wheelhouse) if p)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", install["run"]],
        cwd=root,
        env=clean_env(
            GOLDEN_PATH_PYTHON=sys.executable,
            GOLDEN_PATH_REQUIREMENTS=requirements,
            GITHUB_ACTION_PATH=str(ROOT),
            RUNNER_TEMP=str(runner_temp),
            GITHUB_OUTPUT=str(tmp_path / "github-output"),
            PIP_FIND_LINKS=find_links,
        ),
        capture_output=True,
        text=True,
        timeout=900,
    )


def golden_path_run(cli: Path, root: Path, secret: str) -> dict[str, Any]:
    proc = subprocess.run(
        [str(cli), "run", "--config", "golden-path.yml", "--tracker", "none"],
        cwd=root,
        env=clean_env(DEPS_JWT_SECRET=secret),
        capture_output=True,
        text=True,
        timeout=300,
    )
    results = root / ".golden-path" / "results.json"
    assert results.exists(), proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
    return data


@pytest.mark.slow
def test_requirements_input_makes_the_users_packages_importable(tmp_path: Path) -> None:
    """action.yml's install step with `requirements`: the suite imports the user's package
    from the bot's venv and passes; the same suite under a bot without it cannot import it."""
    root = tmp_path / "checkout"
    root.mkdir()
    with SampleTarget(secret="d" * 40) as target:
        workspace(root, target)
        step = run_install(root, tmp_path, "requirements-e2e.txt")
        assert step.returncode == 0, step.stdout + step.stderr
        output = tmp_path / "github-output"
        runner_temp = tmp_path / "runner-temp"
        venv = Path(output.read_text().strip().removeprefix("venv="))
        assert venv == runner_temp / "golden-path-venv"

        with_deps = golden_path_run(venv / "bin" / "golden-path", root, target.secret)
        (root / ".golden-path" / "results.json").unlink()
        # the bot of this checkout, installed without the user's requirements
        without = golden_path_run(
            Path(sys.executable).with_name("golden-path"), root, target.secret
        )
    (suite,) = with_deps["suites"]
    assert (suite["passed"], suite["failed"], suite["errors"], suite["error"]) == (1, 0, 0, "")
    assert with_deps["verdict"]["status"] == "passing"
    (broken,) = without["suites"]
    assert broken["passed"] == 0 and broken["errors"] == 1
    assert f"the suite imports {USER_PACKAGE}, which is not installed" in broken["error"]
    assert "`requirements` input" in broken["error"]
    (case,) = broken["cases"]
    assert case["message"] == (
        f"collection failure: ModuleNotFoundError: No module named {USER_PACKAGE!r}"
    )


@pytest.mark.slow
def test_a_requirements_file_that_conflicts_with_the_bot_fails_the_install(
    tmp_path: Path,
) -> None:
    """One resolution: a pin the bot cannot live with fails the install step, loudly."""
    (root := tmp_path / "checkout").mkdir()
    (root / "requirements-e2e.txt").write_text("pydantic<2\n")
    result = run_install(root, tmp_path, "requirements-e2e.txt")
    assert result.returncode != 0
    assert "pydantic" in result.stderr and "conflict" in result.stderr.lower()
    assert not (tmp_path / "github-output").exists()  # no venv handed to the run step
