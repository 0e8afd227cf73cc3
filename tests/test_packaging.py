"""The wheel carries the templates and the entry points; the CLI starts fast and cleanly."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
