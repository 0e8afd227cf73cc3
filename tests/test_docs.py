"""The README's configuration reference: generated from the models, complete, and in sync."""

from __future__ import annotations

import re
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bot import docs
from bot.config import Config, parse_config
from bot.config.models import SECRET_KEYS
from bot.duration import DURATION_PATTERN, Duration, format_duration

ROOT = Path(__file__).resolve().parent.parent
DURATION_MARKERS = typing.get_args(Duration)[1:]


# ------------------------------------------------------------------------------- helpers


def _types_in(tp: Any) -> Iterator[Any]:
    """Every type inside ``tp`` through ``Annotated``, ``X | None`` and ``list[X]``."""
    yield tp
    for arg in typing.get_args(tp):
        if isinstance(arg, type | types.UnionType) or typing.get_origin(arg) is not None:
            yield from _types_in(arg)


def _submodel(info: FieldInfo) -> tuple[type[BaseModel], bool] | None:
    """The model a field holds (directly, optionally, or as a list of them), and if it is a list."""
    for tp in _types_in(info.annotation):
        if typing.get_origin(tp) is list:
            item = typing.get_args(tp)[0]
            if isinstance(item, type) and issubclass(item, BaseModel):
                return item, True
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp, False
    return None


def _is_duration(info: FieldInfo) -> bool:
    if any(marker in info.metadata for marker in DURATION_MARKERS):
        return True
    return any(
        marker in typing.get_args(tp)
        for tp in _types_in(info.annotation)
        if typing.get_origin(tp) is typing.Annotated
        for marker in DURATION_MARKERS
    )


