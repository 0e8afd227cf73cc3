"""Entry point of the composite action: action inputs (environment) → ``golden-path`` argv.

``action.yml`` hands every input over as an environment variable (never as ``${{ }}``
text inside a shell line), and this module reads them once, validates them with a clear
``::error::`` and exit code 2, and calls :func:`bot.cli.main`. ``--check`` stops after
the validation: the action runs it before spending a minute on the install.

Imports stay in the standard library until the command runs, so ``--check`` works from
the action's source tree with the runner's bare Python.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

EXIT_USAGE = 2
COMMANDS = ("handle-event", "run", "merge")
MIN_PYTHON = (3, 11)

#: action input → the environment variable ``action.yml`` sets from it.
INPUTS: dict[str, str] = {
    "command": "GOLDEN_PATH_COMMAND",
    "config": "GOLDEN_PATH_CONFIG",
    "github-token": "GITHUB_TOKEN",
    "suites": "GOLDEN_PATH_SUITES",
    "deploy": "GOLDEN_PATH_DEPLOY",
    "dry-run": "GOLDEN_PATH_DRY_RUN",
    "shard": "GOLDEN_PATH_SHARD",
    "results": "GOLDEN_PATH_RESULTS",
    "shard-results": "GOLDEN_PATH_SHARD_RESULTS",
    "python-version": "GOLDEN_PATH_PYTHON_VERSION",
    "requirements": "GOLDEN_PATH_REQUIREMENTS",
}
DEFAULTS: dict[str, str] = {
    "command": "handle-event",
    "config": ".github/golden-path.yml",
    "deploy": "true",
    "dry-run": "false",
    "python-version": "3.12",
}


class InputError(ValueError):
    """An action input that cannot work; the message names the input and the fix."""


@dataclass(slots=True)
class ActionInputs:
    command: str = "handle-event"
    config: str = ".github/golden-path.yml"
    suites: list[str] = field(default_factory=list)
    deploy: bool = True
    dry_run: bool = False
    shard: str = ""
    results: str = ""
    shard_results: list[str] = field(default_factory=list)
    python_version: str = "3.12"
    requirements: str = ""  # installed by action.yml's install step; checked here first
    token: str = ""
    warnings: list[str] = field(default_factory=list)


def _get(env: Mapping[str, str], name: str) -> str:
    value = env.get(INPUTS[name], "").strip()
    return value or DEFAULTS.get(name, "")


def _bool(env: Mapping[str, str], name: str) -> bool:
    value = _get(env, name).lower()
    if value not in ("true", "false"):
        raise InputError(f"input `{name}` is {value!r}: write true or false")
    return value == "true"


def _list(text: str) -> list[str]:
    """Comma- or newline-separated items (suite names may contain spaces), order kept."""
    items = (s.strip() for s in re.split(r"[,\n]", text))
    return list(dict.fromkeys(s for s in items if s))


def read_inputs(env: Mapping[str, str]) -> ActionInputs:
    """Every input, validated; raises :class:`InputError` with the first problem."""
    inp = ActionInputs(
        command=_get(env, "command"),
        config=_get(env, "config"),
        suites=_list(_get(env, "suites")),
        deploy=_bool(env, "deploy"),
        dry_run=_bool(env, "dry-run"),
        shard=_get(env, "shard"),
        results=_get(env, "results"),
        shard_results=_list(_get(env, "shard-results")),
        python_version=_get(env, "python-version"),
        requirements=_get(env, "requirements"),
        token=_get(env, "github-token"),
    )
    if inp.command not in COMMANDS:
        raise InputError(f"input `command` is {inp.command!r}: use one of {', '.join(COMMANDS)}")
    if not Path(inp.config).is_file():
        raise InputError(
            f"input `config`: {inp.config} not found — add the file (see the README's "
            "Configuration section) or point `config` at it"
        )
    if inp.requirements and not Path(inp.requirements).is_file():
        raise InputError(
            f"input `requirements`: {inp.requirements} not found — name a pip requirements "
            "file relative to the workspace (e.g. requirements-e2e.txt), or leave it empty"
        )
    if inp.shard:
        m = re.fullmatch(r"(\d+)/(\d+)", inp.shard)
        if not m or not 1 <= int(m[1]) <= int(m[2]):
            raise InputError(
                f"input `shard` is {inp.shard!r}: write K/N with 1 <= K <= N, e.g. 2/4"
            )
        if inp.command != "run":
            raise InputError("input `shard` needs `command: run` (merge the shards with `merge`)")
    if inp.results and Path(inp.results).is_dir():
        raise InputError(f"input `results`: {inp.results} is a directory; name a .json file")
    if inp.command == "merge":
        if not inp.shard_results:
            raise InputError(
                "input `shard-results` is empty: `command: merge` needs the shards' "
                "results.json files (globs allowed, e.g. shards/*/results.json)"
            )
        for name, value in (("suites", inp.suites), ("deploy", not inp.deploy)):
            if value:
                inp.warnings.append(f"input `{name}` is ignored by `command: merge`")
    elif inp.shard_results:
        inp.warnings.append("input `shard-results` is only read by `command: merge`")
    m = re.match(r"(?:cpython-?)?(\d+)\.(\d+)", inp.python_version)
    if m and (int(m[1]), int(m[2])) < MIN_PYTHON:
        raise InputError(
            f"input `python-version` is {inp.python_version}: the bot needs Python "
            f"{'.'.join(map(str, MIN_PYTHON))} or newer"
        )
    return inp


def _accepts(command: str, args: Sequence[str]) -> bool:
    """Does ``golden-path <command>`` take these arguments? (handle-event grows with the CLI.)"""
    import contextlib
    import io

    from bot.cli import build_parser

    with contextlib.redirect_stderr(io.StringIO()):
        try:
            _, extra = build_parser().parse_known_args([command, *args])
        except SystemExit:
            return False
    return not extra


def expand(patterns: Sequence[str]) -> list[str]:
    """Shard result files matching ``patterns`` (``**`` allowed), sorted, each once."""
    found: dict[str, None] = {}
    for pattern in patterns:
        for path in sorted(glob.glob(pattern, recursive=True)):
            if Path(path).is_file():
                found.setdefault(path, None)
    return list(found)


def build_argv(inp: ActionInputs) -> list[str]:
    """The ``golden-path`` arguments for these inputs."""
    if inp.command == "merge":
        files = expand(inp.shard_results)
        if not files:
            raise InputError(
                f"input `shard-results`: nothing matches {', '.join(inp.shard_results)} "
                "(did the shards upload their results, and the download step run?)"
            )
        argv = ["merge", *files, "--config", inp.config]
        if inp.results:
            argv += ["--out", inp.results]
        if inp.dry_run:
            argv.append("--dry-run")
        return argv
    argv = [inp.command, "--config", inp.config]
    if inp.dry_run:
        argv.append("--dry-run")
    wanted: list[tuple[str, list[str]]] = [
        ("--suite", [a for s in inp.suites for a in ("--suite", s)]),
        ("--no-deploy", [] if inp.deploy else ["--no-deploy"]),
        ("--shard", ["--shard", inp.shard] if inp.shard else []),
        ("--results", ["--results", inp.results] if inp.results else []),
    ]
    for option, args in wanted:
        if not args:
            continue
        if inp.command == "run" or _accepts(inp.command, args):
            argv += args
        else:
            name = {"--suite": "suites", "--no-deploy": "deploy"}.get(option, option[2:])
            inp.warnings.append(f"input `{name}` is not supported by `command: {inp.command}`")
    return argv


def _python_mismatch(requested: str) -> str:
    m = re.fullmatch(r"(\d+)\.(\d+)", requested)
    running = sys.version_info[:2]
    if m and (int(m[1]), int(m[2])) != running:
        return f"input `python-version` is {requested} but the bot runs on " + ".".join(
            map(str, running)
        )
    return ""


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> int:
    """``python -m bot.action [--check]``: validate the inputs, then run ``golden-path``."""
    from bot.publish.actions import GitHubActions

    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    actions = GitHubActions(env, stream)
    err = sys.stderr if stream is None else stream

    def fail(message: str) -> int:
        actions.annotate("error", message, title="golden-path action")
        if not actions.in_actions:
            err.write(f"golden-path action: error: {message}\n")
        return EXIT_USAGE

    try:
        inp = read_inputs(env)
        cli_argv = build_argv(inp) if "--check" not in args else []
    except InputError as exc:
        return fail(str(exc))
    if "--check" in args:
        return 0

    from bot.publish.actions import install_masks
    from bot.redact import register

    install_masks(actions)
    register(inp.token)
    for warning in [*inp.warnings, _python_mismatch(inp.python_version)]:
        if warning:
            actions.annotate("warning", warning, title="golden-path action")
    actions.stream.write(f"golden-path {shlex.join(cli_argv)}\n")
    actions.stream.flush()

    from bot.cli import main as cli_main

    return cli_main(cli_argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
