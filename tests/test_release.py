"""Something to pin: one version, a changelog that names it, and a release workflow that works.

The release workflow's shell steps are run here for real with bash (``gh`` replaced by a
recorder on ``PATH``, since the GitHub API is not reachable from tests), against a wheel and
sdist built from this checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import __version__
from tests.test_workflows import load

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
CHANGELOG = ROOT / "CHANGELOG.md"
RELEASE_HEADING = re.compile(r"^## \[(\d+\.\d+\.\d+(?:-[\w.]+)?)\] - (\d{4}-\d\d-\d\d)$", re.M)


def release_steps() -> dict[str, dict[str, Any]]:
    """Every named step of the release workflow, by name."""
    wf = load(WORKFLOW)
    return {s["name"]: s for job in wf["jobs"].values() for s in job["steps"] if "name" in s}


def run_step(
    name: str, cwd: Path, env: dict[str, str], path: list[Path] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the workflow step ``name``'s shell text with bash, as the runner would."""
    script = release_steps()[name]["run"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    full_env.update(env)
    if path:
        full_env["PATH"] = os.pathsep.join([*map(str, path), full_env["PATH"]])
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- one version ---------------------------------------------------------------------------------
def test_version_is_semantic() -> None:
    """__version__ is MAJOR.MINOR.PATCH (a pre-release suffix allowed)."""
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[\w.]+)?", __version__)


def test_cli_prints_the_version() -> None:
    """`golden-path --version` prints the package's version and exits 0."""
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert out.stdout.strip() == f"golden-path {__version__}"


def test_pyproject_reads_the_version_from_the_package() -> None:
    """pyproject.toml writes no version of its own: hatchling reads bot/__init__.py."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "bot/__init__.py"


# -- the changelog -------------------------------------------------------------------------------
def test_changelog_newest_release_is_this_version() -> None:
    """Keep a Changelog: [Unreleased] first, then the newest release, which is __version__."""
    text = CHANGELOG.read_text(encoding="utf-8")
    headings = re.findall(r"^## .*$", text, re.M)
    assert headings[0] == "## [Unreleased]"
    releases = RELEASE_HEADING.findall(text)
    assert releases, "no '## [X.Y.Z] - YYYY-MM-DD' heading"
    assert releases[0][0] == __version__
    assert headings[1] == f"## [{__version__}] - {releases[0][1]}"
    for version, _ in releases:  # every heading links somewhere
        assert re.search(rf"^\[{re.escape(version)}\]: https://", text, re.M), version


def test_license_is_the_mit_text_pyproject_claims() -> None:
    """LICENSE holds the MIT license, as pyproject.toml declares."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


# -- the workflow --------------------------------------------------------------------------------
def test_release_runs_on_version_tags_only() -> None:
    """Only a pushed vX.Y.Z tag starts a release."""
    assert load(WORKFLOW)["on"] == {"push": {"tags": ["v*.*.*"]}}


def test_jobs_test_then_build_then_release_and_only_release_writes() -> None:
    """test → build → release; contents: write in the release job alone."""
    wf = load(WORKFLOW)
    jobs = wf["jobs"]
    assert wf["permissions"] == {}
    assert jobs["build"]["needs"] == "test" and jobs["release"]["needs"] == "build"
    assert jobs["test"]["permissions"] == {"contents": "read"}
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["release"]["permissions"] == {"contents": "write"}
    runs = [s.get("run", "") for s in jobs["test"]["steps"]]
    assert "make lint" in runs and any(r.startswith("make test") for r in runs)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the build job has: dist/ with the wheel and the sdist, CHANGELOG.md."""
    work = tmp_path_factory.mktemp("release")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(work / "dist")],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    shutil.copy(CHANGELOG, work / "CHANGELOG.md")
    return work


def test_build_makes_the_wheel_and_sdist_named_for_the_tag(built: Path) -> None:
    """The agreement step passes for v<__version__> and finds both files."""
    names = sorted(p.name for p in (built / "dist").iterdir())
    assert names == [
        f"golden_path_bot-{__version__}-py3-none-any.whl",
        f"golden_path_bot-{__version__}.tar.gz",
    ]
    result = run_step("Tag, version and changelog agree", built, {"TAG": f"v{__version__}"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_tag_that_disagrees_stops_the_release(built: Path) -> None:
    """Tagging v9.9.9 while the package says otherwise fails with an ::error:: that says why."""
    result = run_step("Tag, version and changelog agree", built, {"TAG": "v9.9.9"})
    assert result.returncode == 1
    assert "::error::tag v9.9.9" in result.stdout and "__version__" in result.stdout


def test_a_version_missing_from_the_changelog_stops_the_release(
    built: Path, tmp_path: Path
) -> None:
    """Right files, but no changelog heading for the version: the release stops."""
    shutil.copytree(built / "dist", tmp_path / "dist")
    text = CHANGELOG.read_text(encoding="utf-8").replace(f"## [{__version__}]", "## [0.0.0]")
    (tmp_path / "CHANGELOG.md").write_text(text, encoding="utf-8")
    result = run_step("Tag, version and changelog agree", tmp_path, {"TAG": f"v{__version__}"})
    assert result.returncode == 1
    assert f"no '## [{__version__}] - YYYY-MM-DD' heading" in result.stdout


def test_release_notes_are_the_versions_changelog_section(built: Path, tmp_path: Path) -> None:
    """The notes are exactly the lines under the version's heading, up to the next one."""
    env = {"TAG": f"v{__version__}", "RUNNER_TEMP": str(tmp_path)}
    result = run_step("Release notes from the changelog", built, env)
    assert result.returncode == 0, result.stdout + result.stderr
    notes = (tmp_path / "notes.md").read_text(encoding="utf-8")
    lines = CHANGELOG.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## [{__version__}] - "))
    end = next(
        i
        for i in range(start + 1, len(lines))
        if lines[i].startswith("## [") or re.match(r"\[[^]]+\]: ", lines[i])
    )
    assert notes.splitlines() == lines[start + 1 : end]
    assert "### Added" in notes


