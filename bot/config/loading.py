"""Reading ``.github/golden-path.yml``: safe YAML with line numbers, then validation.

Every problem becomes a :class:`~bot.config.errors.ConfigError` whose text names the key, the
line and the fix; nothing from PyYAML or pydantic reaches the user unexplained.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config.errors import ConfigError, Loc
from bot.config.errors import show as _show
from bot.config.messages import prepare, raise_problems, translate
from bot.config.models import Config
from bot.duration import FILE_CONTEXT

DEFAULT_PATH = ".github/golden-path.yml"


def _is_extension(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("x-")


def _parse(data: Any, source: str, positions: Mapping[Loc, int] | None) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        message = (
            f"{source}: the top level must be a mapping (key: value lines such as "
            f"environment: staging), got {_show(data)}"
        )
        raise ConfigError(message, source=source)
    found: list[tuple[Loc, str]] = []
    # Top-level ``x-…`` keys are ignored (as in Compose and OpenAPI): a home for YAML anchors.
    data = {key: value for key, value in data.items() if not _is_extension(key)}
    clean = prepare(data, (), found)
    try:
        config = Config.model_validate(clean, context=FILE_CONTEXT)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            found.extend(translate(error))
    if found:
        raise_problems(source, found, positions)
    return config


def parse_config(data: Mapping[str, Any] | None, source: str = "<config>") -> Config:
    """Validate already-parsed config data (e.g. from YAML or a test) into a :class:`Config`.

    Same rules as a file: durations need units, secrets are refused, every problem reported.
    """
    return _parse(data, source, None)


# ------------------------------------------------------------------------------ YAML loading


class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys: PyYAML keeps the last one silently, which turns a
    second ``checks:`` block into a mysteriously ignored first one."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Any:
    seen: dict[tuple[str, str], yaml.Mark] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        ident = (key_node.tag, key_node.value)
        if ident in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {_show(key_node.value)} (first on line {seen[ident].line + 1}) "
                "— merge the two into one",
                key_node.start_mark,
            )
        seen[ident] = key_node.start_mark
    data: dict[Any, Any] = {}
    yield data
    data.update(loader.construct_mapping(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


#: Most values YAML aliases may add to a config. Anchors share settings between a handful of
#: checks; a few hundred bytes of nested aliases (an "alias bomb") expand to millions of
#: values, and every walk over the config (line numbers, validation) would pay for each.
MAX_ALIAS_EXPANSION = 10_000


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node, source: str, text: str) -> None:
    """Refuse a document whose aliases expand too far (or into themselves) before anything
    walks it expanded; this walk visits each composed node once, so it stays cheap."""
    distinct = 0
    stack = [root]
    seen = {id(root)}
    while stack:
        distinct += 1
        for child in _children(stack.pop()):
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    bound = distinct + MAX_ALIAS_EXPANSION
    size: dict[int, int] = {}  # node → value count once expanded (post-order)
    active: set[int] = set()  # nodes on the current path: meeting one again is a loop
    work: list[tuple[yaml.Node, bool]] = [(root, False)]
    while work:
        node, finished = work.pop()
        key = id(node)
        if finished:
            active.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            if size[key] > bound:
                raise _expansion_error(
                    source,
                    text,
                    node.start_mark,
                    f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION:,} values "
                    "(an alias bomb?)",
                    "Use fewer aliases, or write the values out: anchors are for sharing a few "
                    "settings between checks.",
                )
            continue
        if key in size:
            continue
        if key in active:
            raise _expansion_error(
                source,
                text,
                node.start_mark,
                "this anchor contains itself through an alias",
                "Use the alias only outside the anchored value: a config cannot be infinite.",
            )
        active.add(key)
        work.append((node, True))
        work.extend((child, False) for child in _children(node) if id(child) not in size)


def _expansion_error(
    source: str, text: str, mark: yaml.Mark, problem: str, fix: str
) -> ConfigError:
    headline = f"{source}:{mark.line + 1}:{mark.column + 1}: {problem}"
    lines = [headline]
    source_lines = text.splitlines()
    if 0 <= mark.line < len(source_lines):
        lines.append("    " + source_lines[mark.line][:200])
    lines.append(fix)
    return ConfigError("\n".join(lines), [headline], source=source, lines=[mark.line + 1])


def _positions(node: yaml.Node | None, loc: Loc = (), out: dict[Loc, int] | None = None) -> dict:
    """Key path → 1-based line, so each problem can say where it is."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                out.setdefault((*loc, key_node.value), key_node.start_mark.line + 1)
                _positions(value_node, (*loc, key_node.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[(*loc, index)] = item.start_mark.line + 1
            _positions(item, (*loc, index), out)
    return out


def _yaml_error(source: str, text: str, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context and problem.startswith("but "):
        problem = f"{context}, {problem}"
    elif context and "duplicate" not in problem:
        problem = f"{problem} ({context})"
    if mark is None:
        headline = f"{source}: invalid YAML — {problem}"
        return ConfigError(headline, [headline], source=source)
    headline = f"{source}:{mark.line + 1}:{mark.column + 1}: invalid YAML — {problem}"
    lines = [headline]
    source_lines = text.splitlines()
    if 0 <= mark.line < len(source_lines):
        lines += ["    " + source_lines[mark.line], "    " + " " * mark.column + "^"]
    if "duplicate" not in problem:
        lines.append(
            "Check indentation (spaces, not tabs) and quoting on that line or the one before; "
            "quote values that contain ': ' or ' #'."
        )
    return ConfigError("\n".join(lines), [headline], source=source, lines=[mark.line + 1])


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, parse and validate a config file; any problem is a :class:`ConfigError`.

    An empty file (or one with only comments) is valid and means "all defaults".
    """
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{source}: config file not found — create it (every key is optional; an empty file "
            "uses the defaults), or pass --config PATH",
            source=source,
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{source}: is a directory — pass the YAML file, e.g. --config {DEFAULT_PATH}",
            source=source,
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{source}: not UTF-8 text (bad byte at offset {exc.start}) — save it as UTF-8",
            source=source,
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{source}: cannot be read ({exc.strerror or exc}) — check the path and permissions",
            source=source,
        ) from None

    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, source, text)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(source, text, exc) from None
    finally:
        loader.dispose()
    return _parse(data, source, _positions(node))
