"""The package's shape: one-way imports, settings read at the edge, complete registries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.checks import check_types
from bot.checks.base import CheckType
from bot.kinds import KINDS, Kind, info

BOT = Path(__file__).resolve().parent.parent / "bot"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in BOT.rglob("*.py"):
        rel = path.relative_to(BOT.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        mods[".".join(parts)] = path
    return mods


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module → bot modules it imports, anywhere in it (functions and TYPE_CHECKING too)."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package[: len(package) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != mod and not mod.startswith(target + "."):
                    edges[mod].add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_even_inside_functions() -> None:
    """The import graph of bot/, function-level imports included, has no cycle."""
    assert _cycles(_imports(_modules())) == []


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    """The checker itself can fail: a two-module cycle is reported."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_nothing_imports_the_cli() -> None:
    """cli is wiring at the top; only the action's entry point (which wraps it) imports it."""
    importers = sorted(m for m, deps in _imports(_modules()).items() if "bot.cli" in deps)
    assert importers == ["bot.action"]


#: Modules that may read the process environment, and why.
ENVIRONMENT_EDGES = {
    "bot.cli": "builds Settings from os.environ",
    "bot.settings": "parses it",
    "bot.action": "the action's entry point: its inputs arrive as environment variables",
    "bot.plugin": "runs inside the user's pytest process, started by the bot with these values",
    "bot.sample.serve": "a separate program (the sample target)",
    "bot.checks.agent_flow": "proxy variables, resolved once per URL exactly as websockets would",
    "bot.deploy": "run_command without base_env (direct callers) inherits the process's",
    "bot.checks.pytest_suite": "run_suite without env (direct callers) inherits the process's",
}


def test_only_the_edges_read_the_environment() -> None:
    """os.environ / os.getenv appear only in the modules listed (settings are read once)."""
    readers = set()
    for mod, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and node.attr in ("environ", "getenv", "environb")
            ):
                readers.add(mod)
    assert readers <= set(ENVIRONMENT_EDGES), readers - set(ENVIRONMENT_EDGES)


def test_every_failure_kind_is_explained() -> None:
    """Each Kind has its table entry (label, root issue, WHY 1, hints, impact, fix)."""
    assert set(KINDS) == set(Kind)
    for kind in Kind:
        entry = info(kind)
        assert entry.label and entry.root and entry.why1 and entry.answer
        assert entry.hints and entry.impact and entry.fix


def test_an_unexplained_kind_is_an_error_not_a_default() -> None:
    """A kind missing from the table raises instead of falling back silently."""
    with pytest.raises(ValueError):
        info("no_such_kind")


@pytest.mark.parametrize("ct", check_types(), ids=lambda ct: ct.key)
def test_every_check_type_implements_the_interface(ct: CheckType) -> None:
    """Each check type overrides what has no sensible default: enabled, run, outcomes, load."""
    for name in ("enabled", "run", "outcomes", "load"):
        assert getattr(type(ct), name) is not getattr(CheckType, name), name
    assert ct.key and ct.key not in {"deploy", "auth", "summary", "verdict"}


def test_check_type_keys_are_unique() -> None:
    """Keys name results in Iteration.checks and results.json: no two may collide."""
    keys = [ct.key for ct in check_types()]
    assert len(keys) == len(set(keys))
