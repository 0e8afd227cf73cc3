"""The wheel carries the templates and the entry points; the CLI starts fast and cleanly;
the wheel installs into a fresh venv and runs the demo away from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bot import __version__

ROOT = Path(__file__).resolve().parent.parent
# Wheels of the bot's dependencies, fetched from the index once and reused, so the fresh
# venv installs in seconds without touching the network again.
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("*.whl")
    return found


def test_wheel_ships_every_template(wheel: Path) -> None:
    """Every template in templates/ is inside the wheel as bot/templates/…."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").glob("*.j2"):
        assert f"bot/templates/{template.name}" in names


def test_wheel_declares_the_cli_and_the_pytest_plugin(wheel: Path) -> None:
    """Console script golden-path and the pytest11 entry point are declared."""
    zf = zipfile.ZipFile(wheel)
    (ep,) = [n for n in zf.namelist() if n.endswith("entry_points.txt")]
    text = zf.read(ep).decode()
    assert "golden-path = bot.cli:main" in text
    assert "[pytest11]" in text and "golden_path = bot.plugin" in text


def test_templates_render_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    """Unpacked away from the checkout, the package finds its templates and renders."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import bot.render as r; d = r.template_dir(); "
        "assert 'site' in str(d), d; "
        "print(r.environment().get_template('footer.md.j2').filename)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(site) in out.stdout


def test_help_starts_without_heavy_imports() -> None:
    """`golden-path --help` imports none of PyGithub, websockets, httpx, jinja2, pydantic."""
    code = (
        "import sys; from bot.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('github', 'websockets', 'httpx', 'jinja2', 'pydantic', 'jwt')"
        " if m in sys.modules]\nprint('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_wheel_is_the_package_version(wheel: Path) -> None:
    """The wheel's name and metadata carry bot.__version__ (hatchling reads it there)."""
    assert wheel.name == f"golden_path_bot-{__version__}-py3-none-any.whl"
    zf = zipfile.ZipFile(wheel)
    (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
    assert f"\nVersion: {__version__}\n" in zf.read(meta).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in zf.namelist())


def _pip_install(python: Path, wheel: Path) -> None:
    """Install ``wheel`` into the venv of ``python`` from the wheelhouse, filling it if needed."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    install = [
        *pip,
        "--python",
        str(python),
        "install",
        "--no-compile",
        "--no-index",
        "--find-links",
        str(WHEELHOUSE),
        str(wheel),
    ]
    if WHEELHOUSE.is_dir() and subprocess.run(install, capture_output=True).returncode == 0:
        return
    # first run, or the dependencies changed: fetch their wheels from the index once
    subprocess.run(
        [*pip, "download", "--dest", str(WHEELHOUSE), str(wheel)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    subprocess.run(install, check=True, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_the_demo(wheel: Path, tmp_path: Path) -> None:
    """pip install of the wheel into a new venv (no system site-packages); `golden-path demo`
    run from a directory outside the checkout writes the tracking issue."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    _pip_install(venv / "bin" / "python", wheel)

    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith(("GITHUB_", "GOLDEN_PATH_"))
    }
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)) and str(ROOT) not in where

    cli = str(venv / "bin" / "golden-path")
    version = subprocess.run([cli, "--version"], env=env, capture_output=True, text=True)
    assert version.stdout.strip() == f"golden-path {__version__}"
    demo = subprocess.run(
        [cli, "demo", "--tests", "20", "--out", "report"],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    issue = (away / "report" / "tracking-issue.md").read_text(encoding="utf-8")
    assert issue.startswith("<!-- golden-path:begin -->")
    assert "**Current Status:** ALL GOLDEN PATH TESTS PASSING" in issue
    assert "20/20 golden-path tests passing" in issue
    assert (away / "report" / "results.json").is_file() and (
        away / "report" / "junit.xml"
    ).is_file()