def leaf_fields(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(key path as written in the file, field) for every leaf of the config, by walking models;
    a mapping of sections keyed by name shows its key as ``<name>`` (its schema's title)."""
    for name, info in model.model_fields.items():
        key = f"{prefix}.{info.alias or name}" if prefix else info.alias or name
        sub = _submodel(info)
        if sub is None:
            yield key, info
        else:
            sub_model, is_list = sub
            if typing.get_origin(_unwrap_optional(info.annotation)) is dict:
                extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
                names = extra.get("propertyNames", {})
                title = names.get("title", "name") if isinstance(names, dict) else "name"
                key += f".<{title}>"
            yield from leaf_fields(sub_model, key + "[]" if is_list else key)


def _unwrap_optional(tp: Any) -> Any:
    args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    return args[0] if isinstance(tp, types.UnionType) and len(args) == 1 else tp


def table_rows(text: str) -> dict[str, list[str]]:
    """Reference table rows by key: [type, default, description], ``\\|`` unescaped."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [
            cell.strip().replace("\\|", "|")
            for cell in re.split(r"(?<!\\)\|", line.strip().removeprefix("|").removesuffix("|"))
        ]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


@pytest.fixture(scope="module")
def reference() -> str:
    """The rendered reference, once per module."""
    return docs.config_reference()


@pytest.fixture(scope="module")
def rows(reference: str) -> dict[str, list[str]]:
    """The reference's table rows by key."""
    return table_rows(reference)


def _stale_copy(tmp_path: Path) -> Path:
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head, rest = text.split(docs.BEGIN_MARKER)
    _, tail = rest.split(docs.END_MARKER)
    readme.write_text(
        f"{head}{docs.BEGIN_MARKER}\nold, hand-edited text\n{docs.END_MARKER}{tail}",
        encoding="utf-8",
    )
    return readme


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.docs", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# ---------------------------------------------------------------------------------- tests


def test_readme_is_in_sync() -> None:
    """README.md holds exactly what ``python -m bot.docs`` generates (run it after config edits)."""
    assert docs.update_readme(check=True) is False


def test_generated_block_says_so(reference: str) -> None:
    """The block's first line is the HTML comment telling people not to edit it by hand."""
    first = reference.splitlines()[0]
    assert first.startswith("<!--") and first.endswith("-->")
    assert "generated by `python -m bot.docs` — do not edit by hand" in first


def test_walk_finds_the_config() -> None:
    """The test's own model walk reaches nested sections, list items and aliases."""
    keys = {key for key, _ in leaf_fields()}
    assert {"environment", "auth.jwt.secret_env", "checks.health[].url"} <= keys
    assert "checks.endpoints[].json" in keys
    assert "checks.endpoints[].json_body" not in keys


def test_every_leaf_key_is_documented(rows: dict[str, list[str]]) -> None:
    """Every leaf key of the models has a row with a type and a non-empty description."""
    missing = [key for key, _ in leaf_fields() if key not in rows]
    assert not missing
    undescribed = [key for key, _ in leaf_fields() if not rows[key][2]]
    assert not undescribed, (
        f"add a docstring under these fields in bot/config/models.py: {undescribed}"
    )
    untyped = [key for key, _ in leaf_fields() if not rows[key][0]]
    assert not untyped


def test_sections_are_grouped(reference: str) -> None:
    """Scalars sit under "Top level"; every section key gets a heading of its own."""
    headings = re.findall(r"^#### (.+)$", reference, flags=re.MULTILINE)
    sections = [name for name, info in Config.model_fields.items() if _submodel(info)]
    assert headings == ["Top level", *(f"`{name}`" for name in sections)]
    top = reference.split("#### `")[0]
    for key in ("environment", "mission", "target_tests"):
        assert f"| `{key}` |" in top


def test_human_types(rows: dict[str, list[str]]) -> None:
    """Types read as words, enums as their values, lists of sections with ``[]``."""
    assert rows["deploy.timeout"][0] == "duration"
    assert rows["checks.agent_flow.token_in"][0] == "`header | subprotocol | query | none`"
    assert rows["tracking.labels"][0] == "list of strings"
    assert rows["checks.health[]"][0] == "list of mappings"
    assert rows["checks.agent_flow.sessions"][0] == "integer"
    assert rows["checks.endpoints[].auth"][0] == "boolean"
    assert rows["deploy.env"][0].startswith("mapping")


def test_duration_defaults_are_text(rows: dict[str, list[str]]) -> None:
    """Every duration default shows as duration text (``15m``), never as a number of seconds."""
    durations = [(key, info) for key, info in leaf_fields() if _is_duration(info)]
    assert len(durations) >= 8
    for key, info in durations:
        shown = rows[key][1]
        if info.default is None:
            assert shown == docs.NO_DEFAULT, key
        else:
            assert shown == f"`{format_duration(info.default)}`", key
            assert re.fullmatch(DURATION_PATTERN, shown.strip("`")), key
    assert rows["deploy.timeout"][1] == "`15m`"
    assert rows["checks.pytest[].timeout"][1] == "`30m`"


def test_defaults_are_valid_config(rows: dict[str, list[str]]) -> None:
    """Each default in the tables, written back at its key, is valid config that changes nothing."""
    base: dict[str, Any] = {
        "deploy": {"url": "https://example.com"},
        "auth": {"jwt": {}, "verify": {"url": "https://auth.example.com/validate"}},
        "evidence": {"logs": {"command": "true"}},
    }
    expected = parse_config(base)
    checked = 0
    for key, (_, default, _) in rows.items():
        if not default.startswith("`") or "[]." in key or ".<" in key:
            continue
        value = yaml.safe_load(default.strip("`"))
        *parents, last = key.removesuffix("[]").split(".")
        data = yaml.safe_load(yaml.safe_dump(base))
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        assert parse_config(data) == expected, key
        checked += 1
    assert checked >= 30


def test_long_defaults_are_valid_config(reference: str) -> None:
    """The YAML blocks of defaults too long for a table are valid config equal to the defaults."""
    blocks = re.findall(r"```yaml\n(.*?)```", reference, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        assert parse_config(yaml.safe_load(block)) == Config()


def test_secrets_appear_only_as_env_names(
    rows: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secret keys are documented only as ``*_env`` names; no secret value reaches the text."""
    for key in rows:
        name = key.removesuffix("[]").rsplit(".", 1)[-1]
        assert name not in SECRET_KEYS, key
        if re.search(r"secret|password|api_key|private_key|token$", name):
            assert name.endswith("_env"), key
    env_rows = {key: cells for key, cells in rows.items() if key.endswith("_env")}
    assert "auth.jwt.secret_env" in env_rows and "auth.token_env" in env_rows
    for cells in env_rows.values():
        default = cells[1].strip("`")
        assert default == docs.NO_DEFAULT or re.fullmatch(r"[A-Z_][A-Z0-9_]*", default)
    sentinel = "sentinel-secret-value-0123456789"
    monkeypatch.setenv("JWT_SECRET_KEY", sentinel)
    assert sentinel not in docs.config_reference()


def test_update_readme_check_does_not_write(tmp_path: Path) -> None:
    """With check=True a stale README is reported but left alone; without, it is rewritten."""
    readme = _stale_copy(tmp_path)
    before = readme.read_text(encoding="utf-8")
    assert docs.update_readme(readme, check=True) is True
    assert readme.read_text(encoding="utf-8") == before
    assert docs.update_readme(readme) is True
    assert docs.update_readme(readme, check=True) is False
    assert readme.read_text(encoding="utf-8") == (ROOT / "README.md").read_text(encoding="utf-8")


def test_update_readme_needs_the_markers(tmp_path: Path) -> None:
    """A README without the marker pair is an error, never a silent append."""
    readme = tmp_path / "README.md"
    readme.write_text("# No markers here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="config-reference:begin"):
        docs.update_readme(readme, check=True)


def test_cli_check_mode_exit_codes(tmp_path: Path) -> None:
    """``python -m bot.docs --check`` exits 1 on a stale README (unchanged), 0 once regenerated."""
    readme = _stale_copy(tmp_path)
    before = readme.read_text(encoding="utf-8")
    stale = _run("--check", "--readme", str(readme))
    assert stale.returncode == 1, stale.stderr
    assert "python -m bot.docs" in stale.stderr
    assert readme.read_text(encoding="utf-8") == before
    rewrite = _run("--readme", str(readme))
    assert rewrite.returncode == 0, rewrite.stderr
    fresh = _run("--check", "--readme", str(readme))
    assert fresh.returncode == 0, fresh.stderr