def test_no_notes_no_release(built: Path, tmp_path: Path) -> None:
    """A tag whose version has no changelog section fails the notes step."""
    result = run_step(
        "Release notes from the changelog",
        built,
        {"TAG": "v0.0.1", "RUNNER_TEMP": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "::error::CHANGELOG.md has no notes" in result.stdout


@pytest.fixture
def gh(tmp_path: Path) -> tuple[Path, Path]:
    """A `gh` on PATH that records each call; `gh api …/git/ref/tags/vN` answers 404 unless
    the file `existing` lists that tag."""
    bindir, log = tmp_path / "bin", tmp_path / "gh.log"
    bindir.mkdir()
    script = bindir / "gh"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'printf "%s\\n" "$*" >> "{log}"\n'
        'if [[ "$1 $2" == "api repos/"*"/git/ref/tags/"* ]]; then\n'
        f'  grep -qx "${{2##*/}}" "{tmp_path}/existing" 2>/dev/null || exit 1\n'
        "fi\n"
    )
    script.chmod(0o755)
    return bindir, log


def git_repo(where: Path) -> str:
    """A one-commit repository at ``where``; its commit SHA."""
    where.mkdir(exist_ok=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(where)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "release"], check=True)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_release_is_created_with_both_files(built: Path, gh: tuple[Path, Path]) -> None:
    """`gh release create` gets the tag, both dist files and the notes; pre-releases say so."""
    bindir, log = gh
    env = {"TAG": "v1.2.3", "GITHUB_REPOSITORY": "acme/golden-path-bot", "RUNNER_TEMP": "/t"}
    assert run_step("Create the GitHub release", built, env, [bindir]).returncode == 0
    call = log.read_text().splitlines()[-1]
    assert call.startswith("release create v1.2.3 dist/golden_path_bot-")
    assert ".whl" in call and ".tar.gz" in call and "--notes-file /t/notes.md" in call
    assert "--verify-tag" in call and "--prerelease" not in call
    env["TAG"] = "v1.3.0-rc.1"
    assert run_step("Create the GitHub release", built, env, [bindir]).returncode == 0
    assert log.read_text().splitlines()[-1].endswith("--prerelease")


def test_major_tag_is_created_then_moved(gh: tuple[Path, Path], tmp_path: Path) -> None:
    """First v1.x release creates the v1 ref at the tagged commit; later ones move it."""
    bindir, log = gh
    commit = git_repo(tmp_path / "repo")
    env = {"TAG": "v1.0.0", "GITHUB_REPOSITORY": "acme/golden-path-bot"}
    result = run_step("Move the major tag", tmp_path / "repo", env, [bindir])
    assert result.returncode == 0, result.stderr
    assert (
        f"api --method POST repos/acme/golden-path-bot/git/refs -f ref=refs/tags/v1 -f sha={commit}"
        in log.read_text()
    )
    (tmp_path / "existing").write_text("v1\n")
    env["TAG"] = "v1.4.2"
    assert run_step("Move the major tag", tmp_path / "repo", env, [bindir]).returncode == 0
    assert log.read_text().splitlines()[-1] == (
        f"api --method PATCH repos/acme/golden-path-bot/git/refs/tags/v1 -f sha={commit} "
        "-F force=true --silent"
    )


def test_a_pre_release_leaves_the_major_tag_alone(gh: tuple[Path, Path], tmp_path: Path) -> None:
    """v2.0.0-rc.1 publishes, but v2 is not created or moved."""
    bindir, log = gh
    git_repo(tmp_path / "repo")
    env = {"TAG": "v2.0.0-rc.1", "GITHUB_REPOSITORY": "acme/golden-path-bot"}
    result = run_step("Move the major tag", tmp_path / "repo", env, [bindir])
    assert result.returncode == 0
    assert "v2 stays where it is" in result.stdout
    assert not log.exists()


def test_releasing_md_gives_the_steps() -> None:
    """RELEASING.md names the version file, the changelog, the tag and the pin."""
    text = (ROOT / "RELEASING.md").read_text(encoding="utf-8")
    for needed in ("bot/__init__.py", "CHANGELOG.md", "git tag", "git push", "git ls-remote"):
        assert needed in text, needed
