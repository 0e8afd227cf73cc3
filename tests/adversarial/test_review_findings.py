"""Findings of the independent security review, each pinned by the attack that found it.

Every test names its finding ("Finding N: …") and failed on the code before the fix.
The workflow findings (3) live in ``test_workflow_hardening.py``, next to the audit.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "tests" / "data" / "configs"
GOLDEN_PATH = str(Path(sys.executable).parent / "golden-path")


# -- Finding 12: YAML alias bomb ------------------------------------------------------------
def alias_bomb(levels: int) -> str:
    """A few hundred bytes under the documented ``x-`` anchor keys; 9**levels leaves."""
    lines = ["x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"x-a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    # the unfixed loader took 2.2 GB (6 levels) and 10 GB (7): fail there, not in the machine
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("levels", [6, 7])
def test_alias_bomb_is_refused_fast_with_exit_2(tmp_path: Path, levels: int) -> None:
    """Finding 12: a 6- or 7-level alias bomb is a config error (exit 2) within a second."""
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(alias_bomb(levels), encoding="utf-8")
    assert len(bomb.read_bytes()) < 500
    started = time.perf_counter()
    result = subprocess.run(
        [GOLDEN_PATH, "run", "--config", str(bomb), "--tracker", "none"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=_limit_memory,
        env={**os.environ, "GOLDEN_PATH_PROGRESS": "off"},
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr
    assert "aliases expand to more than 10,000 values" in result.stderr
    # x-a4 (line 5) is the first anchor past the bound: 9**4 leaves plus their lists
    assert f"{bomb}:5:" in result.stderr, "points at the first anchor that grows too big"
    assert "Traceback" not in result.stderr
    # interpreter start and imports included; the unfixed loader took 14 s and more
    assert elapsed < 5.0, elapsed


def test_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    """Finding 12: load_config refuses the 7-level bomb in well under a second."""
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(alias_bomb(7), encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(bomb)
    assert time.perf_counter() - started < 0.5
    assert "write the values out" in str(info.value), "the message says how to fix it"


def test_self_referencing_alias_is_a_config_error(tmp_path: Path) -> None:
    """Finding 12: an anchor that contains its own alias is refused, not a RecursionError."""
    path = tmp_path / "loop.yml"
    path.write_text("x-a: &a [1, *a]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:1:")
    assert "contains itself" in str(info.value)
    assert "only outside the anchored value" in str(info.value)


def test_legitimate_anchors_still_load() -> None:
    """Finding 12: the bound leaves ordinary anchors and merge keys alone."""
    config = load_config(CONFIGS / "anchors.yml")
    assert [h.timeout for h in config.checks.health] == [5.0, 7.0]


def test_a_large_config_without_aliases_is_not_refused(tmp_path: Path) -> None:
    """Finding 12: the bound is on expansion, so many plain keys stay fine."""
    probes = "".join(f"    - {{name: p{i}, url: /p{i}}}\n" for i in range(2000))
    path = tmp_path / "big.yml"
    path.write_text(f"checks:\n  health:\n{probes}", encoding="utf-8")
    assert len(load_config(path).checks.health) == 2000
